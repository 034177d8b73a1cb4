package edge

import (
	"context"
	"sync"
	"time"
)

// MemoryCapacity is how many keys a Memory store holds at most.
const MemoryCapacity = 100_000

// Memory is a Store for one instance: bounded, and expiring each key once its
// TAT has passed (an expired key is the same as a fresh one).
type Memory struct {
	mu       sync.Mutex
	capacity int
	tats     map[string]time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns a store of at most capacity keys (MemoryCapacity when
// capacity < 1).
func NewMemory(capacity int) *Memory {
	if capacity < 1 {
		capacity = MemoryCapacity
	}
	return &Memory{capacity: capacity, tats: map[string]time.Time{}}
}

// Take applies GCRA to key.
func (m *Memory) Take(_ context.Context, key string, now time.Time, interval, tolerance time.Duration) (bool, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	tat, ok := m.tats[key]
	if !ok || tat.Before(now) {
		tat = now
	}
	next := tat.Add(interval)
	if next.Sub(now) > tolerance {
		return false, tat, nil
	}
	if !ok && len(m.tats) >= m.capacity {
		m.evict(now)
	}
	m.tats[key] = next
	return true, next, nil
}

// evict drops expired keys, or when none has expired, one arbitrary key. Losing
// a key forgives its debt, so a flood of new addresses can at worst give some
// clients a fresh burst, never refuse one wrongly or grow memory without bound.
func (m *Memory) evict(now time.Time) {
	for k, tat := range m.tats {
		if !tat.After(now) {
			delete(m.tats, k)
		}
	}
	for k := range m.tats {
		if len(m.tats) < m.capacity {
			return
		}
		delete(m.tats, k)
	}
}

// Len is how many keys the store holds.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.tats)
}
