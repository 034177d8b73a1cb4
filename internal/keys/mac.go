package keys

import (
	"github.com/tink-crypto/tink-go/v2/mac"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// MAC returns the message-authentication keyset called name (HMAC-SHA256,
// 256-bit tags), creating it when there is none. It signs what the shop
// hands out and must recognise again (guest order links). Like AEAD's, it is
// live: a rotation gives it a new primary key without a restart, and tags
// made under the earlier keys still verify until those keys are removed.
func (k *Keyring) MAC(name string) (*LiveMAC, error) {
	h, info, err := k.load(name, mac.HMACSHA256Tag256KeyTemplate())
	if err != nil {
		return nil, err
	}
	l, err := newLive(k, name, macKeys, h, info)
	if err != nil {
		return nil, err
	}
	return &LiveMAC{live: l}, nil
}

// LiveMAC is a MAC keyset that follows its file (see Live).
type LiveMAC struct{ live *Live }

var _ tink.MAC = (*LiveMAC)(nil)

// Name is the keyset's name.
func (m *LiveMAC) Name() string { return m.live.name }

// ComputeMAC computes data's tag under the primary key.
func (m *LiveMAC) ComputeMAC(data []byte) ([]byte, error) {
	return m.live.current().mac.ComputeMAC(data)
}

// VerifyMAC checks tag over data under any enabled key (in constant time:
// Tink's comparison); a tag under a key it does not hold yet makes it re-read
// the file first.
func (m *LiveMAC) VerifyMAC(tag, data []byte) error {
	st := m.live.current()
	err := st.mac.VerifyMAC(tag, data)
	if err == nil {
		return nil
	}
	if id, ok := KeyID(tag); ok && !st.ids[id] {
		if fresh, rerr := m.live.refresh(); rerr == nil && fresh.ids[id] {
			return fresh.mac.VerifyMAC(tag, data)
		}
	}
	return err
}
