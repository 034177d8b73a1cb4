package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/payment/stripe/stripetest"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// The tests here kill the shop (SIGKILL) while money moves, against a
// processor that keeps books (stripetest.Ledger: Stripe's API with state and
// Idempotency-Keys), restart it, let the clients retry with their keys, and
// then compare the shop's books with the processor's: what each order says
// was captured and refunded is what the processor captured and refunded,
// once.

// ledgerEnv points a process at the ledger as its Stripe.
func ledgerEnv(l *stripetest.Ledger) []string {
	return []string{"BULWARK_PAYMENT_GATEWAY=stripe", "BULWARK_STRIPE_API_BASE=" + l.URL,
		"BULWARK_STRIPE_SECRET_KEY=sk_test_bulwarkLedger"}
}

// waitForRow polls cfg's database (for at most 3 s) until query counts at
// least one row, so that a kill lands while an operation is half done.
func waitForRow(t *testing.T, cfg config.Config, query string) {
	t.Helper()
	raw := rawDB(t, cfg)
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		var n int
		if err := raw.QueryRow(query).Scan(&n); err == nil && n > 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func countRows(t *testing.T, cfg config.Config, query string) int {
	t.Helper()
	var n int
	if err := rawDB(t, cfg).QueryRow(query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// post sends a JSON request and returns its status, or the error of a server
// that died under it.
func post(base, path, token, key string, body any) (int, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	r, err := http.NewRequest("POST", base+path, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+token)
	r.Header.Set("Idempotency-Key", key)
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(r)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

// killMidLoad sends jobs from 6 clients to p, kills p (SIGKILL) once after
// of them were sent and query counts a row in cfg's database (an operation
// half done; watched for at most 3 s), and returns the jobs that send did
// not see succeed: those the kill cut off and those never sent.
func killMidLoad[J any](t *testing.T, p *process, cfg config.Config, jobs []J, after int64, query string, send func(J) bool) []J {
	t.Helper()
	var (
		mu         sync.Mutex
		unanswered []J
		sent       atomic.Int64
	)
	work := make(chan J)
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for j := range work {
				sent.Add(1)
				if !send(j) {
					mu.Lock()
					unanswered = append(unanswered, j)
					mu.Unlock()
				}
			}
		})
	}
	go func() {
		for sent.Load() < after {
			time.Sleep(time.Millisecond)
		}
		waitForRow(t, cfg, query)
		_ = p.cmd.Process.Kill() // not t.Fatal: this is not the test's goroutine
	}()
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()
	<-p.done
	return unanswered
}

type ledgerOrder struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Total    struct{ Amount int64 }
	Refunded struct{ Amount int64 }
}

// reconcile checks the shop's orders against the ledger: every order's
// intent captured once, for what the order says, and refunded what the
// order says, in as many refunds as wantRefunds (-1: any); every intent of
// no order (a checkout abandoned by the kill) held nothing in the end.
func reconcile(t *testing.T, orders []ledgerOrder, l *stripetest.Ledger, wantRefunds int) {
	t.Helper()
	byRef := map[string]stripetest.Intent{}
	for _, in := range l.Intents() {
		if _, dup := byRef[in.Reference]; dup {
			t.Fatalf("two intents for %s", in.Reference)
		}
		byRef[in.Reference] = in
	}
	for _, o := range orders {
		in, ok := byRef[o.ID]
		if !ok {
			t.Fatalf("order %s has no intent at the processor", o.ID)
		}
		delete(byRef, o.ID)
		// Orders are captured in full at checkout.
		if in.Status != "succeeded" || in.Captures != 1 || in.Captured != o.Total.Amount {
			t.Fatalf("order %s (%s, total %d) against intent %+v", o.ID, o.Status, o.Total.Amount, in)
		}
		if in.Refunded != o.Refunded.Amount || (wantRefunds >= 0 && len(in.Refunds) != wantRefunds) {
			t.Fatalf("order %s refunded %d; the processor refunded %d in %d refunds (%+v)", o.ID, o.Refunded.Amount, in.Refunded, len(in.Refunds), in.Refunds)
		}
	}
	for ref, in := range byRef {
		if in.Captured != in.Refunded || in.Status == "requires_capture" {
			t.Fatalf("the processor holds money for %s, which is no order: %+v", ref, in)
		}
	}
}

// TestCheckoutCrashReconcilesWithProcessor kills the shop while checkouts
// wait on the processor, restarts it and retries every unanswered checkout
// with its key: every order is captured once at the processor, for its
// total, and every checkout the kill left half done holds nothing there
// (voided, or refunded if it had been captured).
func TestCheckoutCrashReconcilesWithProcessor(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		cfg := testConfig(db)
		ledger := stripetest.Start(t)
		const lease = "3s"
		first := startProcessWithEnv(t, cfg, ledgerEnv(ledger), "--pending-order-timeout", lease)
		admin := first.createAdmin("ledger-admin@example.com")
		secret := first.secrets["ledger-admin@example.com"]
		p := first.createProduct(admin, "LEDGER-1", 500)
		type job struct {
			who       shopper
			cart, key string
		}
		var jobs []job
		for i := range 3 {
			sh := first.shopper(fmt.Sprintf("ledger%d@example.com", i), "4242424242424242")
			for k := range 10 {
				jobs = append(jobs, job{sh, first.cartWith(sh, 1, p.ID), fmt.Sprintf("ledger-%d-%d", i, k)})
			}
		}
		ledger.SetDelay(20 * time.Millisecond) // each checkout makes 3 calls: a window for the kill

		unanswered := killMidLoad(t, first, cfg, jobs, 10, "SELECT COUNT(*) FROM orders WHERE status = 'pending' AND authorization_id <> ''", func(j job) bool {
			status, err := tryCheckout(first.URL, j.who, j.key, j.cart)
			return err == nil && status == 201
		})
		if pendingOrders(t, cfg) == 0 {
			t.Fatal("no checkout was left half done by the kill: nothing was tested")
		}

		second := startProcessWithEnv(t, cfg, ledgerEnv(ledger), "--pending-order-timeout", lease)
		restarted := time.Now()
		for _, j := range unanswered {
			for {
				res := second.do(checkoutReq(j.who, j.key, j.cart, "123"))
				if res.Status == 201 {
					break
				}
				if res.Status != 409 || res.Code(t) != "request_in_progress" || time.Since(restarted) > 15*time.Second {
					t.Fatalf("retry of %s = %d %s", j.key, res.Status, res.Body)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
		token := second.loginWithMFA("ledger-admin@example.com", secret)
		var list struct{ Items []ledgerOrder }
		second.must(200, req{method: "GET", path: "/api/v1/admin/orders?limit=100", token: token}).JSON(t, &list)
		if len(list.Items) != len(jobs) {
			t.Fatalf("%d orders for %d carts", len(list.Items), len(jobs))
		}
		reconcile(t, list.Items, ledger, 0)
		t.Logf("%d checkouts unanswered by the kill; %d intents at the processor for %d orders", len(unanswered), len(ledger.Intents()), len(jobs))
	})
}

// TestRefundCrashReconcilesWithProcessor kills the shop while refunds wait
// on the processor, restarts it, and retries every unanswered refund with
// its key: the refund the kill interrupted is finished by recovery (asked of
// the processor again under the same reference, which makes it once), the
// retry gets 200 with the order within seconds, and every order's refunded
// amount is what the processor refunded, in exactly the refunds asked for.
func TestRefundCrashReconcilesWithProcessor(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		cfg := testConfig(db)
		ledger := stripetest.Start(t)
		const lease = "3s"
		first := startProcessWithEnv(t, cfg, ledgerEnv(ledger), "--pending-order-timeout", lease)
		admin := first.createAdmin("refund-crash@example.com")
		secret := first.secrets["refund-crash@example.com"]
		p := first.createProduct(admin, "REFUND-CRASH", 100)
		var orders []string
		for i := range 2 {
			sh := first.shopper(fmt.Sprintf("refunded%d@example.com", i), "4242424242424242")
			for k := range 6 {
				var o ledgerOrder
				first.must(201, checkoutReq(sh, fmt.Sprintf("rc-%d-%d", i, k), first.cartWith(sh, 1, p.ID), "123")).JSON(t, &o)
				orders = append(orders, o.ID)
			}
		}
		type job struct{ order, key string }
		var jobs []job
		for _, o := range orders { // two partial refunds of every order
			jobs = append(jobs, job{o, "refund-a-" + o}, job{o, "refund-b-" + o})
		}
		ledger.SetDelay(30 * time.Millisecond)

		unanswered := killMidLoad(t, first, cfg, jobs, 6, "SELECT COUNT(*) FROM refunds WHERE status = 'pending'", func(j job) bool {
			status, err := post(first.URL, "/api/v1/admin/orders/"+j.order+"/refund", admin, j.key,
				map[string]any{"amount": map[string]any{"amount": 100, "currency": "EUR"}})
			return err == nil && status == 200
		})
		left := countRows(t, cfg, "SELECT COUNT(*) FROM refunds WHERE status = 'pending'")
		if left == 0 {
			t.Fatal("no refund was left half done by the kill: nothing was tested")
		}

		second := startProcessWithEnv(t, cfg, ledgerEnv(ledger), "--pending-order-timeout", lease)
		restarted := time.Now()
		token := second.loginWithMFA("refund-crash@example.com", secret)
		for _, j := range unanswered {
			for {
				res := second.do(req{method: "POST", path: "/api/v1/admin/orders/" + j.order + "/refund", token: token,
					header: map[string]string{"Idempotency-Key": j.key}, body: map[string]any{"amount": map[string]any{"amount": 100, "currency": "EUR"}}})
				if res.Status == 200 {
					break
				}
				if res.Status != 409 || res.Code(t) != "request_in_progress" || time.Since(restarted) > 15*time.Second {
					t.Fatalf("retry of %s = %d %s", j.key, res.Status, res.Body)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
		if n := countRows(t, cfg, "SELECT COUNT(*) FROM refunds WHERE status = 'pending'"); n != 0 {
			t.Fatalf("%d refunds still pending", n)
		}
		var list struct{ Items []ledgerOrder }
		second.must(200, req{method: "GET", path: "/api/v1/admin/orders?limit=100", token: token}).JSON(t, &list)
		if len(list.Items) != len(orders) {
			t.Fatalf("%d orders, want %d", len(list.Items), len(orders))
		}
		for _, o := range list.Items {
			if o.Refunded.Amount != 200 {
				t.Fatalf("order %s refunded %d, want 200 (two refunds of 100)", o.ID, o.Refunded.Amount)
			}
		}
		reconcile(t, list.Items, ledger, 2)
		t.Logf("%d refunds left pending by the kill, %d unanswered, all finished within %s of the restart", left, len(unanswered),
			time.Since(restarted).Round(100*time.Millisecond))
	})
}

// TestCaptureCrashReconcilesWithProcessor kills the shop, with
// payment-capture=fulfilment, while staff capture orders and fulfil others
// (whose first fulfilment captures them), restarts it and retries every
// unanswered request: each order is captured once at the processor, for
// its total, and each fulfilled order has one fulfilment; the claims the
// kill left lapse with the lease, and the retries finish in seconds.
func TestCaptureCrashReconcilesWithProcessor(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		cfg := testConfig(db)
		ledger := stripetest.Start(t)
		args := []string{"--pending-order-timeout", "3s", "--payment-capture", "fulfilment"}
		first := startProcessWithEnv(t, cfg, ledgerEnv(ledger), args...)
		admin := first.createAdmin("capture-crash@example.com")
		secret := first.secrets["capture-crash@example.com"]
		p := first.createProduct(admin, "CAPTURE-CRASH", 100)
		sh := first.shopper("captured@example.com", "4242424242424242")
		type job struct {
			order, path string
			body        map[string]any
		}
		var jobs []job
		for k := range 12 {
			var o lifecycleOrder
			first.must(201, checkoutReq(sh, fmt.Sprintf("cc-%d", k), first.cartWith(sh, 1, p.ID), "123")).JSON(t, &o)
			if o.Status != "authorized" || len(o.Items) != 1 {
				t.Fatalf("checkout with payment-capture=fulfilment: %+v", o)
			}
			if k%2 == 0 {
				jobs = append(jobs, job{o.ID, "/api/v1/admin/orders/" + o.ID + "/capture", map[string]any{}})
			} else {
				jobs = append(jobs, job{o.ID, "/api/v1/admin/orders/" + o.ID + "/fulfillments", map[string]any{
					"lines": []any{line(o.Items[0].LineID, 1)}, "carrier": "DHL", "tracking_number": fmt.Sprintf("JD%04d", k)}})
			}
		}
		ledger.SetDelay(40 * time.Millisecond)

		unanswered := killMidLoad(t, first, cfg, jobs, 3, "SELECT COUNT(*) FROM orders WHERE payment_op <> ''", func(j job) bool {
			status, err := post(first.URL, j.path, admin, "unused", j.body)
			return err == nil && (status == 200 || status == 201)
		})
		if n := countRows(t, cfg, "SELECT COUNT(*) FROM orders WHERE payment_op <> ''"); n == 0 {
			t.Fatal("no capture was left half done by the kill: nothing was tested")
		}

		second := startProcessWithEnv(t, cfg, ledgerEnv(ledger), args...)
		restarted := time.Now()
		token := second.loginWithMFA("capture-crash@example.com", secret)
		for _, j := range unanswered {
			for {
				res := second.do(req{method: "POST", path: j.path, token: token, body: j.body})
				if res.Status == 200 || res.Status == 201 {
					break
				}
				// A fulfilment recorded before the kill, unanswered: its
				// retry finds the line shipped (checked below).
				if res.Status == 409 && res.Code(t) == "fulfillment_exceeds_order" {
					break
				}
				if res.Status != 409 || res.Code(t) != "request_in_progress" || time.Since(restarted) > 15*time.Second {
					t.Fatalf("retry of %s = %d %s", j.path, res.Status, res.Body)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
		var list struct{ Items []ledgerOrder }
		second.must(200, req{method: "GET", path: "/api/v1/admin/orders?limit=100", token: token}).JSON(t, &list)
		reconcile(t, list.Items, ledger, 0)
		for i, j := range jobs {
			var o lifecycleOrder
			second.must(200, req{method: "GET", path: "/api/v1/admin/orders/" + j.order, token: token}).JSON(t, &o)
			want, shipments := "paid", 0
			if i%2 == 1 {
				want, shipments = "fulfilled", 1
			}
			if o.Status != want || len(o.Fulfillments) != shipments || o.Captured.Amount != o.Total.Amount {
				t.Fatalf("order %s after the crash: %s, %d fulfilments, captured %d of %d; want %s with %d",
					o.ID, o.Status, len(o.Fulfillments), o.Captured.Amount, o.Total.Amount, want, shipments)
			}
		}
		t.Logf("%d requests unanswered by the kill, all finished within %s of the restart", len(unanswered),
			time.Since(restarted).Round(100*time.Millisecond))
	})
}
