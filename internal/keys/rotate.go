package keys

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/tink-crypto/tink-go/v2/keyset"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
)

// ErrNoKeyset is returned by Rotate for a keyset that was never made: there is
// nothing encrypted under it to protect.
var ErrNoKeyset = errors.New("no such keyset")

// Rotation is what Rotate did to one keyset.
type Rotation struct {
	Name       string
	OldPrimary uint32
	NewPrimary uint32
}

// Rotate adds a new key to the keyset called name, of the primary's type
// (AES-256-GCM, or HMAC-SHA256 for a blind-index keyset), and makes it the
// primary, replacing the file atomically. The old keys stay in the keyset,
// so what they encrypted stays readable. A lock file serializes rotations of
// one keyset (two at once would each write a keyset without the other's new
// key). Running servers pick the new primary up by themselves (see Live).
// It returns ErrNoKeyset when the keyset does not exist.
func (k *Keyring) Rotate(name string) (Rotation, error) {
	unlock, err := k.lock(name)
	if err != nil {
		return Rotation{}, err
	}
	defer unlock()
	if _, err := os.Stat(k.path(name)); errors.Is(err, fs.ErrNotExist) {
		return Rotation{}, fmt.Errorf("rotate %s: %w", name, ErrNoKeyset)
	}
	h, _, err := k.load(name, nil)
	if err != nil {
		return Rotation{}, err
	}
	r := Rotation{Name: name, OldPrimary: h.KeysetInfo().GetPrimaryKeyId()}
	m := keyset.NewManagerFromHandle(h)
	if r.NewPrimary, err = m.Add(templateOf(h)); err != nil {
		return Rotation{}, fmt.Errorf("rotate %s: add key: %w", name, err)
	}
	if err := m.SetPrimary(r.NewPrimary); err != nil {
		return Rotation{}, fmt.Errorf("rotate %s: set primary: %w", name, err)
	}
	nh, err := m.Handle()
	if err != nil {
		return Rotation{}, fmt.Errorf("rotate %s: %w", name, err)
	}
	// The creation time is noted before the keyset names the key, so a key
	// in the keyset always has one.
	if err := k.noteKeys(name, nh); err != nil {
		return Rotation{}, err
	}
	if err := k.write(k.path(name), nh); err != nil {
		return Rotation{}, fmt.Errorf("rotate %s: %w", name, err)
	}
	return r, nil
}

// lock takes an exclusive advisory lock on the keyset's lock file.
func (k *Keyring) lock(name string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(k.dir, "."+name+"-keyset.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s keyset: %w", name, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s keyset: %w", name, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing releases it too
		f.Close()
	}, nil
}

// metaPath is the sidecar of a keyset: when each of its keys was made. It
// holds key ids and times, nothing secret.
func (k *Keyring) metaPath(name string) string {
	return filepath.Join(k.dir, name+"-keyset.keys.json")
}

// keyTimes reads the sidecar; a missing one is empty (keysets made before it).
func (k *Keyring) keyTimes(name string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	b, err := os.ReadFile(k.metaPath(name))
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s key times: %w", name, err)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("read %s key times: %w", name, err)
	}
	return out, nil
}

// noteKeys records now as the creation time of every key of h the sidecar
// does not know yet.
func (k *Keyring) noteKeys(name string, h *keyset.Handle) error {
	times, err := k.keyTimes(name)
	if err != nil {
		return err
	}
	for _, ki := range h.KeysetInfo().GetKeyInfo() {
		id := strconv.FormatUint(uint64(ki.GetKeyId()), 10)
		if _, ok := times[id]; !ok {
			times[id] = time.Now().UTC()
		}
	}
	b, err := json.MarshalIndent(times, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s key times: %w", name, err)
	}
	return writeFileAtomic(k.metaPath(name), b)
}

// KeyStatus describes one key of a data keyset.
type KeyStatus struct {
	ID      uint32
	Primary bool
	Enabled bool
	// Created is zero for keys made before Bulwark noted creation times.
	Created time.Time
}

// keyStatuses lists the keys of h, newest first.
func (k *Keyring) keyStatuses(name string, h *keyset.Handle) ([]KeyStatus, error) {
	times, err := k.keyTimes(name)
	if err != nil {
		return nil, err
	}
	info := h.KeysetInfo()
	var out []KeyStatus
	for _, ki := range info.GetKeyInfo() {
		out = append(out, KeyStatus{ID: ki.GetKeyId(), Primary: ki.GetKeyId() == info.GetPrimaryKeyId(),
			Enabled: ki.GetStatus() == tinkpb.KeyStatusType_ENABLED, Created: times[strconv.FormatUint(uint64(ki.GetKeyId()), 10)]})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// KeyID returns the id of the key that made a Tink ciphertext, from its
// 5-byte prefix (a version byte, then the key id); ok is false for a
// ciphertext without one.
func KeyID(ciphertext []byte) (id uint32, ok bool) {
	if len(ciphertext) < 5 || ciphertext[0] != 1 {
		return 0, false
	}
	return binary.BigEndian.Uint32(ciphertext[1:5]), true
}

// ErrTooSoon is returned by Retire while the primary key is younger than the
// age asked for: an instance may still be encrypting under an older key.
var ErrTooSoon = errors.New("the primary key is too new to retire the others")

// Retire takes every key of the keyset called name but the primary out of
// use: disabled (Tink's Disable: kept, can be enabled again) or, with
// destroy, deleted, so that what they encrypted — in backups too — can no
// longer be read (crypto-shredding). It refuses (ErrTooSoon) while the primary
// is younger than minAge at now, and calls sweep, which must leave no ciphertext
// under another key than primary, before it writes; both under the keyset's
// lock, so no rotation comes between. It returns the ids taken out of use.
func (k *Keyring) Retire(name string, now time.Time, minAge time.Duration, destroy bool, sweep func(primary uint32) error) ([]uint32, error) {
	unlock, err := k.lock(name)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := os.Stat(k.path(name)); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("retire %s: %w", name, ErrNoKeyset)
	}
	h, _, err := k.load(name, nil)
	if err != nil {
		return nil, err
	}
	primary := h.KeysetInfo().GetPrimaryKeyId()
	times, err := k.keyTimes(name)
	if err != nil {
		return nil, err
	}
	// A primary without a noted time predates this version: old enough.
	if made, ok := times[strconv.FormatUint(uint64(primary), 10)]; ok && now.Sub(made) < minAge {
		return nil, fmt.Errorf("retire %s: key %d is %s old, wait until %s: %w", name, primary,
			now.Sub(made).Round(time.Second), minAge, ErrTooSoon)
	}
	var retire []uint32
	for _, ki := range h.KeysetInfo().GetKeyInfo() {
		if ki.GetKeyId() == primary || (!destroy && ki.GetStatus() != tinkpb.KeyStatusType_ENABLED) {
			continue
		}
		retire = append(retire, ki.GetKeyId())
	}
	if len(retire) == 0 {
		return nil, nil
	}
	if err := sweep(primary); err != nil {
		return nil, fmt.Errorf("retire %s: %w", name, err)
	}
	m := keyset.NewManagerFromHandle(h)
	for _, id := range retire {
		if destroy {
			err = m.Delete(id)
		} else {
			err = m.Disable(id)
		}
		if err != nil {
			return nil, fmt.Errorf("retire %s key %d: %w", name, id, err)
		}
	}
	nh, err := m.Handle()
	if err != nil {
		return nil, fmt.Errorf("retire %s: %w", name, err)
	}
	if err := k.write(k.path(name), nh); err != nil {
		return nil, fmt.Errorf("retire %s: %w", name, err)
	}
	return retire, nil
}
