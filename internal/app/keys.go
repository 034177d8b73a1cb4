package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/keys"
	"github.com/bulwark-shop/bulwark/internal/logging"
	"github.com/bulwark-shop/bulwark/internal/rekey"
	"github.com/bulwark-shop/bulwark/internal/store"
)

// kekConfig is where the settings say the key-encryption key comes from.
func kekConfig(cfg config.Config) keys.KEKConfig {
	return keys.KEKConfig{Secret: cfg.KEK, NewSecret: cfg.NewKEK, PKCS11: keys.PKCS11{
		Module: cfg.KEKPKCS11Module, Token: cfg.KEKPKCS11Token, PIN: cfg.KEKPKCS11PIN, Key: cfg.KEKPKCS11Key,
	}}
}

// openKeyring opens the keyring and records in the trail a KEK made at this start.
func (a *App) openKeyring(ctx context.Context) (err error) {
	a.keyring, err = openKeyringAudited(ctx, a.cfg, a.Trail)
	return err
}

// openKeyringAudited opens the keyring of cfg, recording in trail the KEK's
// creation when opening made it (the first start, or a command run before it).
func openKeyringAudited(ctx context.Context, cfg config.Config, trail *audit.Trail) (*keys.Keyring, error) {
	ring, err := keys.OpenKeyringWith(cfg.DataDir, kekConfig(cfg))
	if err != nil {
		return nil, err
	}
	if ring.KEKCreated() {
		if err := trail.Record(ctx, audit.ActionKEKCreate, ring.KEKStatus().Source, audit.Success, "key-encryption key made at first use"); err != nil {
			ring.Close()
			return nil, err
		}
	}
	return ring, nil
}

// dataKeyset returns the data keyset called name, recording in the trail its
// creation when this call makes it.
func (a *App) dataKeyset(ctx context.Context, name string) (*keys.Live, error) {
	made := !a.keyring.Has(name)
	aead, err := a.keyring.AEAD(name)
	if err != nil {
		return nil, err
	}
	return aead, a.auditKeysetMade(ctx, name, made)
}

// prfKeyset returns the PRF keyset called name (blind indexes, card
// fingerprints), recording in the trail its creation when this call makes it.
func (a *App) prfKeyset(ctx context.Context, name string) (*keys.LivePRF, error) {
	made := !a.keyring.Has(name)
	set, err := a.keyring.PRF(name)
	if err != nil {
		return nil, err
	}
	return set, a.auditKeysetMade(ctx, name, made)
}

// macKeyset returns the MAC keyset called name, recording in the trail its
// creation when this call makes it.
func (a *App) macKeyset(ctx context.Context, name string) (*keys.LiveMAC, error) {
	made := !a.keyring.Has(name)
	set, err := a.keyring.MAC(name)
	if err != nil {
		return nil, err
	}
	return set, a.auditKeysetMade(ctx, name, made)
}

func (a *App) auditKeysetMade(ctx context.Context, name string, made bool) error {
	if !made {
		return nil
	}
	return a.Trail.Record(ctx, audit.ActionKeysetCreate, name, audit.Success, "data keyset made, under the KEK from "+a.keyring.KEKStatus().Source)
}

// keysRotateKEK re-wraps every data keyset under a new KEK version, audited.
func keysRotateKEK(ctx context.Context, args []string, env Env) error {
	return withMigratedDB(ctx, "keys rotate-kek", args, env, func(cfg config.Config, db *store.DB) error {
		if err := checkKeysetsServe(ctx, cfg, db); err != nil {
			return err
		}
		trail := audit.NewTrail(db, env.Now)
		ring, err := openKeyringAudited(ctx, cfg, trail)
		if err != nil {
			return err
		}
		defer ring.Close()
		source := ring.KEKStatus().Source
		r, err := ring.RotateKEK()
		if err != nil {
			detail := fmt.Sprintf("stopped after re-wrapping %d keyset(s) [%s]; every keyset opens under the earlier or the new KEK version: run it again", len(r.Keysets), strings.Join(r.Keysets, " "))
			if aerr := trail.Record(ctx, audit.ActionKEKRotate, source, audit.Failure, detail); aerr != nil {
				return fmt.Errorf("%w (and %w)", err, aerr)
			}
			return err
		}
		detail := fmt.Sprintf("re-wrapped %d keyset(s) [%s]; %s", len(r.Keysets), strings.Join(r.Keysets, " "), r.Note)
		if err := trail.Record(ctx, audit.ActionKEKRotate, ring.KEKStatus().Source, audit.Success, detail); err != nil {
			return fmt.Errorf("the KEK was rotated, but recording it failed: %w", err)
		}
		fmt.Fprintf(env.Stdout, "key-encryption key rotated: %s\n", ring.KEKStatus().Source)
		for _, name := range r.Keysets {
			fmt.Fprintf(env.Stdout, "  re-wrapped %s\n", name)
		}
		fmt.Fprintln(env.Stdout, r.Note)
		return nil
	})
}

// printKEKStatus writes the KEK's source and age, never its value.
func printKEKStatus(env Env, st keys.KEKStatus) {
	fmt.Fprintf(env.Stdout, "key-encryption key: %s\n", st.Source)
	if !st.Created.IsZero() {
		fmt.Fprintf(env.Stdout, "kek current version since %s (%s ago)\n", st.Created.Format(time.RFC3339), env.Now().Sub(st.Created).Round(time.Second))
	} else {
		fmt.Fprintln(env.Stdout, "kek age unknown: it is kept outside Bulwark")
	}
	if st.Pending {
		fmt.Fprintln(env.Stdout, "kek rotation UNFINISHED: run `bulwark keys rotate-kek` again (every keyset still opens)")
	}
}

// bindKeysets records in the data directory the shop database (and the
// embedded vault's) that its keysets serve, or refuses a database they do
// not serve (keys.ErrOtherDatabase).
func (a *App) bindKeysets(ctx context.Context) error {
	shopID, err := a.DB.Identity(ctx)
	if err != nil {
		return err
	}
	if err := keys.BindDatabase(a.cfg.DataDir, keys.RoleShop, shopID); err != nil {
		return err
	}
	if a.VaultDB == nil {
		return nil
	}
	vaultID, err := a.VaultDB.Identity(ctx)
	if err != nil {
		return err
	}
	return keys.BindDatabase(a.cfg.DataDir, keys.RoleVault, vaultID)
}

// checkKeysetsServe refuses a key command on a shop database that the data
// directory's keysets do not serve. It writes nothing.
func checkKeysetsServe(ctx context.Context, cfg config.Config, db *store.DB) error {
	shopID, err := db.KnownIdentity(ctx)
	if err != nil {
		return err
	}
	return keys.CheckDatabase(cfg.DataDir, keys.RoleShop, shopID)
}

// The parts a key plays in its keyset.
const (
	keyPrimary     = "primary"      // encrypts, and decrypts
	keyDecryptOnly = "decrypt_only" // retired: decrypts what it encrypted
	keyDisabled    = "disabled"
)

// keyRole is k's part in its keyset, as `keys status` and GET
// /api/v1/admin/keys say it.
func keyRole(k keys.KeyStatus) string {
	switch {
	case k.Primary:
		return keyPrimary
	case !k.Enabled:
		return keyDisabled
	default:
		return keyDecryptOnly
	}
}

// reencryptionOf says where the re-encryption of st's rows under its
// primary key stands, in a sentence.
func reencryptionOf(ctx context.Context, db *store.DB, st keys.Status) string {
	p, err := db.ReencryptionProgress(ctx, st.Name)
	switch {
	case errors.Is(err, rekey.ErrNoProgress):
		return "no pass yet (a running server starts one)"
	case err != nil: // a database not migrated yet, say
		return fmt.Sprintf("unknown (%s)", logging.Scrub(err.Error()))
	case p.Primary != st.PrimaryID:
		return fmt.Sprintf("pending (last pass was for key %d; a running server starts the next)", p.Primary)
	case p.Done:
		return fmt.Sprintf("done, every ciphertext is under key %d (%d batches, finished %s)", p.Primary, p.Batches, p.Updated.Format(time.RFC3339))
	default:
		return fmt.Sprintf("in progress under key %d, %d batches, up to row %q (updated %s)", p.Primary, p.Batches, p.Cursor, p.Updated.Format(time.RFC3339))
	}
}

// KeyStatus is GET /api/v1/admin/keys: the KEK's source and age, each data
// keyset's keys and re-encryption. No key material.
func (a *App) KeyStatus(ctx context.Context) (any, error) {
	type key struct {
		ID        uint32     `json:"id"`
		Role      string     `json:"role"`
		CreatedAt *time.Time `json:"created_at,omitempty"`
	}
	type keyset struct {
		Name         string    `json:"name"`
		Keys         int       `json:"keys"`
		PrimaryID    uint32    `json:"primary_id"`
		Wrapped      bool      `json:"wrapped"`
		WrittenAt    time.Time `json:"written_at"`
		KeyList      []key     `json:"key_list"`
		Reencryption string    `json:"reencryption"`
	}
	type kek struct {
		Source          string     `json:"source"`
		CreatedAt       *time.Time `json:"created_at,omitempty"`
		Versions        int        `json:"versions"`
		RotationPending bool       `json:"rotation_pending"`
	}
	_, sts, err := a.keyring.Status(dataKeysetsOf(a.cfg)...)
	if err != nil {
		return nil, fmt.Errorf("keys status: %w", err)
	}
	stamp := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		u := t.UTC()
		return &u
	}
	ks := a.keyring.KEKStatus()
	out := struct {
		KEK     kek      `json:"kek"`
		Keysets []keyset `json:"keysets"`
	}{KEK: kek{Source: ks.Source, CreatedAt: stamp(ks.Created), Versions: ks.Versions, RotationPending: ks.Pending}, Keysets: []keyset{}}
	for _, st := range sts {
		set := keyset{Name: st.Name, Keys: st.Keys, PrimaryID: st.PrimaryID, Wrapped: st.Wrapped, WrittenAt: st.Written.UTC(),
			KeyList: []key{}, Reencryption: reencryptionOf(ctx, a.DB, st)}
		for _, k := range st.KeyList {
			set.KeyList = append(set.KeyList, key{ID: k.ID, Role: keyRole(k), CreatedAt: stamp(k.Created)})
		}
		out.Keysets = append(out.Keysets, set)
	}
	return out, nil
}

// StaffAccounts is GET /api/v1/admin/staff: every account holding a staff
// role, with its roles, whether it has a second factor and when it was last
// active (posture's staff checks read the same list). Ids, not emails: the
// roles form takes the id.
func (a *App) StaffAccounts(ctx context.Context) (any, error) {
	type account struct {
		ID           string    `json:"id"`
		Roles        []string  `json:"roles"`
		MFA          bool      `json:"mfa"`
		LastActiveAt time.Time `json:"last_active_at"`
	}
	staff, err := a.DB.StaffAccounts(ctx)
	if err != nil {
		return nil, err
	}
	out := struct {
		Items []account `json:"items"`
	}{Items: []account{}}
	for _, s := range staff {
		out.Items = append(out.Items, account{ID: s.ID, Roles: s.Roles, MFA: s.MFA, LastActiveAt: s.LastActive.UTC()})
	}
	return out, nil
}
