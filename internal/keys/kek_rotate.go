package keys

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// KEKRotation is what RotateKEK did.
type KEKRotation struct {
	Keysets []string // the data keysets re-wrapped, by name
	Note    string   // what became of the earlier KEK version, for the operator
}

// DataKeysets lists the data keysets in the data directory, by name.
func (k *Keyring) DataKeysets() ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(k.dir, "*-keyset.json"))
	if err != nil {
		return nil, fmt.Errorf("list keysets: %w", err)
	}
	var names []string
	for _, p := range paths {
		if base := filepath.Base(p); base != KEKFile {
			names = append(names, strings.TrimSuffix(base, "-keyset.json"))
		}
	}
	sort.Strings(names)
	return names, nil
}

// RotateKEK re-wraps every data keyset under a new KEK version. The data keys
// inside do not change, so no ciphertext anywhere needs touching.
//
// It is crash safe: the new version is recorded first while the earlier one
// keeps unwrapping, each keyset file is replaced atomically, and the earlier
// version is retired only after every keyset is re-wrapped. A restart after a
// crash opens every keyset, and running RotateKEK again finishes the job.
// No instance should be starting while it runs (a starting instance may write
// a new keyset under the earlier version).
func (k *Keyring) RotateKEK() (KEKRotation, error) {
	next, err := k.provider.begin()
	if err != nil {
		return KEKRotation{}, fmt.Errorf("rotate kek: %w", err)
	}
	k.setKEK(next, k.source)
	names, err := k.DataKeysets()
	if err != nil {
		return KEKRotation{}, fmt.Errorf("rotate kek: %w", err)
	}
	var r KEKRotation
	for i, name := range names {
		if k.failAfter > 0 && i == k.failAfter {
			return r, fmt.Errorf("rotate kek: stopped after %d keysets (test)", i)
		}
		if err := k.rewrap(name, next); err != nil {
			return r, err
		}
		r.Keysets = append(r.Keysets, name)
	}
	if r.Note, err = k.provider.commit(); err != nil {
		return r, fmt.Errorf("rotate kek: %w", err)
	}
	a, err := k.provider.aead()
	if err != nil {
		return r, fmt.Errorf("rotate kek: %w", err)
	}
	k.setKEK(a, k.provider.status().Source)
	return r, nil
}

// rewrap writes the keyset called name again under kek, holding the keyset's
// lock so that a data key rotation running at the same moment cannot have its
// new key overwritten by the old contents.
func (k *Keyring) rewrap(name string, kek tink.AEAD) error {
	unlock, err := k.lock(name)
	if err != nil {
		return fmt.Errorf("rotate kek: %w", err)
	}
	defer unlock()
	path := k.path(name)
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("rotate kek: read %s keyset: %w", name, err)
	}
	h, err := keyset.Read(keyset.NewJSONReader(bytes.NewReader(b)), kek)
	if err != nil {
		// A keyset still in the clear is wrapped now, as AEAD would.
		if h, err = insecurecleartextkeyset.Read(keyset.NewJSONReader(bytes.NewReader(b))); err != nil {
			return fmt.Errorf("rotate kek: the %s keyset opens under no KEK version; nothing else was changed for it", name)
		}
	}
	if err := k.write(path, h); err != nil {
		return fmt.Errorf("rotate kek: re-wrap %s keyset: %w", name, err)
	}
	return nil
}
