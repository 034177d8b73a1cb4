package edge

import (
	"context"
	"net/netip"
	"sync"
	"time"
)

// MemoryBlocks keeps dynamic blocks in this process only.
type MemoryBlocks struct {
	mu     sync.Mutex
	now    func() time.Time
	blocks map[netip.Addr]time.Time
}

var _ Blocks = (*MemoryBlocks)(nil)

// NewMemoryBlocks returns an empty in-memory block list on the clock now.
func NewMemoryBlocks(now func() time.Time) *MemoryBlocks {
	return &MemoryBlocks{now: now, blocks: map[netip.Addr]time.Time{}}
}

// Block refuses a until until. It never fails.
func (m *MemoryBlocks) Block(_ context.Context, a netip.Addr, until time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	// Forget expired blocks as we go, so a scan cannot grow the map forever.
	for k, t := range m.blocks {
		if !t.After(now) {
			delete(m.blocks, k)
		}
	}
	if until.After(m.blocks[a]) {
		m.blocks[a] = until
	}
	return nil
}

// Blocked reports whether a is blocked now. It never fails.
func (m *MemoryBlocks) Blocked(_ context.Context, a netip.Addr) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.blocks[a].After(m.now()), nil
}
