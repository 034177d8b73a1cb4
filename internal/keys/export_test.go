package keys

import "github.com/tink-crypto/tink-go/v2/tink"

// StopRotationAfter makes RotateKEK stop after n keysets, as a crash would.
func (k *Keyring) StopRotationAfter(n int) { k.failAfter = n }

// KEKForTest returns the keyring's key-encryption AEAD.
func (k *Keyring) KEKForTest() tink.AEAD { return k.currentKEK() }

// ParsePKCS11State exposes the state file's parser to the fuzz target.
func ParsePKCS11State(b []byte, key string) (current, next string, err error) {
	st, err := parsePKCS11State(b, key)
	return st.Current, st.Next, err
}

// WriteCleartextKeysetForTest writes a fresh AES-256-GCM keyset in the clear
// at path, as an attacker with write access to the data directory could.
func WriteCleartextKeysetForTest(path string) error { return createKeyset(path) }
