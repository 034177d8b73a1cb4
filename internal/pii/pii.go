// Package pii owns the encryption of personal data at rest. Each person (a
// subject: an account) has a data key of their own, a Tink AES-256-GCM keyset
// that is stored only wrapped under the shop's "pii" keyset, with the
// subject's id as associated data. Every personal field is sealed under the
// subject's key with the row and field it belongs to as associated data, so a
// ciphertext copied to another row or another person does not open.
//
// Erasing a person destroys their wrapped key (crypto-shredding): every copy of
// their sealed fields, in the database, its write-ahead log or a backup,
// becomes unreadable, while the rows that carry them (orders kept for
// accounting) stay. Lookups by email use a keyed blind index (HMAC-SHA256
// through Tink's PRF), so the database holds no email in the clear and the
// index reveals nothing without the index keyset.
package pii

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// ErrShredded is returned when a subject's key is gone: the data was erased.
var ErrShredded = errors.New("pii: the subject's key was destroyed")

// indexLength is the blind index's length in bytes (256 bits, hex encoded).
const indexLength = 32

// cacheSize bounds the unwrapped keys kept in memory. Unwrapping costs a Tink
// keyset parse; a busy shop reads the same customers' rows again and again.
const cacheSize = 4096

// IndexKeys is the blind-index keyset (a *keys.LivePRF): the keys in use, and
// a way to make sure they are the latest.
type IndexKeys interface {
	// Set returns the enabled keys: the primary computes new indexes; during
	// a rotation, an index stored earlier may be under another of them.
	Set() *prf.Set
	// Refresh picks up a keyset a rotation has just replaced.
	Refresh() error
}

// Cipher seals and opens personal fields.
type Cipher struct {
	master tink.AEAD // the "pii" keyset: wraps subject keys
	index  IndexKeys // the "index" keyset: blind index of emails

	mu    sync.Mutex
	cache map[[sha256.Size]byte]tink.AEAD // by the wrapped key's hash
}

// New returns a Cipher that wraps subject keys with master and computes blind
// indexes with index.
func New(master tink.AEAD, index IndexKeys) *Cipher {
	return &Cipher{master: master, index: index, cache: make(map[[sha256.Size]byte]tink.AEAD)}
}

// NewSubjectKey makes a data key for subject and returns it wrapped.
func (c *Cipher) NewSubjectKey(subject string) ([]byte, error) {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("generate key of %s: %w", subject, err)
	}
	return c.wrap(subject, h)
}

func (c *Cipher) wrap(subject string, h *keyset.Handle) ([]byte, error) {
	var buf bytes.Buffer
	if err := h.WriteWithAssociatedData(keyset.NewBinaryWriter(&buf), c.master, []byte(subject)); err != nil {
		return nil, fmt.Errorf("wrap key of %s: %w", subject, err)
	}
	return buf.Bytes(), nil
}

// Rewrap returns subject's wrapped key wrapped again under the pii keyset's
// current primary key. Rotation uses it so that retired wrapping keys can be
// destroyed.
func (c *Cipher) Rewrap(subject string, wrapped []byte) ([]byte, error) {
	h, err := keyset.ReadWithAssociatedData(keyset.NewBinaryReader(bytes.NewReader(wrapped)), c.master, []byte(subject))
	if err != nil {
		return nil, fmt.Errorf("unwrap key of %s: %w", subject, err)
	}
	return c.wrap(subject, h)
}

// cacheKey names a subject's unwrapped key in the cache. It covers the
// wrapped bytes and the subject, so a rewrapped or destroyed key is never
// served from the cache: a caller must present the stored wrapped key.
func cacheKey(subject string, wrapped []byte) [sha256.Size]byte {
	return sha256.Sum256(append([]byte(subject+"\x00"), wrapped...))
}

// Forget drops subject's unwrapped key from memory, as its erasure destroys
// the wrapped one.
func (c *Cipher) Forget(subject string, wrapped []byte) {
	c.mu.Lock()
	delete(c.cache, cacheKey(subject, wrapped))
	c.mu.Unlock()
}

// subjectAEAD unwraps a subject's key, through the cache. A nil wrapped key
// means the subject was erased.
func (c *Cipher) subjectAEAD(subject string, wrapped []byte) (tink.AEAD, error) {
	if wrapped == nil {
		return nil, ErrShredded
	}
	sum := cacheKey(subject, wrapped)
	c.mu.Lock()
	a, ok := c.cache[sum]
	c.mu.Unlock()
	if ok {
		return a, nil
	}
	h, err := keyset.ReadWithAssociatedData(keyset.NewBinaryReader(bytes.NewReader(wrapped)), c.master, []byte(subject))
	if err != nil {
		return nil, fmt.Errorf("unwrap key of %s: %w", subject, err)
	}
	if a, err = aead.New(h); err != nil {
		return nil, fmt.Errorf("key of %s: %w", subject, err)
	}
	c.mu.Lock()
	if len(c.cache) >= cacheSize {
		for k := range c.cache { // evict an arbitrary entry
			delete(c.cache, k)
			break
		}
	}
	c.cache[sum] = a
	c.mu.Unlock()
	return a, nil
}

// Seal encrypts plaintext under subject's key, bound to where (the table, row
// and field it is stored in).
func (c *Cipher) Seal(subject string, wrapped []byte, where string, plaintext []byte) ([]byte, error) {
	a, err := c.subjectAEAD(subject, wrapped)
	if err != nil {
		return nil, err
	}
	ct, err := a.Encrypt(plaintext, []byte(where))
	if err != nil {
		return nil, fmt.Errorf("seal %s: %w", where, err)
	}
	return ct, nil
}

// Open decrypts what Seal sealed for subject at where. It returns
// ErrShredded when the subject's key was destroyed.
func (c *Cipher) Open(subject string, wrapped []byte, where string, ciphertext []byte) ([]byte, error) {
	a, err := c.subjectAEAD(subject, wrapped)
	if err != nil {
		return nil, err
	}
	pt, err := a.Decrypt(ciphertext, []byte(where))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", where, err)
	}
	return pt, nil
}

// EmailIndex returns the blind index of a normalized email address under the
// index keyset's primary key: the one to store.
func (c *Cipher) EmailIndex(email string) (string, error) {
	b, err := c.index.Set().ComputePrimaryPRF(emailInput(email), indexLength)
	if err != nil {
		return "", fmt.Errorf("blind index: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// Index is a blind index and the id of the key it is computed under.
type Index struct {
	Key   uint32
	Value string
}

// EmailIndexes returns the blind indexes of a normalized email address under
// every enabled key of the index keyset, the primary's first: the ones to look
// for, since until the re-encryption job is through after a rotation, a
// stored index may be under an older key. With refresh, the keyset file is
// looked at first (a uniqueness check must know a key added a moment ago).
func (c *Cipher) EmailIndexes(email string, refresh bool) ([]Index, error) {
	if refresh {
		if err := c.index.Refresh(); err != nil {
			return nil, fmt.Errorf("blind index: %w", err)
		}
	}
	set := c.index.Set()
	ids := make([]uint32, 0, len(set.PRFs))
	for id := range set.PRFs {
		if id != set.PrimaryID {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	out := make([]Index, 0, len(set.PRFs))
	for _, id := range append([]uint32{set.PrimaryID}, ids...) {
		p, ok := set.PRFs[id]
		if !ok {
			return nil, fmt.Errorf("blind index: no primary key %d", id)
		}
		b, err := p.ComputePRF(emailInput(email), indexLength)
		if err != nil {
			return nil, fmt.Errorf("blind index: %w", err)
		}
		out = append(out, Index{Key: id, Value: hex.EncodeToString(b)})
	}
	return out, nil
}

// IndexKeys returns the id of the index keyset's primary key and of every
// enabled key, as the keyset was at the last look.
func (c *Cipher) IndexKeys() (primary uint32, enabled []uint32) {
	set := c.index.Set()
	for id := range set.PRFs {
		enabled = append(enabled, id)
	}
	slices.Sort(enabled)
	return set.PrimaryID, enabled
}

// emailInput is what the index of an email is computed over; the label keeps
// it apart from the index of any other kind of value.
func emailInput(email string) []byte { return []byte("email\x00" + email) }
