// Package keys owns Bulwark's data keys: Tink keysets, one per purpose (the card
// vault, MFA secrets), each in a file of its own readable by its owner only and
// encrypted under a key-encryption key (KEK). The KEK comes from a local file, a
// secret, or a PKCS#11 HSM whose key never leaves it (kek.go, pkcs11.go), and
// rotates without touching data: RotateKEK re-wraps every keyset, crash safe
// (rotate.go).
package keys

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// LoadOrCreateAEAD returns the AEAD of the Tink keyset at path, creating an
// AES-256-GCM keyset there (mode 0600) when there is none. A keyset file that
// others can read is refused.
func LoadOrCreateAEAD(path string) (tink.AEAD, error) {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := createKeyset(path); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("keyset: %w", err)
	case info.Mode().Perm()&0o077 != 0:
		return nil, fmt.Errorf("keyset %s has mode %v: it must be readable by its owner only (chmod 600)", path, info.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read keyset: %w", err)
	}
	h, err := insecurecleartextkeyset.Read(keyset.NewJSONReader(bytes.NewReader(b)))
	if err != nil {
		return nil, fmt.Errorf("parse keyset %s: %w", path, err)
	}
	a, err := aead.New(h)
	if err != nil {
		return nil, fmt.Errorf("keyset %s: %w", path, err)
	}
	return a, nil
}

func createKeyset(path string) error {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return fmt.Errorf("generate keyset: %w", err)
	}
	var buf bytes.Buffer
	if err := insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(&buf)); err != nil {
		return fmt.Errorf("encode keyset: %w", err)
	}
	// Written to a temporary file and linked into place, so an instance starting
	// at the same moment sees either no keyset or a whole one, never a part, and
	// neither overwrites the other's.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".keyset-*")
	if err != nil {
		return fmt.Errorf("create keyset: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("create keyset: %w", err)
	}
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("write keyset: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync keyset: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write keyset: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("install keyset: %w", err)
	}
	return nil
}
