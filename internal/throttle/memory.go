package throttle

import (
	"context"
	"sync"
	"time"
)

// Memory is a Store for one instance.
type Memory struct {
	mu      sync.Mutex
	now     func() time.Time
	entries map[string]entry
}

type entry struct {
	n       int64
	expires time.Time
}

// NewMemory returns an in-memory store reading time from now.
func NewMemory(now func() time.Time) *Memory {
	return &Memory{now: now, entries: map[string]entry{}}
}

func (m *Memory) live(key string) (entry, bool) {
	e, ok := m.entries[key]
	if ok && !m.now().Before(e.expires) {
		delete(m.entries, key)
		return entry{}, false
	}
	return e, ok
}

// Incr adds one to key.
func (m *Memory) Incr(_ context.Context, key string, window time.Duration) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.live(key)
	if !ok {
		e = entry{expires: m.now().Add(window)}
		m.sweep()
	}
	e.n++
	m.entries[key] = e
	return e.n, nil
}

// sweepBatch is how many entries an insert looks at for expired ones.
const sweepBatch = 16

// sweep drops expired entries among a few, so memory stays bounded by what
// is live and no call pays for all of it. Called with mu held, on inserts.
//
// A full scan every 1,024 inserts cost one request in a few hundred a scan
// of every live key (a millisecond at 30,000 keys): a p99 of its own. Here
// each insert looks at sweepBatch entries from a random place (Go starts
// each range over a map at a random one): once entries expire as fast as
// they are made, an expired share above 1/sweepBatch is swept faster than
// it grows, so the map holds at most about 1/sweepBatch more than is live.
func (m *Memory) sweep() {
	now, seen := m.now(), 0
	for k, e := range m.entries {
		if !now.Before(e.expires) {
			delete(m.entries, k)
		}
		if seen++; seen == sweepBatch {
			return
		}
	}
}

// Len returns how many entries the store holds, live or not yet swept.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// Count returns key's count in its window, 0 when it has none.
func (m *Memory) Count(_ context.Context, key string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, _ := m.live(key)
	return e.n, nil
}

// Reset forgets key.
func (m *Memory) Reset(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.entries, key)
	return nil
}

// Lock locks key for d.
func (m *Memory) Lock(_ context.Context, key string, d time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries[key] = entry{n: 1, expires: m.now().Add(d)}
	return nil
}

// Locked returns how long key stays locked.
func (m *Memory) Locked(_ context.Context, key string) (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.live(key)
	if !ok {
		return 0, nil
	}
	return e.expires.Sub(m.now()), nil
}
