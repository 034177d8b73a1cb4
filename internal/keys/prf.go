package keys

import (
	"fmt"

	"github.com/tink-crypto/tink-go/v2/prf"
)

// PRF returns the pseudorandom-function keyset called name (HMAC-SHA256),
// creating it when there is none. It serves blind indexes, which must stay
// stable: rotating it would orphan every index computed before, so it is not
// among the keysets that rotation gives a new primary.
func (k *Keyring) PRF(name string) (*prf.Set, error) {
	h, _, err := k.load(name, prf.HMACSHA256PRFKeyTemplate())
	if err != nil {
		return nil, err
	}
	s, err := prf.NewPRFSet(h)
	if err != nil {
		return nil, fmt.Errorf("keyset %s: %w", name, err)
	}
	return s, nil
}
