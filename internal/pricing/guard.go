package pricing

import (
	"context"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/throttle"
)

// Limits on trying discount codes. A customer who mistypes a code a few
// times stays far below them; a script guessing codes from a dictionary
// (SAVE10, SUMMER25, STAFF100…) meets them within its first minute.
const (
	// GuessesPerCustomer refused codes in GuessWindow lock the customer's
	// code entry for GuessLock.
	GuessesPerCustomer = 10
	// GuessesPerAddress refused codes in GuessWindow from one client
	// address, over every account, lock code entry from that address: many
	// fresh accounts on one address do not buy more guesses.
	GuessesPerAddress = 30
	GuessWindow       = time.Hour
	GuessLock         = time.Hour
)

// errCodeGuessing refuses a discount code from a customer or an address that
// has had too many refused; RetryAfter says when it may try again.
func errCodeGuessing(wait time.Duration) error {
	e := apperr.New(apperr.CodeTooManyAttempts, "too many discount codes were refused; try again later")
	e.RetryAfter = wait
	return e
}

// Guard rate-limits discount codes per customer and per client address. It
// keeps its counters in a throttle.Store (the shop's database, shared by
// every instance and surviving restarts, as the login throttle does).
type Guard struct{ store throttle.Store }

// NewGuard returns a guard over store.
func NewGuard(store throttle.Store) *Guard { return &Guard{store: store} }

func customerCodeKey(customerID string) string { return "discount:customer:" + customerID }
func addressCodeKey(ip string) string          { return "discount:address:" + ip }

// Check returns errCodeGuessing (429 too_many_attempts, with Retry-After)
// while the customer's or the address's code entry is locked. Every code is
// refused then, valid or not, so the lock itself tells a guesser nothing.
func (g *Guard) Check(ctx context.Context, customerID, ip string) error {
	keys := []string{customerCodeKey(customerID)}
	if ip != "" { // "": no client address known (an internal call)
		keys = append(keys, addressCodeKey(ip))
	}
	for _, k := range keys {
		wait, err := g.store.Locked(ctx, "lock:"+k)
		if err != nil {
			return fmt.Errorf("check discount code lock: %w", err)
		}
		if wait > 0 {
			return errCodeGuessing(wait)
		}
	}
	return nil
}

// Refused counts a refused code (discount_invalid or discount_exhausted) for
// the customer and the address. It reports what it locked (for the audit
// trail and threat detection: a lock is a guessing signal), if anything.
func (g *Guard) Refused(ctx context.Context, customerID, ip string) ([]string, error) {
	rules := []struct {
		what, key string
		limit     int64
	}{
		{"customer", customerCodeKey(customerID), GuessesPerCustomer},
		{"address", addressCodeKey(ip), GuessesPerAddress},
	}
	var locked []string
	for _, r := range rules {
		if r.what == "address" && ip == "" {
			continue
		}
		n, err := g.store.Incr(ctx, "count:"+r.key, GuessWindow)
		if err != nil {
			return locked, fmt.Errorf("count refused discount code: %w", err)
		}
		if n < r.limit {
			continue
		}
		if err := g.store.Lock(ctx, "lock:"+r.key, GuessLock); err != nil {
			return locked, fmt.Errorf("lock discount codes: %w", err)
		}
		if err := g.store.Reset(ctx, "count:"+r.key); err != nil {
			return locked, fmt.Errorf("reset discount code count: %w", err)
		}
		locked = append(locked, r.what)
	}
	return locked, nil
}
