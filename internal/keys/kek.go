package keys

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// KEKConfig chooses where the key-encryption key comes from: a PKCS#11 HSM
// when PKCS11.Module is set, a secret when Secret is set, otherwise the local
// file data-dir/kek-keyset.json. Choosing two is an error.
type KEKConfig struct {
	// Secret is the KEK as a Tink JSON keyset (setting kek).
	Secret string
	// NewSecret is the next secret KEK (setting new-kek): while it is set,
	// keysets are written under it and open under either.
	NewSecret string
	PKCS11    PKCS11
}

// InFile reports whether the KEK is the local file data-dir/kek-keyset.json
// (neither a secret nor an HSM is configured).
func (c KEKConfig) InFile() bool { return c.PKCS11.Module == "" && c.Secret == "" }

// KEKFileExists reports whether dataDir holds the file KEK, without making it.
func KEKFileExists(dataDir string) bool {
	_, err := os.Stat(filepath.Join(dataDir, KEKFile))
	return err == nil
}

// KEKStatus describes the KEK without revealing it.
type KEKStatus struct {
	Source  string    // where it comes from, e.g. `file kek-keyset.json`
	Created time.Time // when the current version was made; zero when unknown
	// Versions is the file KEK's number of keys (2 or more mid-rotation), or the
	// HSM KEK's version number (1 for the configured label, 2 for -v2, ...).
	Versions int
	Pending  bool // a rotation was started and not finished
}

// kekProvider is one source of the KEK. Rotation is begin (a new version that
// wraps, while every earlier version still unwraps), re-wrap every keyset,
// then commit (the new version alone is current).
type kekProvider interface {
	aead() (tink.AEAD, error)
	begin() (tink.AEAD, error)
	commit() (note string, err error)
	status() KEKStatus
	created() bool
	close() error
}

// OpenKeyringWith returns the keyring of dataDir under the KEK kek chooses.
// Errors name the source and never hold a secret. Close releases an HSM.
func OpenKeyringWith(dataDir string, kek KEKConfig) (*Keyring, error) {
	var p kekProvider
	var err error
	switch {
	case kek.PKCS11.Module != "" && (kek.Secret != "" || kek.NewSecret != ""):
		return nil, errors.New("kek: choose one source: kek (a secret) or kek-pkcs11-module (an HSM), not both")
	case kek.PKCS11.Module != "":
		if kek.PKCS11.Key == "" {
			kek.PKCS11.Key = DefaultPKCS11Key
		}
		if p, err = openPKCS11(dataDir, kek.PKCS11); err != nil {
			return nil, fmt.Errorf("kek: %w", err)
		}
	case kek.Secret != "":
		if p, err = openSecret(kek.Secret, kek.NewSecret); err != nil {
			return nil, err
		}
	case kek.NewSecret != "":
		return nil, errors.New("kek: new-kek is the next secret KEK; it needs kek, the current one")
	default:
		if p, err = openFileKEK(dataDir); err != nil {
			return nil, fmt.Errorf("kek: %w", err)
		}
	}
	a, err := p.aead()
	if err != nil {
		p.close()
		return nil, fmt.Errorf("kek: %w", err)
	}
	return &Keyring{kek: a, dir: dataDir, source: p.status().Source, provider: p}, nil
}

// Close releases the KEK's resources (the HSM session).
func (k *Keyring) Close() error {
	if k.provider == nil {
		return nil
	}
	return k.provider.close()
}

// KEKStatus describes the KEK.
func (k *Keyring) KEKStatus() KEKStatus { return k.provider.status() }

// KEKCreated reports whether opening the keyring made the KEK (first start).
func (k *Keyring) KEKCreated() bool { return k.provider.created() }

// Has reports whether the data keyset called name exists.
func (k *Keyring) Has(name string) bool {
	_, err := os.Stat(k.path(name))
	return err == nil
}

// rotatingAEAD encrypts under the newest KEK and decrypts under any, for the
// time of a rotation.
type rotatingAEAD struct {
	enc tink.AEAD
	dec []tink.AEAD
}

func (r *rotatingAEAD) Encrypt(pt, ad []byte) ([]byte, error) { return r.enc.Encrypt(pt, ad) }

func (r *rotatingAEAD) Decrypt(ct, ad []byte) ([]byte, error) {
	var errs []error
	for _, a := range r.dec {
		pt, err := a.Decrypt(ct, ad)
		if err == nil {
			return pt, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("no KEK version opens it: %w", errors.Join(errs...))
}

// secretProvider is a KEK given as a secret setting; rotation moves to the
// secret new-kek, and the operator then makes it kek.
type secretProvider struct {
	cur, next tink.AEAD
}

func parseSecretKEK(name, secret string) (tink.AEAD, error) {
	h, err := insecurecleartextkeyset.Read(keyset.NewJSONReader(strings.NewReader(secret)))
	if err != nil {
		return nil, fmt.Errorf("%s: not a Tink JSON keyset", name) // the parser's message might quote the secret
	}
	a, err := aead.New(h)
	if err != nil {
		return nil, fmt.Errorf("%s: not an AEAD keyset", name)
	}
	return a, nil
}

func openSecret(secret, next string) (*secretProvider, error) {
	p := &secretProvider{}
	var err error
	if p.cur, err = parseSecretKEK("kek", secret); err != nil {
		return nil, err
	}
	if next != "" {
		if p.next, err = parseSecretKEK("new-kek", next); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *secretProvider) aead() (tink.AEAD, error) {
	if p.next == nil {
		return p.cur, nil
	}
	return &rotatingAEAD{enc: p.next, dec: []tink.AEAD{p.next, p.cur}}, nil
}

func (p *secretProvider) begin() (tink.AEAD, error) {
	if p.next == nil {
		return nil, errors.New("rotate the secret KEK: set new-kek (BULWARK_NEW_KEK or --new-kek-file) to the next KEK")
	}
	return p.aead()
}

func (p *secretProvider) commit() (string, error) {
	return "every keyset is now under new-kek: set kek to it and remove new-kek before the next start", nil
}

func (p *secretProvider) status() KEKStatus {
	s := KEKStatus{Source: "secret"}
	if p.next != nil {
		s.Source, s.Pending = "secret (new-kek set: keysets are written under it)", true
	}
	return s
}

func (p *secretProvider) created() bool { return false }
func (p *secretProvider) close() error  { return nil }

// fileProvider is the KEK in data-dir/kek-keyset.json, a Tink keyset whose
// primary key wraps; a rotation adds a new primary and, once every data
// keyset is re-wrapped, deletes the earlier keys.
type fileProvider struct {
	path string
	made bool
}

func openFileKEK(dir string) (*fileProvider, error) {
	path := filepath.Join(dir, KEKFile)
	_, err := os.Stat(path)
	p := &fileProvider{path: path, made: errors.Is(err, fs.ErrNotExist)}
	if _, err := LoadOrCreateAEAD(path); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *fileProvider) handle() (*keyset.Handle, error) {
	info, err := os.Stat(p.path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", KEKFile, err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("keyset %s has mode %v: it must be readable by its owner only (chmod 600)", p.path, info.Mode().Perm())
	}
	b, err := os.ReadFile(p.path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", KEKFile, err)
	}
	h, err := insecurecleartextkeyset.Read(keyset.NewJSONReader(bytes.NewReader(b)))
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", KEKFile, err)
	}
	return h, nil
}

func (p *fileProvider) save(h *keyset.Handle) error {
	var buf bytes.Buffer
	if err := insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(&buf)); err != nil {
		return fmt.Errorf("encode %s: %w", KEKFile, err)
	}
	return writeFileAtomic(p.path, buf.Bytes())
}

func (p *fileProvider) aead() (tink.AEAD, error) {
	h, err := p.handle()
	if err != nil {
		return nil, err
	}
	return aead.New(h)
}

func (p *fileProvider) begin() (tink.AEAD, error) {
	h, err := p.handle()
	if err != nil {
		return nil, err
	}
	if len(h.KeysetInfo().GetKeyInfo()) > 1 {
		// A rotation stopped midway: its new version is the primary already.
		return aead.New(h)
	}
	m := keyset.NewManagerFromHandle(h)
	id, err := m.Add(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("add a KEK version: %w", err)
	}
	if err := m.SetPrimary(id); err != nil {
		return nil, fmt.Errorf("add a KEK version: %w", err)
	}
	if h, err = m.Handle(); err != nil {
		return nil, fmt.Errorf("add a KEK version: %w", err)
	}
	// Recorded before any keyset is re-wrapped: the earlier keys stay in the
	// file, so every keyset opens whichever KEK version wraps it.
	if err := p.save(h); err != nil {
		return nil, err
	}
	return aead.New(h)
}

func (p *fileProvider) commit() (string, error) {
	h, err := p.handle()
	if err != nil {
		return "", err
	}
	m := keyset.NewManagerFromHandle(h)
	primary := h.KeysetInfo().GetPrimaryKeyId()
	removed := 0
	for _, ki := range h.KeysetInfo().GetKeyInfo() {
		if ki.GetKeyId() != primary {
			if err := m.Delete(ki.GetKeyId()); err != nil {
				return "", fmt.Errorf("delete an earlier KEK version: %w", err)
			}
			removed++
		}
	}
	if h, err = m.Handle(); err != nil {
		return "", fmt.Errorf("delete an earlier KEK version: %w", err)
	}
	if err := p.save(h); err != nil {
		return "", err
	}
	return fmt.Sprintf("KEK key %d is now primary in %s; %d earlier key(s) destroyed", primary, KEKFile, removed), nil
}

func (p *fileProvider) status() KEKStatus {
	s := KEKStatus{Source: "file " + KEKFile}
	if h, err := p.handle(); err == nil {
		s.Versions = len(h.KeysetInfo().GetKeyInfo())
		s.Pending = s.Versions > 1
	}
	if info, err := os.Stat(p.path); err == nil {
		s.Created = info.ModTime().UTC()
	}
	return s
}

func (p *fileProvider) created() bool { return p.made }
func (p *fileProvider) close() error  { return nil }

// WrapUnderKEK encrypts pt under the KEK itself, not a data keyset: for key
// material that must open with the KEK alone, where no data keyset is at
// hand (a backup's identity, read on a machine being rebuilt).
func (k *Keyring) WrapUnderKEK(pt, ad []byte) ([]byte, error) {
	ct, err := k.currentKEK().Encrypt(pt, ad)
	if err != nil {
		return nil, fmt.Errorf("kek: wrap: %w", err)
	}
	return ct, nil
}

// UnwrapUnderKEK opens what WrapUnderKEK sealed, under the KEK in memory or,
// failing that, the KEK read afresh (another process may have rotated it).
func (k *Keyring) UnwrapUnderKEK(ct, ad []byte) ([]byte, error) {
	pt, err := k.currentKEK().Decrypt(ct, ad)
	if err == nil {
		return pt, nil
	}
	fresh, ferr := k.provider.aead()
	if ferr != nil {
		return nil, fmt.Errorf("kek: unwrap: %w", err)
	}
	if pt, ferr = fresh.Decrypt(ct, ad); ferr != nil {
		return nil, fmt.Errorf("kek: unwrap: %w", err)
	}
	return pt, nil
}
