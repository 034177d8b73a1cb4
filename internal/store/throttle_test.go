package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/testenv"
	"github.com/bulwark-shop/bulwark/internal/throttle"
)

// TestLoginThrottle runs the login throttle on the database store, the one
// the shop uses on both engines, with a clock the test moves.
func TestLoginThrottle(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := mustOpen(t, d)
		ctx := context.Background()
		var mu sync.Mutex
		now := time.Unix(1_800_000_000, 0)
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
		st := db.LoginThrottle(clock)
		l := throttle.New(st)

		t.Run("ten failures lock the pair for 30 minutes, then the lock ends", func(t *testing.T) {
			for range throttle.PairFailures {
				if _, err := l.Failed(ctx, "a@example.com", "10.0.0.1", false); err != nil {
					t.Fatal(err)
				}
			}
			if d, err := l.Check(ctx, "a@example.com", "10.0.0.1"); err != nil || d != throttle.PairLock {
				t.Fatalf("wait = %v, %v; want %v", d, err, throttle.PairLock)
			}
			if d, _ := l.Check(ctx, "a@example.com", "10.0.0.2"); d != 0 {
				t.Fatalf("another address waits %v", d)
			}
			advance(throttle.PairLock)
			if d, err := l.Check(ctx, "a@example.com", "10.0.0.1"); err != nil || d != 0 {
				t.Fatalf("wait after the lock = %v, %v", d, err)
			}
		})
		t.Run("a count starts again once its window has passed", func(t *testing.T) {
			for _, want := range []int64{1, 2} {
				if n, err := st.Incr(ctx, "count:w", time.Minute); err != nil || n != want {
					t.Fatalf("Incr = %d, %v; want %d", n, err, want)
				}
			}
			advance(time.Minute)
			if n, err := st.Incr(ctx, "count:w", time.Minute); err != nil || n != 1 {
				t.Fatalf("Incr after the window = %d, %v; want 1", n, err)
			}
		})
		t.Run("concurrent failures are all counted", func(t *testing.T) {
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					if _, err := st.Incr(ctx, "count:c", time.Hour); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if n, err := st.Incr(ctx, "count:c", time.Hour); err != nil || n != 9 {
				t.Fatalf("count after 8 concurrent and 1 more = %d, %v; want 9", n, err)
			}
		})
		t.Run("a reopened database still holds the lock", func(t *testing.T) {
			if err := st.Lock(ctx, "lock:r", time.Hour); err != nil {
				t.Fatal(err)
			}
			again, err := store.Open(ctx, store.Options{DatabaseURL: d.DatabaseURL, DataDir: d.DataDir})
			if err != nil {
				t.Fatal(err)
			}
			defer again.Close()
			if d, err := again.LoginThrottle(clock).Locked(ctx, "lock:r"); err != nil || d != time.Hour {
				t.Fatalf("lock after reopening = %v, %v", d, err)
			}
		})
		t.Run("retention deletes what has expired", func(t *testing.T) {
			advance(2 * time.Hour)
			p, err := db.Purge(ctx, clock(), store.Retention{IdempotencyKeys: 24 * time.Hour, AbandonedCarts: 24 * time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if p.LoginCounters < 3 {
				t.Fatalf("purged %d expired throttle rows, want the 3 or more left by the subtests above", p.LoginCounters)
			}
		})
	})
}
