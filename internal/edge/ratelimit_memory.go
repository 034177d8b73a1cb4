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

// evictSample is how many keys making room looks at.
const evictSample = 16

// evict makes room for one key: it drops the expired keys among a few from
// a random place (Go starts each range over a map at a random one), and if
// none had expired, the one of them with the least debt (the earliest TAT).
// Losing a key forgives its debt, so a flood of new addresses can at worst
// give some clients a fresh burst, never refuse one wrongly or grow memory
// without bound; the least debt is the least forgiven. It looks at a few
// keys, never all of them: a store kept full of live keys (an IPv6 client
// has 2^64 addresses) made every new key scan 100,000 under the lock every
// request takes (TestMemoryFullCostsLittle).
func (m *Memory) evict(now time.Time) {
	var (
		victim string
		least  time.Time
		found  bool
		seen   int
	)
	for k, tat := range m.tats {
		if !tat.After(now) {
			delete(m.tats, k)
		} else if !found || tat.Before(least) {
			victim, least, found = k, tat, true
		}
		if seen++; seen == evictSample {
			break
		}
	}
	if len(m.tats) >= m.capacity && found {
		delete(m.tats, victim)
	}
}

// Len is how many keys the store holds.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.tats)
}
