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

// sweep drops expired entries now and then, so memory stays bounded by what
// is live. Called with mu held, on inserts.
func (m *Memory) sweep() {
	if len(m.entries)%1024 != 0 {
		return
	}
	now := m.now()
	for k, e := range m.entries {
		if !now.Before(e.expires) {
			delete(m.entries, k)
		}
	}
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
