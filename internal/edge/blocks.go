package edge

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Block is one dynamic block in force.
type Block struct {
	// ID names the block in the API and the CLI (BlockID).
	ID      string    `json:"id"`
	Address string    `json:"address"`
	Until   time.Time `json:"until"`
	// Reason says why: the trap's path, method and user agent, or an operator's note.
	Reason string `json:"reason"`
}

// blockIDPrefix marks a block id, like the other ids of the API.
const blockIDPrefix = "blk_"

// BlockID is the id of the block of a: it names the address (hex of its
// bytes), so every instance and the CLI agree on it without a counter, and
// a URL path can carry an IPv6 address without escaping.
func BlockID(a netip.Addr) string { return blockIDPrefix + hex.EncodeToString(a.AsSlice()) }

// ErrNoBlock is returned by Lift for an id that names no block in force,
// and for one that is not a block id at all.
var ErrNoBlock = errors.New("no such block")

// ParseBlockID returns the address a block id names, or ErrNoBlock.
func ParseBlockID(id string) (netip.Addr, error) {
	h, ok := strings.CutPrefix(id, blockIDPrefix)
	if !ok {
		return netip.Addr{}, ErrNoBlock
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return netip.Addr{}, ErrNoBlock
	}
	a, ok := netip.AddrFromSlice(b)
	if !ok {
		return netip.Addr{}, ErrNoBlock
	}
	return a, nil
}

// ActionBlockLifted is the audit action of a lifted block; the target is the address.
const ActionBlockLifted = "edge.block_lifted"

// Blocklist lists and lifts the dynamic blocks, for the API and the CLI.
type Blocklist struct {
	blocks Blocks
	audit  Auditor
}

// NewBlocklist returns the block list over blocks, auditing lifts in audit.
func NewBlocklist(blocks Blocks, audit Auditor) *Blocklist {
	return &Blocklist{blocks: blocks, audit: audit}
}

// List returns the blocks in force, the latest to end first.
func (l *Blocklist) List(ctx context.Context) ([]Block, error) {
	bs, err := l.blocks.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list blocks: %w", err)
	}
	slices.SortFunc(bs, func(a, b Block) int {
		if c := b.Until.Compare(a.Until); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return bs, nil
}

// Lift ends the block id and records edge.block_lifted with by (who lifted
// it: the caller's context names an API caller; the CLI says "cli"). It
// returns ErrNoBlock when no such block is in force.
func (l *Blocklist) Lift(ctx context.Context, id, by string) error {
	a, err := ParseBlockID(id)
	if err != nil {
		return err
	}
	lifted, err := l.blocks.Lift(ctx, a)
	if err != nil {
		return fmt.Errorf("lift block %s: %w", id, err)
	}
	if !lifted {
		return ErrNoBlock
	}
	if err := l.audit.Record(ctx, ActionBlockLifted, a.String(), "success", "lifted by "+by); err != nil {
		return fmt.Errorf("lift block %s: %w", id, err)
	}
	return nil
}
