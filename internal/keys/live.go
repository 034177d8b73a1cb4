package keys

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/mac"
	"github.com/tink-crypto/tink-go/v2/prf"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// CheckInterval is how often a Live AEAD looks at its keyset file (one stat).
const CheckInterval = 500 * time.Millisecond

// Live is a data keyset's AEAD that follows its file: when the file is
// replaced (a rotation, here or on another instance sharing the data
// directory) it re-reads it, at most every CheckInterval, and at once when
// asked to decrypt a ciphertext under a key it does not hold yet. It encrypts
// under the primary key of the newest keyset it has read and decrypts under
// any key of it. If a re-read fails, it keeps the keyset it has.
type Live struct {
	ring    *Keyring
	name    string
	kind    primitive
	mu      sync.Mutex // serializes re-reads
	state   atomic.Pointer[liveState]
	checked atomic.Int64 // unix nanoseconds of the last look at the file
}

var _ tink.AEAD = (*Live)(nil)

// primitive is what a keyset's keys are for.
type primitive int

const (
	aeadKeys primitive = iota // data encryption (Live)
	prfKeys                   // blind indexes (LivePRF)
	macKeys                   // message authentication codes (LiveMAC)
)

type liveState struct {
	aead    tink.AEAD // of an aeadKeys keyset
	prf     *prf.Set  // of a prfKeys keyset
	mac     tink.MAC  // of a macKeys keyset
	primary uint32
	ids     map[uint32]bool
	file    os.FileInfo
}

func newLive(k *Keyring, name string, kind primitive, h *keyset.Handle, info os.FileInfo) (*Live, error) {
	st, err := newLiveState(kind, h, info)
	if err != nil {
		return nil, fmt.Errorf("%s keyset: %w", name, err)
	}
	l := &Live{ring: k, name: name, kind: kind}
	l.state.Store(st)
	l.checked.Store(time.Now().UnixNano())
	return l, nil
}

func newLiveState(kind primitive, h *keyset.Handle, info os.FileInfo) (*liveState, error) {
	st := &liveState{primary: h.KeysetInfo().GetPrimaryKeyId(), ids: map[uint32]bool{}, file: info}
	var err error
	switch kind {
	case prfKeys:
		st.prf, err = prf.NewPRFSet(h)
	case macKeys:
		st.mac, err = mac.New(h)
	default:
		st.aead, err = aead.New(h)
	}
	if err != nil {
		return nil, err
	}
	for _, ki := range h.KeysetInfo().GetKeyInfo() {
		st.ids[ki.GetKeyId()] = true
	}
	return st, nil
}

// Name is the keyset's name.
func (l *Live) Name() string { return l.name }

// Primary returns the id of the key new ciphertexts are made under.
func (l *Live) Primary() uint32 { return l.current().primary }

// Encrypt encrypts under the current primary key.
func (l *Live) Encrypt(plaintext, associatedData []byte) ([]byte, error) {
	return l.current().aead.Encrypt(plaintext, associatedData)
}

// Decrypt decrypts under any key of the keyset; a ciphertext under a key it
// does not know makes it re-read the file first.
func (l *Live) Decrypt(ciphertext, associatedData []byte) ([]byte, error) {
	st := l.current()
	pt, err := st.aead.Decrypt(ciphertext, associatedData)
	if err == nil {
		return pt, nil
	}
	if id, ok := KeyID(ciphertext); ok && !st.ids[id] {
		if fresh, rerr := l.refresh(); rerr == nil && fresh.ids[id] {
			return fresh.aead.Decrypt(ciphertext, associatedData)
		}
	}
	return nil, err
}

// current returns the keyset in use, looking at the file first when the last
// look is older than CheckInterval. Only one caller looks; the others go on
// with what there is.
func (l *Live) current() *liveState {
	st := l.state.Load()
	now := time.Now().UnixNano()
	last := l.checked.Load()
	if now-last < int64(CheckInterval) || !l.checked.CompareAndSwap(last, now) {
		return st
	}
	info, err := os.Stat(l.ring.path(l.name))
	if err != nil || sameFile(info, st.file) {
		return st
	}
	if fresh, err := l.refresh(); err == nil {
		return fresh
	}
	return st
}

// Refresh re-reads the keyset file now if it changed. A missing or unreadable
// file leaves the keyset in use as it is, and is returned as an error.
func (l *Live) Refresh() error {
	_, err := l.refresh()
	return err
}

// refresh is Refresh returning the keyset in use after it.
func (l *Live) refresh() (*liveState, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.state.Load()
	info, err := os.Stat(l.ring.path(l.name))
	if errors.Is(err, fs.ErrNotExist) {
		return st, fmt.Errorf("%s keyset: the file is gone; keeping the keys in memory", l.name)
	}
	if err != nil {
		return st, fmt.Errorf("%s keyset: %w", l.name, err)
	}
	if sameFile(info, st.file) {
		return st, nil
	}
	h, info, err := l.ring.load(l.name, nil)
	if err != nil {
		return st, err
	}
	fresh, err := newLiveState(l.kind, h, info)
	if err != nil {
		return st, fmt.Errorf("%s keyset: %w", l.name, err)
	}
	l.state.Store(fresh)
	return fresh, nil
}

// sameFile reports whether the keyset file is the one read before: the same
// inode (a rotation renames a new file over it), size and modification time.
func sameFile(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

// LivePRF is the blind-index keyset, following its file as Live does. A
// rotation adds a new primary key while the indexes stored so far stay under
// the old one until the re-encryption job recomputes them, so a lookup tries
// the value's index under every enabled key (Set) and a new index is computed
// under the primary.
type LivePRF struct{ live *Live }

// Name is the keyset's name.
func (p *LivePRF) Name() string { return p.live.name }

// Primary returns the id of the key new indexes are computed under.
func (p *LivePRF) Primary() uint32 { return p.live.Primary() }

// Set returns the keyset's enabled keys, as the file held them at the last
// look (at most CheckInterval ago).
func (p *LivePRF) Set() *prf.Set { return p.live.current().prf }

// Refresh re-reads the keyset file now if it changed: a caller that must not
// act on a keyset a rotation replaced a moment ago (a uniqueness check) calls
// it first.
func (p *LivePRF) Refresh() error { return p.live.Refresh() }
