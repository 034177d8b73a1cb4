package backup_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/bulwark-shop/bulwark/internal/backup"
	"github.com/bulwark-shop/bulwark/internal/id"
)

// testKeys signs with a fresh Ed25519 key; its "wrap" only binds the
// associated data (the KEK's encryption is keys.Keyring's, tested there):
// here the backup's plumbing is under test.
func testKeys(t *testing.T) backup.Keys {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	wrap := func(pt, ad []byte) ([]byte, error) { return append(append([]byte{}, ad...), pt...), nil }
	unwrap := func(ct, ad []byte) ([]byte, error) {
		if !bytes.HasPrefix(ct, ad) {
			return nil, errors.New("wrong associated data")
		}
		return ct[len(ad):], nil
	}
	return backup.Keys{
		Sign:   func(msg []byte) ([]byte, error) { return ed25519.Sign(priv, msg), nil },
		Verify: func(msg, sig []byte) bool { return ed25519.Verify(pub, msg, sig) },
		Wrap:   wrap, Unwrap: unwrap,
	}
}

func target(t *testing.T, dir string) backup.Target {
	tg, err := backup.ParseTarget("file://"+dir+"?retention=48h", 0)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func makeBackup(t *testing.T, keys backup.Keys, targets []backup.Target, now time.Time, extra ...age.Recipient) backup.Manifest {
	t.Helper()
	src := t.TempDir()
	shop := filepath.Join(src, "shop.db")
	if err := os.WriteFile(shop, bytes.Repeat([]byte("shop rows "), 10000), 0o600); err != nil {
		t.Fatal(err)
	}
	keyset := filepath.Join(src, "pii-keyset.json")
	if err := os.WriteFile(keyset, []byte(`{"wrapped":"under the KEK"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range extra {
		names = append(names, r.(*age.X25519Recipient).String())
	}
	m, placed, err := backup.Create(context.Background(), backup.Spec{
		ID: id.New(id.Backup), Instance: "test", Engine: "sqlite", Now: now, Staging: t.TempDir(),
		Sources:    []backup.Source{{Name: "shop.db", Path: shop, Rows: map[string]int64{"orders": 3}}, {Name: "pii-keyset.json", Path: keyset}},
		Recipients: extra, RecipientNames: names,
	}, keys, targets)
	if err != nil {
		t.Fatalf("create: %v %+v", err, placed)
	}
	return m
}

func TestCreateListRestore(t *testing.T) {
	ctx := context.Background()
	keys := testKeys(t)
	a, b := target(t, t.TempDir()), target(t, t.TempDir())
	operator, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	m := makeBackup(t, keys, []backup.Target{a, b}, time.Now(), operator.Recipient())
	if len(m.Recipients) != 2 || m.Files[0].Rows["orders"] != 3 {
		t.Fatalf("manifest %+v", m)
	}
	for _, tg := range []backup.Target{a, b} {
		listed, err := backup.List(ctx, tg, keys.Verify)
		if err != nil || len(listed) != 1 || listed[0].Err != nil || listed[0].ID != m.ID {
			t.Fatalf("list %s: %+v %v", tg.Name(), listed, err)
		}
	}
	// The payload holds no file in the clear.
	raw, err := os.ReadFile(filepath.Join(strings.TrimPrefix(a.Name(), "file://"), m.ID, backup.PayloadObject))
	if err != nil || bytes.Contains(raw, []byte("shop rows")) || bytes.Contains(raw, []byte("under the KEK")) {
		t.Fatalf("payload in the clear? %v", err)
	}
	// The shop opens it with the KEK; the operator with their own key alone.
	ids, err := backup.Identities(m, keys)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := backup.Restore(ctx, a, m, ids, dir); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "pii-keyset.json")); string(got) != `{"wrapped":"under the KEK"}` {
		t.Fatalf("restored %q", got)
	}
	if err := backup.Check(ctx, b, m, []age.Identity{operator}); err != nil {
		t.Fatalf("the operator's key: %v", err)
	}
	// Restoring over existing files is refused.
	if err := backup.Restore(ctx, a, m, ids, dir); err == nil {
		t.Fatal("restore over existing files went through")
	}
}

func TestWrongKeyAndCorruptionFailLoudly(t *testing.T) {
	ctx := context.Background()
	keys := testKeys(t)
	dir := t.TempDir()
	tg := target(t, dir)
	m := makeBackup(t, keys, []backup.Target{tg}, time.Now())
	stranger, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	if err := backup.Check(ctx, tg, m, []age.Identity{stranger}); !errors.Is(err, backup.ErrNoKey) {
		t.Fatalf("a stranger's key: %v", err)
	}
	// Another shop's KEK does not unwrap the identity.
	other := testKeys(t)
	other.Unwrap = func([]byte, []byte) ([]byte, error) { return nil, errors.New("not our KEK") }
	if _, err := backup.Identities(m, other); err == nil {
		t.Fatal("a foreign KEK unwrapped the identity")
	}
	// Another shop's signing key does not verify the manifest.
	if _, err := backup.Fetch(ctx, tg, m.ID, other.Verify); !errors.Is(err, backup.ErrBadSignature) {
		t.Fatalf("foreign signature: %v", err)
	}
	ids, err := backup.Identities(m, keys)
	if err != nil {
		t.Fatal(err)
	}
	payload := filepath.Join(dir, m.ID, backup.PayloadObject)
	raw, err := os.ReadFile(payload)
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string][]byte{
		"one byte flipped": func() []byte { c := bytes.Clone(raw); c[len(c)/2] ^= 1; return c }(),
		"truncated":        raw[:len(raw)-100],
		"extended":         append(bytes.Clone(raw), 0),
	} {
		if err := os.WriteFile(payload, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := backup.Check(ctx, tg, m, ids); !errors.Is(err, backup.ErrPayloadMismatch) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// An edited manifest does not verify.
	mpath := filepath.Join(dir, m.ID, backup.ManifestObject)
	mraw, err := os.ReadFile(mpath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mpath, bytes.Replace(mraw, []byte(`"orders":3`), []byte(`"orders":4`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Fetch(ctx, tg, m.ID, keys.Verify); !errors.Is(err, backup.ErrCorrupt) && !errors.Is(err, backup.ErrBadSignature) {
		t.Fatalf("edited manifest: %v", err)
	}
}

func TestPruneKeepsTheNewest(t *testing.T) {
	ctx := context.Background()
	keys := testKeys(t)
	tg := target(t, t.TempDir())
	now := time.Now()
	old1 := makeBackup(t, keys, []backup.Target{tg}, now.Add(-96*time.Hour))
	old2 := makeBackup(t, keys, []backup.Target{tg}, now.Add(-72*time.Hour))
	pr, err := backup.Prune(ctx, tg, keys.Verify, now)
	if err != nil || len(pr.Deleted) != 1 || pr.Deleted[0] != old1.ID {
		t.Fatalf("prune with two old backups: %+v %v (the newest, %s, stays)", pr, err, old2.ID)
	}
	fresh := makeBackup(t, keys, []backup.Target{tg}, now)
	pr, err = backup.Prune(ctx, tg, keys.Verify, now)
	if err != nil || len(pr.Deleted) != 1 || pr.Deleted[0] != old2.ID {
		t.Fatalf("prune: %+v %v", pr, err)
	}
	listed, _ := backup.List(ctx, tg, keys.Verify)
	if len(listed) != 1 || listed[0].ID != fresh.ID {
		t.Fatalf("left: %+v", listed)
	}
}

func TestParseTargets(t *testing.T) {
	for _, bad := range []string{"http://x/y", "file://host/x", "file:///", "file://relative", "file:///a?x=1", "file:///a?retention=-1h",
		"s3://key:secret@bucket/x", "file:///a,file:///a"} {
		if _, err := backup.ParseTargets(bad, 0); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	ts, err := backup.ParseTargets("file:///var/backups/a?retention=72h, file:///mnt/b", 24*time.Hour)
	if err != nil || len(ts) != 2 || ts[0].Retention() != 72*time.Hour || ts[1].Retention() != 24*time.Hour {
		t.Fatalf("%+v %v", ts, err)
	}
	if _, _, err := backup.ParseRecipients("age1notakey"); err == nil {
		t.Error("a bad recipient accepted")
	}
}

// FuzzBackupManifestDecode: whatever a target holds, Decode refuses it or
// returns a manifest that passes its own checks, and never panics.
func FuzzBackupManifestDecode(f *testing.F) {
	keys := testKeys(&testing.T{})
	m := backup.Manifest{Version: 1, ID: "bkp_" + strings.Repeat("a", 26), Engine: "sqlite", Files: []backup.File{{Name: "shop.db", Size: 1, SHA256: strings.Repeat("0", 64)}},
		Recipients: []string{"age1x"}, Identity: []byte{1}, Payload: backup.Blob{Size: 1, SHA256: strings.Repeat("0", 64)}}
	raw, err := backup.Encode(m, keys.Sign)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add([]byte(`{"manifest":{},"signature":"AA=="}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := backup.Decode(b, func([]byte, []byte) bool { return true })
		if err == nil && (got.Version != 1 || len(got.Files) == 0 || !backup.IDPattern.MatchString(got.ID)) {
			t.Fatalf("accepted %+v", got)
		}
	})
}

func TestErasureLedger(t *testing.T) {
	ctx := context.Background()
	tg := target(t, t.TempDir())
	u := id.New(id.User)
	for range 2 { // a second put of the same entry is success
		if err := backup.PutErasure(ctx, tg, u, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := backup.PutErasure(ctx, tg, "../../etc/passwd", time.Now()); err == nil {
		t.Fatal("a path accepted as an account id")
	}
	makeBackup(t, testKeys(t), []backup.Target{tg}, time.Now()) // backups beside the ledger are not entries
	got, err := backup.Erasures(ctx, tg)
	if err != nil || len(got) != 1 || got[0] != u {
		t.Fatalf("ledger %v %v", got, err)
	}
}
