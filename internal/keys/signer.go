package keys

import (
	"fmt"

	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/signature"
	tinked25519 "github.com/tink-crypto/tink-go/v2/signature/ed25519"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Signing is an Ed25519 signing keyset: its primary key signs, and every
// key's public half is listed so that what an earlier primary signed still
// verifies after a rotation. Its keys have no Tink output prefix, so a
// signature is a plain Ed25519 signature that any verifier can check with
// the public key alone.
type Signing struct {
	// Signer signs under the primary key.
	Signer tink.Signer
	// Public is the primary key's public key (32 bytes).
	Public []byte
	// All holds the public keys of every enabled key, the primary's included.
	All [][]byte
}

// Signing returns the signing keyset called name, creating it when there
// is none. Unlike the data keysets it is read once: a rotation takes effect
// at the next start (what the old key signed stays verifiable meanwhile).
func (k *Keyring) Signing(name string) (*Signing, error) {
	h, _, err := k.load(name, signature.ED25519KeyWithoutPrefixTemplate())
	if err != nil {
		return nil, err
	}
	return signingFrom(name, h)
}

func signingFrom(name string, h *keyset.Handle) (*Signing, error) {
	s, err := signature.NewSigner(h)
	if err != nil {
		return nil, fmt.Errorf("%s keyset: %w", name, err)
	}
	pub, err := h.Public()
	if err != nil {
		return nil, fmt.Errorf("%s keyset: %w", name, err)
	}
	out := &Signing{Signer: s}
	for i := range pub.Len() {
		e, err := pub.Entry(i)
		if err != nil {
			return nil, fmt.Errorf("%s keyset: %w", name, err)
		}
		if e.KeyStatus() != keyset.Enabled {
			continue
		}
		pk, ok := e.Key().(*tinked25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%s keyset: key %d is not an Ed25519 key", name, e.KeyID())
		}
		if pk.Parameters().HasIDRequirement() {
			return nil, fmt.Errorf("%s keyset: key %d signs with a Tink prefix: plain Ed25519 keys only", name, e.KeyID())
		}
		out.All = append(out.All, pk.KeyBytes())
		if e.IsPrimary() {
			out.Public = pk.KeyBytes()
		}
	}
	if out.Public == nil {
		return nil, fmt.Errorf("%s keyset: no primary key", name)
	}
	return out, nil
}
