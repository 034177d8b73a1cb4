package app_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/testenv"
	"github.com/bulwark-shop/bulwark/internal/waf"
)

// hookCall is one request a test receiver got.
type hookCall struct {
	ID, Timestamp, Signature string
	Body                     []byte
}

// hookReceiver is a webhook endpoint on 127.0.0.1 that answers the statuses
// of fail first (then 200) and hands every call to Calls.
type hookReceiver struct {
	*httptest.Server
	Calls chan hookCall
	mu    sync.Mutex
	fail  []int
}

func newHookReceiver(t *testing.T, fail ...int) *hookReceiver {
	t.Helper()
	h := &hookReceiver{Calls: make(chan hookCall, 16), fail: fail}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.Calls <- hookCall{ID: r.Header.Get("webhook-id"), Timestamp: r.Header.Get("webhook-timestamp"), Signature: r.Header.Get("webhook-signature"), Body: body}
		h.mu.Lock()
		status := http.StatusOK
		if len(h.fail) > 0 {
			status, h.fail = h.fail[0], h.fail[1:]
		}
		h.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookReceiver) next(t *testing.T) hookCall {
	t.Helper()
	select {
	case c := <-h.Calls:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook delivery within 10s")
		return hookCall{}
	}
}

// verifyHook checks a call as a receiver following the Standard Webhooks
// text would, written here without the shop's code: HMAC-SHA256 under the
// base64 key after whsec_ of id.timestamp.body, any of the space-separated
// v1 signatures matching, the timestamp within five minutes of now.
func verifyHook(secret string, c hookCall, now time.Time) error {
	ts, err := strconv.ParseInt(c.Timestamp, 10, 64)
	if err != nil || c.ID == "" {
		return fmt.Errorf("bad headers %+v", c)
	}
	if d := now.Unix() - ts; d > 300 || d < -300 {
		return fmt.Errorf("timestamp %d is %ds from now", ts, d)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.%s", c.ID, c.Timestamp, c.Body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, s := range strings.Fields(c.Signature) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return fmt.Errorf("no signature of %q matches", c.Signature)
}

type webhookJSON struct {
	ID     string   `json:"id"`
	URL    string   `json:"url"`
	Events []string `json:"events"`
	Secret string   `json:"secret"`
}

type deliveryJSON struct {
	ID        string `json:"id"`
	EventID   string `json:"event_id"`
	EventType string `json:"event_type"`
	Status    string `json:"status"`
	Attempts  int    `json:"attempts"`
	History   []struct {
		StatusCode int `json:"status_code"`
	} `json:"history"`
}

// loopbackHooks are the settings that let a shop call the test's receivers
// on loopback, as an operator would for a receiver on their own network: the
// egress guard's allow list, and a WAF exclusion of the Core Rule Set's SSRF
// rule (934110, which refuses localhost and internal addresses in a body) for
// the registration's url field.
var loopbackHooks = struct{ EgressAllow, WAFExclusions string }{
	EgressAllow:   "127.0.0.1/32,::1/128",
	WAFExclusions: config.DefaultWAFExclusions + ";POST /api/v1/admin/webhooks url=934110",
}

// allowLoopback applies loopbackHooks, and retries after a second (the test
// moves the shop's clock past it).
func allowLoopback(c *config.Config) {
	c.EgressAllow, c.WAFExclusions = loopbackHooks.EgressAllow, loopbackHooks.WAFExclusions
	c.WebhookRetrySchedule = "1s,1s"
}

// hookURL is the receiver's URL by the name localhost.
func hookURL(srv *httptest.Server) string {
	return strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/hooks"
}

// TestWebhookOrderPaidSignedAndRetried: a registered endpoint gets order.paid
// for a checkout, signed as Standard Webhooks says; a 500 is retried with the
// same webhook-id and body; every attempt is listed; a rotated secret signs
// beside the old one; refund.created follows a refund.
func TestWebhookOrderPaidSignedAndRetried(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db, allowLoopback)
		recv := newHookReceiver(t, 500)
		admin := s.createAdmin("hooks-admin@example.com")
		var hook webhookJSON
		s.must(201, req{method: "POST", path: "/api/v1/admin/webhooks", token: admin,
			body: map[string]any{"url": hookURL(recv.Server), "events": []string{"order.paid", "refund.created"}}}).JSON(t, &hook)
		if !strings.HasPrefix(hook.Secret, "whsec_") || !strings.HasPrefix(hook.ID, "wh_") {
			t.Fatalf("created %+v", hook)
		}
		if list := s.must(200, req{method: "GET", path: "/api/v1/admin/webhooks", token: admin}); strings.Contains(string(list.Body), hook.Secret) ||
			strings.Contains(string(list.Body), "secret") {
			t.Fatalf("the list shows a secret: %s", list.Body)
		}

		p := s.createProduct(admin, "HOOK-1", 10)
		pat := s.shopper("hook-shopper@example.com", "4242424242424242")
		var o orderJSON
		s.must(201, checkoutReq(pat, "hook-1", s.cartWith(pat, 1, p.ID), "123")).JSON(t, &o)

		first := recv.next(t)
		if err := verifyHook(hook.Secret, first, s.Clock.Now()); err != nil {
			t.Fatal(err)
		}
		var event struct {
			Type string `json:"type"`
			Data struct {
				ID     string `json:"id"`
				Status string `json:"status"`
				Total  struct {
					Amount int64 `json:"amount"`
				} `json:"total"`
			} `json:"data"`
		}
		if err := json.Unmarshal(first.Body, &event); err != nil || event.Type != "order.paid" || event.Data.ID != o.ID ||
			event.Data.Status != "paid" || event.Data.Total.Amount != o.Total.Amount {
			t.Fatalf("event %s: %v", first.Body, err)
		}
		for _, personal := range []string{"hook-shopper@example.com", "Pat Payer", "Main St", "4242", "customer"} {
			if strings.Contains(string(first.Body), personal) {
				t.Fatalf("the event holds %q: %s", personal, first.Body)
			}
		}

		// The receiver answered 500: the retry comes after the back-off
		// (the shop's clock is moved past it), with the same id and body.
		s.Clock.Advance(3 * time.Second)
		second := recv.next(t)
		if second.ID != first.ID || string(second.Body) != string(first.Body) {
			t.Fatalf("retry %s %s, first %s %s", second.ID, second.Body, first.ID, first.Body)
		}
		if err := verifyHook(hook.Secret, second, s.Clock.Now()); err != nil {
			t.Fatal(err)
		}
		var ds struct{ Items []deliveryJSON }
		deadline := time.Now().Add(5 * time.Second)
		for {
			s.must(200, req{method: "GET", path: "/api/v1/admin/webhooks/" + hook.ID + "/deliveries", token: admin}).JSON(t, &ds)
			if len(ds.Items) == 1 && ds.Items[0].Status == "succeeded" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("deliveries %+v", ds.Items)
			}
			time.Sleep(50 * time.Millisecond)
		}
		d := ds.Items[0]
		if d.EventID != first.ID || d.EventType != "order.paid" || d.Attempts != 2 || len(d.History) != 2 ||
			d.History[0].StatusCode != 500 || d.History[1].StatusCode != 200 {
			t.Fatalf("delivery %+v", d)
		}

		// A manual redelivery: the same id and body once more.
		s.must(202, req{method: "POST", path: "/api/v1/admin/webhook-deliveries/" + d.ID + "/retry", token: admin})
		if again := recv.next(t); again.ID != first.ID || string(again.Body) != string(first.Body) {
			t.Fatalf("redelivery %s %s", again.ID, again.Body)
		}

		// A rotation: the next delivery is signed under both secrets.
		var rotated struct {
			Secret string `json:"secret"`
		}
		s.must(200, req{method: "POST", path: "/api/v1/admin/webhooks/" + hook.ID + "/rotate-secret", token: admin}).JSON(t, &rotated)
		if rotated.Secret == hook.Secret || !strings.HasPrefix(rotated.Secret, "whsec_") {
			t.Fatalf("rotated to %q", rotated.Secret)
		}
		finance := s.staff(admin, "hooks-finance@example.com", "finance")
		s.must(200, req{method: "POST", path: "/api/v1/admin/orders/" + o.ID + "/refund", token: finance,
			header: map[string]string{"Idempotency-Key": "hook-refund"}, body: map[string]any{"amount": map[string]any{"amount": 100, "currency": "EUR"}}})
		refund := recv.next(t)
		if !strings.Contains(string(refund.Body), `"type":"refund.created"`) || refund.ID == first.ID || len(strings.Fields(refund.Signature)) != 2 {
			t.Fatalf("refund event %s %s %s", refund.ID, refund.Signature, refund.Body)
		}
		for _, secret := range []string{rotated.Secret, hook.Secret} {
			if err := verifyHook(secret, refund, s.Clock.Now()); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestWebhookURLsPointingInwardAreRefused: registration refuses URLs the
// shop must not call (cloud metadata, loopback, private networks, plain
// http) with 422 webhook_url_refused. The WAF's Core Rule Set refuses most
// of these bodies already (403 request_blocked, SSRF rule 934110); it is
// off here so that the egress guard's own check is what answers.
func TestWebhookURLsPointingInwardAreRefused(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db, func(c *config.Config) { c.WAF = waf.Off })
		admin := s.createAdmin("hooks-ssrf@example.com")
		port := strings.TrimPrefix(s.URL, "http://127.0.0.1:")
		for _, u := range []string{
			"http://169.254.169.254/latest/meta-data/",
			"https://169.254.169.254/latest/meta-data/",
			"http://localhost:" + port + "/",
			"https://localhost:" + port + "/",
			"https://127.0.0.1:" + port + "/",
			"https://[::1]/",
			"https://[::ffff:127.0.0.1]/",
			"https://10.0.0.1/",
			"https://192.168.1.1/",
			"https://100.64.0.1/",
			"https://[fd00::1]/",
			"http://192.0.32.10/", // public, but not https
		} {
			res := s.do(req{method: "POST", path: "/api/v1/admin/webhooks", token: admin, body: map[string]any{"url": u, "events": []string{"order.paid"}}})
			if res.Status != 422 || !strings.Contains(string(res.Body), "webhook_url_refused") {
				t.Errorf("%s: %d %s", u, res.Status, res.Body)
			}
		}
		if res := s.do(req{method: "POST", path: "/api/v1/admin/webhooks", token: admin,
			body: map[string]any{"url": "https://192.0.32.10/", "events": []string{"order.shipped"}}}); res.Status != 422 {
			t.Errorf("an unknown event type: %d %s", res.Status, res.Body)
		}
	})
}

// TestWebhookSurvivesKill: the process is killed with SIGKILL while a
// delivery is in flight and a second order's event waits in the outbox;
// after a restart both are delivered, the first once its lease has run out
// with the same webhook-id and body, the second with the order it committed.
func TestWebhookSurvivesKill(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		cfg := testConfig(db)
		calls := make(chan hookCall, 4)
		var n atomic.Int32
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			calls <- hookCall{ID: r.Header.Get("webhook-id"), Timestamp: r.Header.Get("webhook-timestamp"), Signature: r.Header.Get("webhook-signature"), Body: body}
			if n.Add(1) == 1 {
				<-r.Context().Done() // the first attempt hangs until its sender dies
				return
			}
		}))
		defer recv.Close()
		// A one-second attempt: a delivery's lease is the timeout and 5 s.
		flags := []string{"--egress-allow", loopbackHooks.EgressAllow, "--waf-exclusions", loopbackHooks.WAFExclusions, "--webhook-timeout", "1s"}
		first := startProcess(t, cfg, flags...)
		admin := first.createAdmin("hooks-kill@example.com")
		var hook webhookJSON
		first.must(201, req{method: "POST", path: "/api/v1/admin/webhooks", token: admin,
			body: map[string]any{"url": hookURL(recv), "events": []string{"order.paid"}}}).JSON(t, &hook)
		p := first.createProduct(admin, "HOOK-KILL", 5)
		pat := first.shopper("hooks-kill-shopper@example.com", "4242424242424242")
		first.must(201, checkoutReq(pat, "hook-kill", first.cartWith(pat, 1, p.ID), "123"))
		var sent hookCall
		select {
		case sent = <-calls:
		case <-time.After(10 * time.Second):
			t.Fatal("no delivery within 10s")
		}
		// A second order, acknowledged while the worker waits on the hung
		// attempt: its event is in the outbox, or just dispatched, when the
		// process dies.
		var second orderJSON
		first.must(201, checkoutReq(pat, "hook-kill-2", first.cartWith(pat, 1, p.ID), "123")).JSON(t, &second)
		first.kill(t)
		if db, err := store.Open(context.Background(), store.Options{DatabaseURL: cfg.DatabaseURL, DataDir: cfg.DataDir}); err == nil {
			waiting, _ := db.EventOutboxLength(context.Background())
			t.Logf("%d events in the outbox at the kill", waiting)
			db.Close()
		}

		restarted := startProcess(t, cfg, flags...)
		var again hookCall
		got := map[string]hookCall{}
		for len(got) < 2 {
			select {
			case c := <-calls:
				if err := verifyHook(hook.Secret, c, time.Now()); err != nil {
					t.Fatal(err)
				}
				got[c.ID] = c
			case <-time.After(15 * time.Second):
				t.Fatalf("%d of 2 deliveries within 15s of the restart", len(got))
			}
		}
		if again = got[sent.ID]; string(again.Body) != string(sent.Body) {
			t.Fatalf("after the restart %v, before %s %s", got, sent.ID, sent.Body)
		}
		delete(got, sent.ID)
		for _, c := range got {
			var body struct{ Data orderJSON }
			if err := json.Unmarshal(c.Body, &body); err != nil || body.Data.ID != second.ID || body.Data.Status != second.Status {
				t.Fatalf("the second order's event %s: %v (order %s %s)", c.Body, err, second.ID, second.Status)
			}
		}
		var ds struct{ Items []deliveryJSON }
		deadline := time.Now().Add(5 * time.Second)
		for {
			restarted.must(200, req{method: "GET", path: "/api/v1/admin/webhooks/" + hook.ID + "/deliveries", token: admin}).JSON(t, &ds)
			if len(ds.Items) == 2 && ds.Items[0].Status == "succeeded" && ds.Items[1].Status == "succeeded" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("deliveries %+v", ds.Items)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}
