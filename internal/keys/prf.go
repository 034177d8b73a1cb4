package keys

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
)

// PRF returns the pseudorandom-function keyset called name (HMAC-SHA256),
// creating it when there is none. It serves blind indexes, which must stay
// stable: rotating it would orphan every index computed before, so it is not
// among the keysets that rotation gives a new primary.
func (k *Keyring) PRF(name string) (*prf.Set, error) {
	path := k.path(name)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		h, err := keyset.NewHandle(prf.HMACSHA256PRFKeyTemplate())
		if err != nil {
			return nil, fmt.Errorf("generate %s keyset: %w", name, err)
		}
		if err := k.write(path, h); err != nil {
			return nil, err
		}
		// Another instance may have written its own at the same moment: use
		// whichever is on disk now, so every instance computes the same index.
		if b, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("read %s keyset: %w", name, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("read %s keyset: %w", name, err)
	}
	if info, err := os.Stat(path); err == nil && info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("keyset %s has mode %v: it must be readable by its owner only (chmod 600)", path, info.Mode().Perm())
	}
	h, err := keyset.Read(keyset.NewJSONReader(bytes.NewReader(b)), k.kek)
	if err != nil {
		return nil, fmt.Errorf("open %s keyset: it is not encrypted under this KEK: %w", name, err)
	}
	s, err := prf.NewPRFSet(h)
	if err != nil {
		return nil, fmt.Errorf("keyset %s: %w", name, err)
	}
	return s, nil
}
