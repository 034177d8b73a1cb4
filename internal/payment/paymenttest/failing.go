// Package paymenttest holds test doubles of the card processor: a gateway
// that fails on command, so that tests reach the compensations of the money
// path (void after a failed capture, refund after a failed completion, the
// order's refunded total restored after a refused refund) that a healthy
// processor never makes run.
package paymenttest

import (
	"context"
	"errors"
	"sync"

	"github.com/bulwark-shop/bulwark/internal/dependency"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/payment"
)

// ErrCommanded is the failure the gateway was told to give, marked as an
// outage of dependency.Payment, as the Stripe adapter marks a processor that
// cannot answer (503 unavailable with Retry-After).
var ErrCommanded = dependency.Wrap(dependency.Payment, errors.New("paymenttest: failure on command"))

// Op is a gateway operation.
type Op string

// The operations.
const (
	Authorize Op = "authorize"
	Capture   Op = "capture"
	Void      Op = "void"
	Refund    Op = "refund"
)

// FailingGateway is the Simulator, except for the next calls it is told to
// fail or decline. It counts every call and every success per operation,
// and keeps the ledger of what the processor holds: authorizations not yet
// captured or voided, captured amounts, refunded amounts. It is safe for
// concurrent use.
type FailingGateway struct {
	sim payment.Simulator

	mu       sync.Mutex
	fail     map[Op]int
	declines int
	// lost counts authorizations to make whose answer is then lost.
	lost     int
	calls    map[Op]int
	ok       map[Op]int
	held     map[string]money.Money // authorized, neither captured nor voided
	captured map[string]money.Money
	refunded map[string]money.Money
}

var _ payment.Gateway = (*FailingGateway)(nil)

// NewFailingGateway returns a gateway that fails nothing until told.
func NewFailingGateway() *FailingGateway {
	return &FailingGateway{fail: map[Op]int{}, calls: map[Op]int{}, ok: map[Op]int{},
		held: map[string]money.Money{}, captured: map[string]money.Money{}, refunded: map[string]money.Money{}}
}

// FailNext makes the next n calls of op fail with ErrCommanded.
func (g *FailingGateway) FailNext(op Op, n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fail[op] += n
}

// DeclineNextAuthorize makes the next authorization a decline (payment.ErrDeclined).
func (g *FailingGateway) DeclineNextAuthorize() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.declines++
}

// LoseNextAuthorizeAnswer makes the next authorization hold the amount and
// then answer ErrCommanded, as a processor whose answer never came back.
func (g *FailingGateway) LoseNextAuthorizeAnswer() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.lost++
}

// Calls is how often op was called; Succeeded how often it succeeded.
func (g *FailingGateway) Calls(op Op) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[op]
}

// Succeeded is how often op succeeded.
func (g *FailingGateway) Succeeded(op Op) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ok[op]
}

// Ledger is what the processor holds for the shop.
type Ledger struct {
	// Held is the number of authorizations neither captured nor voided.
	Held int
	// Captured and Refunded are sums in minor units over every currency.
	Captured, Refunded int64
}

// Ledger returns the processor's books.
func (g *FailingGateway) Ledger() Ledger {
	g.mu.Lock()
	defer g.mu.Unlock()
	var l Ledger
	l.Held = len(g.held)
	for _, m := range g.captured {
		l.Captured += m.Amount
	}
	for _, m := range g.refunded {
		l.Refunded += m.Amount
	}
	return l
}

// begin counts a call of op and reports whether it is to fail.
func (g *FailingGateway) begin(op Op) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls[op]++
	if g.fail[op] > 0 {
		g.fail[op]--
		return true
	}
	return false
}

func (g *FailingGateway) done(op Op, f func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ok[op]++
	f()
}

// Authorize declines or fails on command, else asks the Simulator.
func (g *FailingGateway) Authorize(ctx context.Context, req payment.AuthorizeRequest) (string, error) {
	if g.begin(Authorize) {
		return "", ErrCommanded
	}
	g.mu.Lock()
	decline := g.declines > 0
	if decline {
		g.declines--
	}
	g.mu.Unlock()
	if decline {
		return "", payment.ErrDeclined
	}
	id, err := g.sim.Authorize(ctx, req)
	if err != nil {
		return "", err
	}
	g.done(Authorize, func() { g.held[id] = req.Amount })
	g.mu.Lock()
	lose := g.lost > 0
	if lose {
		g.lost--
	}
	g.mu.Unlock()
	if lose {
		return "", ErrCommanded
	}
	return id, nil
}

// Capture fails on command, else captures.
func (g *FailingGateway) Capture(ctx context.Context, id string, amount money.Money) error {
	if g.begin(Capture) {
		return ErrCommanded
	}
	if err := g.sim.Capture(ctx, id, amount); err != nil {
		return err
	}
	g.done(Capture, func() { delete(g.held, id); g.captured[id] = amount })
	return nil
}

// Void fails on command, else releases the authorization.
func (g *FailingGateway) Void(ctx context.Context, id string) error {
	if g.begin(Void) {
		return ErrCommanded
	}
	g.mu.Lock()
	_, captured := g.captured[id]
	g.mu.Unlock()
	if captured {
		// As a processor does: a captured payment is refunded, not voided.
		return errors.New("paymenttest: cannot void a captured payment")
	}
	if err := g.sim.Void(ctx, id); err != nil {
		return err
	}
	g.done(Void, func() { delete(g.held, id) })
	return nil
}

// Refund fails on command, else refunds (never above the capture).
func (g *FailingGateway) Refund(ctx context.Context, id string, amount money.Money, reference string) (string, error) {
	if g.begin(Refund) {
		return "", ErrCommanded
	}
	g.mu.Lock()
	c, r := g.captured[id], g.refunded[id]
	g.mu.Unlock()
	if amount.Amount > c.Amount-r.Amount {
		return "", errors.New("paymenttest: refund above the capture")
	}
	rid, err := g.sim.Refund(ctx, id, amount, reference)
	if err != nil {
		return "", err
	}
	g.done(Refund, func() { r.Amount += amount.Amount; r.Currency = amount.Currency; g.refunded[id] = r })
	return rid, nil
}
