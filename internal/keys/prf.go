package keys

import (
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/mac"
	"github.com/tink-crypto/tink-go/v2/prf"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
	"github.com/tink-crypto/tink-go/v2/signature"
)

// PRF returns the pseudorandom-function keyset called name (HMAC-SHA256),
// creating it when there is none. It serves blind indexes. Like AEAD's, it is
// live: a rotation gives it a new primary key without a restart (LivePRF).
func (k *Keyring) PRF(name string) (*LivePRF, error) {
	h, info, err := k.load(name, prf.HMACSHA256PRFKeyTemplate())
	if err != nil {
		return nil, err
	}
	l, err := newLive(k, name, prfKeys, h, info)
	if err != nil {
		return nil, err
	}
	return &LivePRF{live: l}, nil
}

// templateOf is the template of a new key for h: one like its primary, so a
// rotated blind-index keyset gets an HMAC PRF key, a MAC keyset an HMAC tag
// key and a data keyset an AES-GCM one.
func templateOf(h *keyset.Handle) *tinkpb.KeyTemplate {
	hmac, tag, sig := prf.HMACSHA256PRFKeyTemplate(), mac.HMACSHA256Tag256KeyTemplate(), signature.ED25519KeyWithoutPrefixTemplate()
	info := h.KeysetInfo()
	for _, ki := range info.GetKeyInfo() {
		if ki.GetKeyId() != info.GetPrimaryKeyId() {
			continue
		}
		switch ki.GetTypeUrl() {
		case hmac.GetTypeUrl():
			return hmac
		case tag.GetTypeUrl():
			return tag
		case sig.GetTypeUrl():
			return sig
		}
	}
	return aead.AES256GCMKeyTemplate()
}
