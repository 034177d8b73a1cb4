package vault

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

// LoadOrCreateKeyset returns the AEAD of the Tink keyset at path, creating an
// AES-256-GCM keyset there (mode 0600) when there is none. The keyset is kept in
// the clear in this version; wrapping it with a key-encryption key comes with
// key management. A keyset file that others can read is refused.
func LoadOrCreateKeyset(path string) (tink.AEAD, error) {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := createKeyset(path); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("vault keyset: %w", err)
	case info.Mode().Perm()&0o077 != 0:
		return nil, fmt.Errorf("vault keyset %s has mode %v: it must be readable by its owner only (chmod 600)", path, info.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read vault keyset: %w", err)
	}
	h, err := insecurecleartextkeyset.Read(keyset.NewJSONReader(bytes.NewReader(b)))
	if err != nil {
		return nil, fmt.Errorf("parse vault keyset %s: %w", path, err)
	}
	a, err := aead.New(h)
	if err != nil {
		return nil, fmt.Errorf("vault keyset %s: %w", path, err)
	}
	return a, nil
}

func createKeyset(path string) error {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return fmt.Errorf("generate vault keyset: %w", err)
	}
	var buf bytes.Buffer
	if err := insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(&buf)); err != nil {
		return fmt.Errorf("encode vault keyset: %w", err)
	}
	// Written to a temporary file and linked into place, so an instance starting
	// at the same moment sees either no keyset or a whole one, never a part, and
	// neither overwrites the other's.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".keyset-*")
	if err != nil {
		return fmt.Errorf("create vault keyset: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("create vault keyset: %w", err)
	}
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("write vault keyset: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync vault keyset: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write vault keyset: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("install vault keyset: %w", err)
	}
	return nil
}
