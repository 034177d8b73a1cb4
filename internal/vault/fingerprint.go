package vault

import (
	"encoding/base64"
	"fmt"

	"github.com/tink-crypto/tink-go/v2/prf"
)

// FingerprintPrefix begins every card fingerprint.
const FingerprintPrefix = "cfp_"

// fingerprintBytes is how much of the PRF's output a fingerprint keeps:
// 128 bits, far beyond any collision among a shop's cards.
const fingerprintBytes = 16

// PRFKeys is a pseudorandom-function keyset (keys.LivePRF is one).
type PRFKeys interface{ Set() *prf.Set }

// Fingerprints names cards without their numbers: a card's fingerprint is
// an HMAC-SHA256 PRF of its normalized number under a keyset of its own
// (Tink), the same for every saved copy of the card and for a guest's
// one-checkout card, so velocity, findings and blocks follow the card
// rather than the payment method. Without the keyset, which lives under the
// KEK, a fingerprint cannot be tested against candidate numbers (a bare hash
// of a 16-digit number with a known BIN and Luhn digit could be).
//
// A fingerprint is computed under the primary key only: rotating the
// keyset would give every card a new fingerprint (restarting its velocity
// and ending its blocks), which is why `bulwark keys rotate` does not list
// it.
type Fingerprints struct{ Keys PRFKeys }

// Fingerprint returns the fingerprint of the card number (spaces and
// dashes ignored).
func (f Fingerprints) Fingerprint(number string) (string, error) {
	n := NormalizeNumber(number)
	if n == "" {
		return "", fmt.Errorf("fingerprint: no card number")
	}
	out, err := f.Keys.Set().ComputePrimaryPRF([]byte(n), fingerprintBytes)
	if err != nil {
		return "", fmt.Errorf("fingerprint: %w", err)
	}
	return FingerprintPrefix + base64.RawURLEncoding.EncodeToString(out), nil
}
