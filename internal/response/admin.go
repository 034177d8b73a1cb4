package response

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/finding"
	"github.com/bulwark-shop/bulwark/internal/id"
)

// AdminStore is what staff administration of blocks needs beyond Store.
type AdminStore interface {
	ActiveBlocks(ctx context.Context, now time.Time, limit int) ([]Block, error)
	// LiftResponseBlock ends a block in force, appending rec in the same
	// transaction: ErrNoBlock, ErrNotInForce.
	LiftResponseBlock(ctx context.Context, blockID, by string, at time.Time, rec audit.Record) (Block, error)
}

// AddressLifter ends the edge's block of an address (the edge's block list).
type AddressLifter interface {
	LiftAddress(ctx context.Context, addr string) error
}

// ErrBlockNotFound is the refusal of a lift of an id that names no block in
// force (unknown, malformed, expired or lifted already: one answer, 404).
var ErrBlockNotFound = apperr.NotFound("block")

// MaxListed bounds the blocks a listing returns.
const MaxListed = 1000

// Admin is the staff and operator administration of response blocks: list
// those in force and lift one early.
type Admin struct {
	store   AdminStore
	edge    AddressLifter
	checker *Checker
	now     func() time.Time
}

// NewAdmin returns the administration of blocks in store; a lifted address
// block is lifted at the edge too, and a lifted card or account block leaves
// this instance's checker at once (the others' within RefreshEvery).
func NewAdmin(store AdminStore, edge AddressLifter, checker *Checker, now func() time.Time) *Admin {
	return &Admin{store: store, edge: edge, checker: checker, now: now}
}

// List returns the blocks in force, latest-ending first (blocks:manage).
func (a *Admin) List(ctx context.Context) ([]Block, error) {
	if _, err := access.Require(ctx, access.BlocksManage); err != nil {
		return nil, err
	}
	return a.store.ActiveBlocks(ctx, a.now(), MaxListed)
}

// Lift ends a block in force (blocks:manage, with a recent login),
// audited as response.block_lifted with the caller: ErrBlockNotFound.
func (a *Admin) Lift(ctx context.Context, blockID string) (Block, error) {
	p, err := access.RequireRecent(ctx, access.BlocksManage, a.now())
	if err != nil {
		return Block{}, err
	}
	by := "user " + p.UserID
	if p.KeyID != "" {
		by = "api key " + p.KeyID
	}
	return a.lift(ctx, blockID, by)
}

// ListAll returns the blocks in force for the command line.
func (a *Admin) ListAll(ctx context.Context) ([]Block, error) {
	return a.store.ActiveBlocks(ctx, a.now(), MaxListed)
}

// LiftAsOperator ends a block for the command line (audited "cli").
func (a *Admin) LiftAsOperator(ctx context.Context, blockID string) (Block, error) {
	return a.lift(ctx, blockID, "cli")
}

func (a *Admin) lift(ctx context.Context, blockID, by string) (Block, error) {
	if !id.Valid(id.Block, blockID) {
		return Block{}, ErrBlockNotFound
	}
	now := a.now().UTC().Truncate(time.Microsecond)
	rec := audit.New(ctx, now, ActionLift, blockID, audit.Success, "lifted by "+by)
	b, err := a.store.LiftResponseBlock(ctx, blockID, by, now, rec)
	if errors.Is(err, ErrNoBlock) || errors.Is(err, ErrNotInForce) {
		return Block{}, ErrBlockNotFound
	}
	if err != nil {
		return Block{}, fmt.Errorf("lift block %s: %w", blockID, err)
	}
	if b.Subject.Kind == finding.IP && a.edge != nil {
		if err := a.edge.LiftAddress(ctx, b.Subject.ID); err != nil {
			return b, fmt.Errorf("lift block %s at the edge: %w", blockID, err)
		}
	}
	if a.checker != nil {
		a.checker.remove(b.Subject)
	}
	return b, nil
}
