package response

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-shop/bulwark/internal/finding"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/pacing"
)

// Block is one block a response raised: the record of what was refused,
// why (the finding) and until when. Address blocks are also enforced by the
// edge's dynamic block list; card and account blocks by Checker.
type Block struct {
	ID        string          `json:"id"`
	Subject   finding.Subject `json:"subject"`
	Action    Action          `json:"action"`
	FindingID string          `json:"finding_id"`
	CreatedAt time.Time       `json:"created_at"`
	ExpiresAt time.Time       `json:"expires_at"`
	// LiftedAt and LiftedBy are set when staff lifted the block early.
	LiftedAt *time.Time `json:"lifted_at,omitempty"`
	LiftedBy string     `json:"lifted_by,omitempty"`
	// Repeat counts this block among the subject's blocks within RepeatWindow.
	Repeat int `json:"repeat"`
}

// Active reports whether b refuses its subject at now.
func (b Block) Active(now time.Time) bool { return b.LiftedAt == nil && b.ExpiresAt.After(now) }

// Store keeps the blocks responses raise.
type Store interface {
	// RecordBlock stores b.
	RecordBlock(ctx context.Context, b Block) error
	// BlockCount returns how many blocks subject had created since since.
	BlockCount(ctx context.Context, subject finding.Subject, since time.Time) (int, error)
	// ActiveBlocks returns the blocks in force at now (not lifted, not
	// expired), at most limit of them, latest-ending first.
	ActiveBlocks(ctx context.Context, now time.Time, limit int) ([]Block, error)
	// BlockInForce reports whether subject has a block in force at now.
	BlockInForce(ctx context.Context, subject finding.Subject, now time.Time) (bool, error)
	// SetFindingResponse records on the finding what was done about it.
	SetFindingResponse(ctx context.Context, findingID, response string) error
}

// AddressBlocker enforces address blocks at the edge (edge.Guard is one):
// shared through Redis when it is configured, the database otherwise.
type AddressBlocker interface {
	BlockBecause(ctx context.Context, addr string, d time.Duration, reason string) error
}

// Responder acts on findings under a policy: it is the threat intake's
// Raised hook.
type Responder struct {
	policy  *Policy
	store   Store
	edge    AddressBlocker
	exempt  func(addr string) bool
	checker *Checker
	log     *slog.Logger
	now     func() time.Time
	// mu orders the intake's workers' responses: two observations of one
	// subject handled at once would otherwise both find no block in force
	// and block it twice (counting a repeat that never was). Across
	// instances the shared counter gives each threshold's worth of signals
	// to one instance only.
	mu sync.Mutex
}

// Config is what a Responder needs. Exempt reports addresses that must
// never be blocked; Checker, when set, learns of this instance's card and
// account blocks at once (others see them within its refresh).
type Config struct {
	Policy  *Policy
	Store   Store
	Edge    AddressBlocker
	Exempt  func(addr string) bool
	Checker *Checker
	Log     *slog.Logger
	Now     func() time.Time
}

// NewResponder returns the responder of c.
func NewResponder(c Config) *Responder {
	exempt := c.Exempt
	if exempt == nil {
		exempt = func(string) bool { return false }
	}
	return &Responder{policy: c.Policy, store: c.Store, edge: c.Edge, exempt: exempt, checker: c.Checker, log: c.Log, now: c.Now}
}

// Respond decides what to do about f, does it, and records it on the
// finding's response field; it returns the decision. A block is recorded
// before it is enforced, so a failure to enforce leaves a record that says
// so in the log rather than an unexplained refusal.
func (r *Responder) Respond(ctx context.Context, f finding.Finding) (Decision, error) {
	now := r.now().UTC().Truncate(time.Microsecond)
	facts := Facts{Exempt: f.Subject.Kind == finding.IP && r.exempt(f.Subject.ID),
		Unblockable: f.Subject.Kind == finding.IP && strings.Contains(f.Subject.ID, "/")}
	rule := r.policy.Rule(f.Type, f.Subject.Kind)
	if rule.Action.Timed() && !facts.Exempt && !facts.Unblockable {
		n, err := r.store.BlockCount(ctx, f.Subject, now.Add(-RepeatWindow))
		if err != nil {
			return Decision{}, fmt.Errorf("respond to %s: count earlier blocks: %w", f.ID, err)
		}
		facts.Repeats = n
	}
	d := r.policy.Decide(f, facts)
	if d.Action.Timed() {
		b := Block{ID: id.New(id.Block), Subject: f.Subject, Action: d.Action, FindingID: f.ID, CreatedAt: now,
			ExpiresAt: now.Add(d.For), Repeat: d.Repeat}
		if err := r.store.RecordBlock(ctx, b); err != nil {
			return d, fmt.Errorf("respond to %s: record block: %w", f.ID, err)
		}
		switch d.Action {
		case BlockAddress:
			if r.edge != nil {
				reason := "finding " + f.ID + " " + string(f.Type) + " (block " + b.ID + ", repeat " + strconv.Itoa(d.Repeat) + ")"
				if err := r.edge.BlockBecause(ctx, f.Subject.ID, d.For, reason); err != nil {
					return d, fmt.Errorf("respond to %s: %w", f.ID, err)
				}
			}
		}
		if r.checker != nil {
			r.checker.add(b)
		}
	}
	if err := r.store.SetFindingResponse(ctx, f.ID, d.Response()); err != nil {
		return d, fmt.Errorf("respond to %s: %w", f.ID, err)
	}
	if r.log != nil && d.Action != Log {
		r.log.WarnContext(ctx, "response: acted on finding", "finding", f.ID, "type", string(f.Type),
			"subject", f.Subject.String(), "response", d.Response())
	}
	return d, nil
}

// Observed is the threat intake's Observed hook. A raised finding is
// responded to. A further observation of an open finding is responded to
// only when its rule blocks and the subject has no block in force: the
// subject whose block ended and who starts again is blocked again, for
// longer, while an observation during a block (or of a rule that only
// records an intent) changes nothing. Failures are logged: the finding
// stays, with the detector's response.
func (r *Responder) Observed(ctx context.Context, f finding.Finding, raised bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !raised {
		if f.Status != finding.Active || !r.policy.Rule(f.Type, f.Subject.Kind).Action.Timed() {
			return
		}
		in, err := r.store.BlockInForce(ctx, f.Subject, r.now())
		if err != nil {
			r.logFailure(ctx, f, err)
			return
		}
		if in {
			return
		}
	}
	if _, err := r.Respond(ctx, f); err != nil {
		r.logFailure(ctx, f, err)
	}
}

func (r *Responder) logFailure(ctx context.Context, f finding.Finding, err error) {
	if r.log != nil {
		r.log.ErrorContext(ctx, "response: could not act on finding", "finding", f.ID, "err", err)
	}
}

// Checker answers whether a card fingerprint or an account is blocked now,
// from a copy of the blocks in force that is at most RefreshEvery old: no
// request reads the database. A block this instance raised is in the copy
// at once; one raised or lifted elsewhere within RefreshEvery.
type Checker struct {
	store Store
	now   func() time.Time
	log   *slog.Logger

	mu     sync.RWMutex
	blocks map[finding.Subject]time.Time
	// delays are the addresses under Delay, until when; holds the subjects
	// whose orders are held for review (HoldOrders), until when.
	delays map[string]time.Time
	holds  map[finding.Subject]time.Time
	// stepUps are the accounts under StepUp: since when (sessions begun
	// before must sign in again) and until when.
	stepUps map[string]window
}

// window is a response's span of time.
type window struct{ since, until time.Time }

// RefreshEvery bounds how stale a Checker's copy is; MaxLoaded bounds its size.
const (
	RefreshEvery = 500 * time.Millisecond
	MaxLoaded    = 100_000
)

// NewChecker returns a checker over store with an empty copy (Refresh or
// Run fill it).
func NewChecker(store Store, now func() time.Time, log *slog.Logger) *Checker {
	return &Checker{store: store, now: now, log: log, blocks: map[finding.Subject]time.Time{}, delays: map[string]time.Time{},
		holds: map[finding.Subject]time.Time{}, stepUps: map[string]window{}}
}

// Refresh replaces the copy with the blocks in force now. On error the old
// copy stays.
func (c *Checker) Refresh(ctx context.Context) error {
	bs, err := c.store.ActiveBlocks(ctx, c.now(), MaxLoaded)
	if err != nil {
		return fmt.Errorf("load blocks in force: %w", err)
	}
	fresh := &Checker{blocks: make(map[finding.Subject]time.Time, len(bs)), delays: map[string]time.Time{}, holds: map[finding.Subject]time.Time{},
		stepUps: map[string]window{}}
	for _, b := range bs {
		fresh.keep(b)
	}
	c.mu.Lock()
	c.blocks, c.delays, c.holds, c.stepUps = fresh.blocks, fresh.delays, fresh.holds, fresh.stepUps
	c.mu.Unlock()
	return nil
}

// keep files b in the copy by what it does; the caller holds mu (or owns
// c alone).
func (c *Checker) keep(b Block) {
	later := func(m map[finding.Subject]time.Time) {
		if b.ExpiresAt.After(m[b.Subject]) {
			m[b.Subject] = b.ExpiresAt
		}
	}
	switch b.Action {
	case Delay:
		if b.Subject.Kind == finding.IP && b.ExpiresAt.After(c.delays[b.Subject.ID]) {
			c.delays[b.Subject.ID] = b.ExpiresAt
		}
	case HoldOrders:
		later(c.holds)
	case StepUp:
		if b.Subject.Kind != finding.Account {
			return
		}
		w := c.stepUps[b.Subject.ID]
		if b.CreatedAt.After(w.since) {
			w.since = b.CreatedAt
		}
		if b.ExpiresAt.After(w.until) {
			w.until = b.ExpiresAt
		}
		c.stepUps[b.Subject.ID] = w
	default:
		// Address blocks are kept too, for the count (Active); the edge
		// enforces them.
		later(c.blocks)
	}
}

// Run refreshes the copy every RefreshEvery until ctx ends; failures are
// logged at most once a minute.
func (c *Checker) Run(ctx context.Context) {
	pacing.Every(ctx, RefreshEvery, 5*RefreshEvery, c.Refresh, func(err error) {
		if c.log != nil {
			c.log.WarnContext(ctx, "response: blocks not refreshed; the last copy holds", "err", err)
		}
	})
}

func (c *Checker) add(b Block) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keep(b)
}

func (c *Checker) remove(s finding.Subject) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.blocks, s)
	delete(c.holds, s)
	if s.Kind == finding.Account {
		delete(c.stepUps, s.ID)
	}
	if s.Kind == finding.IP {
		delete(c.delays, s.ID)
	}
}

// StepUpSince returns since when the account must prove itself again
// (StepUp): its sessions begun before count as not recently authenticated.
// The zero time when no step-up is in force.
func (c *Checker) StepUpSince(accountID string) time.Time {
	c.mu.RLock()
	w, ok := c.stepUps[accountID]
	c.mu.RUnlock()
	if !ok || !w.until.After(c.now()) {
		return time.Time{}
	}
	return w.since
}

// OrdersHeld reports whether orders from the address key ip, the account or
// the card fingerprint are held for review now (HoldOrders): fraud scoring
// asks it for every checkout.
func (c *Checker) OrdersHeld(ip, account, card string) bool {
	now := c.now()
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, s := range []finding.Subject{{Kind: finding.IP, ID: ip}, {Kind: finding.Account, ID: account}, {Kind: finding.Card, ID: card}} {
		if until, ok := c.holds[s]; s.ID != "" && ok && until.After(now) {
			return true
		}
	}
	return false
}

// Delayed reports whether requests from the address key ip are delayed now
// (see Delay): the edge asks it before admitting a request that needs a
// password hash.
func (c *Checker) Delayed(ip string) bool {
	if ip == "" {
		return false
	}
	c.mu.RLock()
	until, ok := c.delays[ip]
	c.mu.RUnlock()
	return ok && until.After(c.now())
}

// Active returns how many subjects have a response block in force in the
// copy (the bulwark_blocks_active gauge).
func (c *Checker) Active() int {
	now := c.now()
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := 0
	for _, until := range c.blocks {
		if until.After(now) {
			n++
		}
	}
	return n
}

func (c *Checker) blocked(s finding.Subject) bool {
	if s.ID == "" {
		return false
	}
	c.mu.RLock()
	until, ok := c.blocks[s]
	c.mu.RUnlock()
	return ok && until.After(c.now())
}

// CardBlocked reports whether checkout with the card of fingerprint fp is
// refused now (the checkout calls it with the fingerprint it computed).
func (c *Checker) CardBlocked(fp string) bool {
	return c.blocked(finding.Subject{Kind: finding.Card, ID: fp})
}

// AccountLocked reports whether sign-in to the account is refused now.
func (c *Checker) AccountLocked(accountID string) bool {
	return c.blocked(finding.Subject{Kind: finding.Account, ID: accountID})
}

// AccountLockedFor returns how long sign-in to the account stays refused
// (0 when it is not): identity's login gate asks it.
func (c *Checker) AccountLockedFor(accountID string) time.Duration {
	if accountID == "" {
		return 0
	}
	c.mu.RLock()
	until, ok := c.blocks[finding.Subject{Kind: finding.Account, ID: accountID}]
	c.mu.RUnlock()
	if d := until.Sub(c.now()); ok && d > 0 {
		return d
	}
	return 0
}

// Errors of lifting a block.
var (
	ErrNoBlock    = errors.New("no such block")
	ErrNotInForce = errors.New("block not in force")
)

// ActionLift is the audit action of a block lifted early; the target is the block id.
const ActionLift = "response.block_lifted"
