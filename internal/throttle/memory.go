package throttle

import (
	"context"
	"math"
	"sync"
	"time"
)

// MemoryCapacity is how many counters and locks a Memory store holds at
// most: under 20 MiB with the longest keys (TestMemoryCapacityBytes
// measures it). Fraud scoring's counters live a day, so without a cap a
// checkout flood from fresh addresses would grow the store for a day; shops
// that need more keep their counters in Redis.
const MemoryCapacity = 100_000

// Memory is a Store for one instance, bounded to its capacity.
type Memory struct {
	mu       sync.Mutex
	now      func() time.Time
	capacity int
	entries  map[string]entry
	evicted  uint64
}

type entry struct {
	n       int64
	expires time.Time
	lock    bool
}

// NewMemory returns an in-memory store reading time from now, holding at
// most capacity entries (MemoryCapacity when capacity < 1).
func NewMemory(now func() time.Time, capacity int) *Memory {
	if capacity < 1 {
		capacity = MemoryCapacity
	}
	return &Memory{now: now, capacity: capacity, entries: map[string]entry{}}
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
		m.makeRoom()
	}
	e.n++
	m.entries[key] = e
	return e.n, nil
}

// sweepBatch is how many entries an insert looks at for expired ones.
const sweepBatch = 16

// makeRoom drops expired entries among a few, so memory stays bounded by
// what is live and no call pays for all of it; and when the store is still
// full, it drops the live counter with the lowest count among them. Called
// with mu held, before an insert.
//
// A full scan every 1,024 inserts cost one request in a few hundred a scan
// of every live key (a millisecond at 30,000 keys): a p99 of its own. Here
// each insert looks at sweepBatch entries from a random place (Go starts
// each range over a map at a random one): once entries expire as fast as
// they are made, an expired share above 1/sweepBatch is swept faster than
// it grows, so the map holds at most about 1/sweepBatch more than is live.
//
// Dropping a live counter forgives what it counted, so the one dropped is
// the least counted of the sample (the soonest to expire among equals),
// and locks go last. A flood of fresh keys, each counted once, then
// evicts its own kind: a counter that has counted more than once stays
// as long as the sample holds any key counted less, which under such a
// flood is nearly always (TestMemoryFloodKeepsCounts). To evict it, a
// flood must count every one of its keys as often, at that many times the
// cost.
func (m *Memory) makeRoom() {
	now, seen := m.now(), 0
	var (
		victim string
		least  entry
		found  bool
	)
	rank := func(e entry) int64 {
		if e.lock {
			return math.MaxInt64
		}
		return e.n
	}
	for k, e := range m.entries {
		if !now.Before(e.expires) {
			delete(m.entries, k)
		} else if !found || rank(e) < rank(least) || rank(e) == rank(least) && e.expires.Before(least.expires) {
			victim, least, found = k, e, true
		}
		if seen++; seen == sweepBatch {
			break
		}
	}
	if len(m.entries) >= m.capacity && found {
		delete(m.entries, victim)
		m.evicted++
	}
}

// Evicted returns how many live entries the store has dropped to stay
// within its capacity: above 0, the store is too small for the traffic
// and some counts were forgiven early.
func (m *Memory) Evicted() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.evicted
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
	if _, ok := m.live(key); !ok {
		m.makeRoom()
	}
	m.entries[key] = entry{n: 1, expires: m.now().Add(d), lock: true}
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
