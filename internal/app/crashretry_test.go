package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// pendingOrders counts the checkouts cfg's database holds half done.
func pendingOrders(t *testing.T, cfg config.Config) int {
	t.Helper()
	db, err := store.Open(context.Background(), store.Options{DatabaseURL: cfg.DatabaseURL, DataDir: cfg.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	left, err := db.ExpiredPending(context.Background(), time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return len(left)
}

// TestCheckoutRetryAfterCrash kills a server with SIGKILL while checkouts run,
// restarts it, and retries every checkout that got no answer with its own
// Idempotency-Key: each gets a definite answer within seconds (a checkout
// left half done is recovered once its lease, 3 s here, has run out, at
// start-up or at the retry), never request_in_progress for minutes; and
// stock, orders and charges reconcile: one charge per order.
func TestCheckoutRetryAfterCrash(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		cfg := testConfig(db)
		const initial, lease = 1000, "3s"
		first := startProcess(t, cfg, "--pending-order-timeout", lease)
		admin := first.createAdmin("retry-admin@example.com")
		adminSecret := first.secrets["retry-admin@example.com"]
		p := first.createProduct(admin, "RETRY-1", initial)
		type job struct {
			who  shopper
			cart string
			key  string
		}
		var jobs []job
		for i := range 3 {
			sh := first.shopper(fmt.Sprintf("retry%d@example.com", i), "4242424242424242")
			for k := range 30 {
				jobs = append(jobs, job{sh, first.cartWith(sh, 1, p.ID), fmt.Sprintf("retry-%d-%d", i, k)})
			}
		}

		// Checkouts from 8 clients; the server is killed once 30 were sent.
		var (
			mu         sync.Mutex
			unanswered []job
			sent       atomic.Int64
		)
		work := make(chan job)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for j := range work {
					sent.Add(1)
					if status, err := tryCheckout(first.URL, j.who, j.key, j.cart); err != nil || status != 201 {
						mu.Lock()
						unanswered = append(unanswered, j)
						mu.Unlock()
					}
				}
			})
		}
		// The kill lands while a checkout is half done: once 30 were sent, the
		// database is watched (for at most 3 s) for a pending order, and the
		// server killed as soon as there is one. Killed at a fixed count, a
		// fast machine sometimes had none in flight and nothing was tested.
		raw := rawDB(t, cfg)
		killedAt := make(chan int64, 1)
		go func() {
			for sent.Load() < 30 {
				time.Sleep(time.Millisecond)
			}
			for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
				var n int
				if err := raw.QueryRow("SELECT COUNT(*) FROM orders WHERE status = 'pending'").Scan(&n); err == nil && n > 0 {
					break
				}
			}
			_ = first.cmd.Process.Kill() // not t.Fatal: this is not the test's goroutine
			<-first.done
			killedAt <- sent.Load()
		}()
		for _, j := range jobs {
			work <- j
		}
		close(work)
		wg.Wait()
		if at := <-killedAt; at >= int64(len(jobs)) && len(unanswered) == 0 {
			t.Fatal("the load finished before the kill")
		}
		left := pendingOrders(t, cfg)
		if left == 0 {
			t.Fatal("no checkout was left half done by the kill: nothing was tested")
		}

		second := startProcess(t, cfg, "--pending-order-timeout", lease)
		restarted := time.Now()
		for _, j := range unanswered {
			for {
				res := second.do(checkoutReq(j.who, j.key, j.cart, "123"))
				if res.Status == 201 {
					break
				}
				if res.Status != 409 || res.Code(t) != "request_in_progress" {
					t.Fatalf("retry of %s = %d %s", j.key, res.Status, res.Body)
				}
				if time.Since(restarted) > 10*time.Second {
					t.Fatalf("retry of %s still answers request_in_progress %s after the restart", j.key, time.Since(restarted).Round(time.Second))
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
		t.Logf("%d checkouts left half done by the kill; %d retries answered within %s of the restart",
			left, len(unanswered), time.Since(restarted).Round(100*time.Millisecond))

		// Every job is now paid exactly once: one order per cart, one charge each.
		adminAgain := second.loginWithMFA("retry-admin@example.com", adminSecret)
		var list struct{ Items []orderJSON }
		second.must(200, req{method: "GET", path: "/api/v1/admin/orders?limit=100", token: adminAgain}).JSON(t, &list)
		if len(list.Items) != len(jobs) {
			t.Fatalf("%d orders for %d carts", len(list.Items), len(jobs))
		}
		if got := second.stock(p.ID); got != initial-int64(len(jobs)) {
			t.Fatalf("stock %d, want %d", got, initial-len(jobs))
		}
		if paid := countAuditRaw(t, cfg, "order.checkout", audit.Success); paid != len(jobs) {
			t.Fatalf("%d successful checkouts recorded for %d orders", paid, len(jobs))
		}
		if n := pendingOrders(t, cfg); n != 0 {
			t.Fatalf("%d checkouts still pending", n)
		}
	})
}

// tryCheckout sends a checkout and returns its status, or the error of a
// server that died under it (no answer).
func tryCheckout(base string, sh shopper, key, cart string) (int, error) {
	// The body of checkoutReq, so that a retry through it is the same request.
	body, err := json.Marshal(checkoutReq(sh, key, cart, "123").body)
	if err != nil {
		return 0, err
	}
	r, err := http.NewRequest("POST", base+"/api/v1/checkout", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+sh.token)
	r.Header.Set("Idempotency-Key", key)
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(r)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}
