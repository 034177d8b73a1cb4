package edge

import (
	"context"
	"net/netip"
	"sync"
	"time"
)

// MemoryBlocks keeps dynamic blocks in this process only (tests, and the
// benchmark; a server keeps them in Redis or the shop database, where the
// CLI can list and lift them).
type MemoryBlocks struct {
	mu     sync.Mutex
	now    func() time.Time
	blocks map[netip.Addr]memoryBlock
}

type memoryBlock struct {
	until  time.Time
	reason string
}

var _ Blocks = (*MemoryBlocks)(nil)

// NewMemoryBlocks returns an empty in-memory block list on the clock now.
func NewMemoryBlocks(now func() time.Time) *MemoryBlocks {
	return &MemoryBlocks{now: now, blocks: map[netip.Addr]memoryBlock{}}
}

// Block refuses a until until. It never fails.
func (m *MemoryBlocks) Block(_ context.Context, a netip.Addr, until time.Time, reason string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	// Forget expired blocks as we go, so a scan cannot grow the map forever.
	for k, b := range m.blocks {
		if !b.until.After(now) {
			delete(m.blocks, k)
		}
	}
	if until.After(m.blocks[a].until) {
		m.blocks[a] = memoryBlock{until: until, reason: reason}
	}
	return nil
}

// Blocked reports whether a is blocked now. It never fails.
func (m *MemoryBlocks) Blocked(_ context.Context, a netip.Addr) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.blocks[a].until.After(m.now()), nil
}

// List returns the blocks in force. It never fails.
func (m *MemoryBlocks) List(context.Context) ([]Block, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	var out []Block
	for a, b := range m.blocks {
		if b.until.After(now) {
			out = append(out, Block{ID: BlockID(a), Address: a.String(), Until: b.until, Reason: b.reason})
		}
	}
	return out, nil
}

// Lift ends a's block. It never fails.
func (m *MemoryBlocks) Lift(_ context.Context, a netip.Addr) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.blocks[a]
	delete(m.blocks, a)
	return ok && b.until.After(m.now()), nil
}
