package pricing_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/pricing"
	"github.com/bulwark-shop/bulwark/internal/throttle"
)

// TestGuard: codes are counted before they are evaluated, so tries sent all
// at once get no more evaluations than tries sent one by one; an IPv6 line
// is one address; the lock lifts after GuessLock.
func TestGuard(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	ctx := context.Background()

	t.Run("concurrent tries get the limit, no more", func(t *testing.T) {
		g := pricing.NewGuard(throttle.NewMemory(clock, 0))
		var wg sync.WaitGroup
		var allowed, refused, locks int
		var count sync.Mutex
		for range 3 * pricing.GuessesPerCustomer {
			wg.Add(1)
			go func() {
				defer wg.Done()
				locked, err := g.Attempt(ctx, "usr_racer", "203.0.113.9")
				count.Lock()
				defer count.Unlock()
				locks += len(locked)
				switch {
				case err == nil:
					allowed++
				case apperr.Code(err) == apperr.CodeTooManyAttempts:
					refused++
				default:
					t.Errorf("attempt: %v", err)
				}
			}()
		}
		wg.Wait()
		if allowed != pricing.GuessesPerCustomer || locks != 1 {
			t.Fatalf("%d tries allowed (%d refused), %d locks: want %d and 1", allowed, refused, locks, pricing.GuessesPerCustomer)
		}
	})

	t.Run("one IPv6 /64 is one address, whatever the accounts", func(t *testing.T) {
		g := pricing.NewGuard(throttle.NewMemory(clock, 0))
		allowed := 0
		for i := range 2 * pricing.GuessesPerAddress {
			// A fresh account and a fresh address of the same line each time.
			ip := fmt.Sprintf("2001:db8:7:7::%x", i+1)
			if _, err := g.Attempt(ctx, "usr_"+ip, ip); err == nil {
				allowed++
			}
		}
		if allowed != pricing.GuessesPerAddress {
			t.Fatalf("%d tries allowed from one /64, want %d", allowed, pricing.GuessesPerAddress)
		}
	})

	t.Run("the lock lifts after GuessLock", func(t *testing.T) {
		g := pricing.NewGuard(throttle.NewMemory(clock, 0))
		for range pricing.GuessesPerCustomer + 1 {
			_, _ = g.Attempt(ctx, "usr_patient", "")
		}
		if _, err := g.Attempt(ctx, "usr_patient", ""); apperr.Code(err) != apperr.CodeTooManyAttempts {
			t.Fatalf("while locked: %v", err)
		}
		mu.Lock()
		now = now.Add(pricing.GuessLock + time.Second)
		mu.Unlock()
		if _, err := g.Attempt(ctx, "usr_patient", ""); err != nil {
			t.Fatalf("after the lock: %v", err)
		}
	})
}
