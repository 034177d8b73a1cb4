package pricing

import (
	"context"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/reqinfo"
	"github.com/bulwark-shop/bulwark/internal/throttle"
)

// Limits on trying discount codes. Every code tried counts, before it is
// evaluated and whatever the answer: counted after, concurrent tries would
// all be evaluated before the first was counted. A customer applies a code
// or two; a script guessing codes from a dictionary (SAVE10, SUMMER25,
// STAFF100…) meets the limit within its first minute.
const (
	// GuessesPerCustomer codes tried in GuessWindow lock the customer's code
	// entry for GuessLock.
	GuessesPerCustomer = 10
	// GuessesPerAddress codes tried in GuessWindow from one client address
	// (an IPv6 /64), over every account, lock code entry from that address:
	// many fresh accounts on one address do not buy more guesses.
	GuessesPerAddress = 30
	GuessWindow       = time.Hour
	GuessLock         = time.Hour
)

// errCodeGuessing refuses a discount code from a customer or an address that
// has tried too many; RetryAfter says when it may try again.
func errCodeGuessing(wait time.Duration) error {
	e := apperr.New(apperr.CodeTooManyAttempts, "too many discount codes were tried; try again later")
	e.RetryAfter = wait
	return e
}

// Guard rate-limits discount codes per customer and per client address. It
// keeps its counters in a throttle.Store (the shop's database, shared by
// every instance and surviving restarts, as the login throttle does).
type Guard struct{ store throttle.Store }

// NewGuard returns a guard over store.
func NewGuard(store throttle.Store) *Guard { return &Guard{store: store} }

type guessRule struct {
	what, key string
	limit     int64
}

func guessRules(customerID, ip string) []guessRule {
	rules := []guessRule{{"customer", "discount:customer:" + customerID, GuessesPerCustomer}}
	if ip != "" { // "": no client address known (an internal call)
		rules = append(rules, guessRule{"address", "discount:address:" + reqinfo.AddressKey(ip), GuessesPerAddress})
	}
	return rules
}

// Attempt counts a code the customer is about to try from ip. It refuses
// (429 too_many_attempts, with Retry-After) while the customer's or the
// address's code entry is locked, and when this try goes past a limit, which
// locks it for GuessLock; it then reports what it locked ("customer",
// "address": for the audit trail and threat detection, a lock is a guessing
// signal). While locked every code is refused, valid or not, so the lock
// tells a guesser nothing about the codes.
func (g *Guard) Attempt(ctx context.Context, customerID, ip string) (locked []string, err error) {
	rules := guessRules(customerID, ip)
	for _, r := range rules {
		wait, err := g.store.Locked(ctx, "lock:"+r.key)
		if err != nil {
			return nil, fmt.Errorf("check discount code lock: %w", err)
		}
		if wait > 0 {
			return nil, errCodeGuessing(wait)
		}
	}
	over := false
	for _, r := range rules {
		n, err := g.store.Incr(ctx, "count:"+r.key, GuessWindow)
		if err != nil {
			return locked, fmt.Errorf("count discount code: %w", err)
		}
		switch {
		case n <= r.limit:
			continue
		case n == r.limit+1:
			// The first try past the limit locks, and reports it (once:
			// tries racing with it are refused without a second lock). The
			// count is not reset: it lapses with its window, within the lock.
			if err := g.store.Lock(ctx, "lock:"+r.key, GuessLock); err != nil {
				return locked, fmt.Errorf("lock discount codes: %w", err)
			}
			locked = append(locked, r.what)
		}
		over = true
	}
	if over {
		return locked, errCodeGuessing(GuessLock)
	}
	return nil, nil
}
