package stripe_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/dependency"
	"github.com/bulwark-shop/bulwark/internal/logging"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/payment"
	"github.com/bulwark-shop/bulwark/internal/payment/stripe"
	"github.com/bulwark-shop/bulwark/internal/testenv"
	"github.com/bulwark-shop/bulwark/internal/vault"
)

// The card and CVC the tests send: neither may appear in an error or a log line.
const (
	pan = "4242424242424242"
	cvc = "7391"
)

func eur(a int64) money.Money { return money.Money{Amount: a, Currency: "EUR"} }

func authorizeRequest(ref string) payment.AuthorizeRequest {
	return payment.AuthorizeRequest{Card: vault.Card{Number: pan, ExpMonth: 12, ExpYear: 2034, Holder: "Pat Doe"},
		CVC: cvc, Amount: eur(1234), Reference: ref}
}

func newGateway(t *testing.T, base string) (*stripe.Gateway, *testenv.SyncBuffer) {
	t.Helper()
	logs := &testenv.SyncBuffer{}
	g, err := stripe.New(stripe.Config{SecretKey: "sk_test_bulwark", APIBase: base, Log: logging.New(logs, -4)})
	if err != nil {
		t.Fatal(err)
	}
	return g, logs
}

// noCardData fails when the card number or the CVC is in any of texts.
func noCardData(t *testing.T, texts ...string) {
	t.Helper()
	for _, s := range texts {
		// The CVC is a few digits: it is looked for as a number of its own,
		// not inside a timestamp's nanoseconds or a port (a flake).
		if strings.Contains(s, pan) || regexp.MustCompile(`(^|[^0-9])`+cvc+`([^0-9]|$)`).MatchString(s) {
			t.Errorf("card data in %q", s)
		}
	}
}

// TestStripeMockRoundTrip runs the adapter against stripe-mock, which checks
// every request against Stripe's OpenAPI document: authorize, capture and
// refund one payment; authorize and void another.
func TestStripeMockRoundTrip(t *testing.T) {
	base := testenv.StartStripeMock(t)
	g, logs := newGateway(t, base)
	ctx := context.Background()

	authID, err := g.Authorize(ctx, authorizeRequest("ord_roundtrip1"))
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	if !strings.HasPrefix(authID, "pi_") {
		t.Fatalf("authorization %q is not a PaymentIntent", authID)
	}
	if err := g.Capture(ctx, authID, eur(1234)); err != nil {
		t.Fatalf("capture: %v", err)
	}
	refundID, err := g.Refund(ctx, authID, eur(500), "ref_roundtrip1")
	if err != nil {
		t.Fatalf("refund: %v", err)
	}
	if !strings.HasPrefix(refundID, "re_") {
		t.Fatalf("refund id %q", refundID)
	}

	other, err := g.Authorize(ctx, authorizeRequest("ord_roundtrip2"))
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	if err := g.Void(ctx, other); err != nil {
		t.Fatalf("void: %v", err)
	}
	noCardData(t, logs.String())

	t.Run("inspect reads the issuer's country, and the authorization reports the CVC check", func(t *testing.T) {
		info, err := g.Inspect(ctx, authorizeRequest("ord_roundtrip3"))
		if err != nil {
			t.Fatalf("inspect: %v", err)
		}
		if len(info.Country) != 2 {
			t.Errorf("country %q is not ISO 3166-1 alpha-2", info.Country)
		}
		var got *payment.Checks
		req := authorizeRequest("ord_roundtrip3")
		req.Checked = func(c payment.Checks) { got = &c }
		if _, err := g.Authorize(ctx, req); err != nil {
			t.Fatalf("authorize with the charge expanded: %v", err)
		}
		if got == nil {
			t.Fatal("Checked was not called")
		}
		switch got.CVC {
		case payment.CheckPass, payment.CheckFail, payment.CheckUnavailable, payment.CheckUnchecked:
		default:
			t.Errorf("cvc check %q", got.CVC)
		}
	})
}

// TestStripeChecks: the issuer's country comes off the payment method that
// Inspect makes under the authorization's own Idempotency-Key (one payment
// method per checkout, not two), and the CVC check off the intent's charge.
func TestStripeChecks(t *testing.T) {
	answers := okAnswers()
	answers["/v1/payment_methods"] = answer{200, `{"id":"pm_fake","object":"payment_method","type":"card","card":{"country":"br"}}`}
	answers["/v1/payment_intents"] = answer{200, `{"id":"pi_fake","object":"payment_intent","status":"requires_capture",
		"latest_charge":{"id":"ch_fake","object":"charge","payment_method_details":{"type":"card","card":{"checks":{"cvc_check":"fail"}}}}}`}
	f, base := startFake(t, answers)
	g, _ := newGateway(t, base)
	ctx := context.Background()
	info, err := g.Inspect(ctx, authorizeRequest("ord_checks1"))
	if err != nil || info.Country != "BR" {
		t.Fatalf("inspect: %+v, %v", info, err)
	}
	var got payment.Checks
	req := authorizeRequest("ord_checks1")
	req.Checked = func(c payment.Checks) { got = c }
	if _, err := g.Authorize(ctx, req); err != nil {
		t.Fatal(err)
	}
	if got.CVC != payment.CheckFail {
		t.Errorf("cvc check %q, want fail", got.CVC)
	}
	if len(f.requests) != 3 || f.requests[0].Key != f.requests[1].Key || f.requests[0].Form.Encode() != f.requests[1].Form.Encode() {
		t.Errorf("inspect and authorize made different payment methods: %+v", f.requests)
	}
	if e := f.requests[2].Form["expand[0]"]; len(e) != 1 || e[0] != "latest_charge" {
		t.Errorf("intent expands %v, want the charge", e)
	}

	t.Run("no charge in the answer is unchecked", func(t *testing.T) {
		f.mu.Lock()
		f.answers["/v1/payment_intents"] = answer{200, `{"id":"pi_fake","object":"payment_intent","status":"requires_capture"}`}
		f.mu.Unlock()
		req := authorizeRequest("ord_checks2")
		req.Checked = func(c payment.Checks) { got = c }
		if _, err := g.Authorize(ctx, req); err != nil {
			t.Fatal(err)
		}
		if got.CVC != payment.CheckUnchecked {
			t.Errorf("cvc check %q, want unchecked", got.CVC)
		}
	})
}

// recorded is a request the fake Stripe received.
type recorded struct {
	Method, Path, Key string
	Form              url.Values
}

// fakeStripe answers each path with a canned status and body, and records
// what it was sent.
type fakeStripe struct {
	mu       sync.Mutex
	requests []recorded
	answers  map[string]answer // by path
}

type answer struct {
	status int
	body   string
}

func (f *fakeStripe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f.mu.Lock()
	f.requests = append(f.requests, recorded{Method: r.Method, Path: r.URL.Path, Key: r.Header.Get("Idempotency-Key"), Form: r.PostForm})
	a, ok := f.answers[r.URL.Path]
	f.mu.Unlock()
	if !ok {
		http.Error(w, `{"error":{"type":"invalid_request_error","message":"no such path"}}`, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", "req_fake")
	w.WriteHeader(a.status)
	fmt.Fprint(w, a.body)
}

func okAnswers() map[string]answer {
	return map[string]answer{
		"/v1/payment_methods":                 {200, `{"id":"pm_fake","object":"payment_method","type":"card"}`},
		"/v1/payment_intents":                 {200, `{"id":"pi_fake","object":"payment_intent","status":"requires_capture"}`},
		"/v1/payment_intents/pi_fake/capture": {200, `{"id":"pi_fake","object":"payment_intent","status":"succeeded"}`},
		"/v1/payment_intents/pi_fake/cancel":  {200, `{"id":"pi_fake","object":"payment_intent","status":"canceled"}`},
		"/v1/refunds":                         {200, `{"id":"re_fake","object":"refund","status":"succeeded"}`},
	}
}

func startFake(t *testing.T, answers map[string]answer) (*fakeStripe, string) {
	t.Helper()
	f := &fakeStripe{answers: answers}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

// TestStripeIdempotencyKeys: every call carries an Idempotency-Key made of
// the shop's reference, the same for a retried call, so Stripe answers a
// retry with the first call's result instead of charging again.
func TestStripeIdempotencyKeys(t *testing.T) {
	f, base := startFake(t, okAnswers())
	g, _ := newGateway(t, base)
	ctx := context.Background()
	for range 2 { // the second round is a retry of the first
		authID, err := g.Authorize(ctx, authorizeRequest("ord_key1"))
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Capture(ctx, authID, eur(1234)); err != nil {
			t.Fatal(err)
		}
		if err := g.Void(ctx, authID); err != nil {
			t.Fatal(err)
		}
		if _, err := g.Refund(ctx, authID, eur(100), "rfd_key1"); err != nil {
			t.Fatal(err)
		}
	}
	want := []recorded{
		{Method: "POST", Path: "/v1/payment_methods", Key: "bulwark-card-ord_key1"},
		{Method: "POST", Path: "/v1/payment_intents", Key: "bulwark-authorize-ord_key1"},
		{Method: "POST", Path: "/v1/payment_intents/pi_fake/capture", Key: "bulwark-capture-pi_fake"},
		{Method: "POST", Path: "/v1/payment_intents/pi_fake/cancel", Key: "bulwark-void-pi_fake"},
		{Method: "POST", Path: "/v1/refunds", Key: "bulwark-refund-rfd_key1"},
	}
	if len(f.requests) != 2*len(want) {
		t.Fatalf("%d requests, want %d", len(f.requests), 2*len(want))
	}
	for i, r := range f.requests {
		w := want[i%len(want)]
		if r.Method != w.Method || r.Path != w.Path || r.Key != w.Key {
			t.Errorf("request %d: %s %s key %q, want %s %s key %q", i, r.Method, r.Path, r.Key, w.Method, w.Path, w.Key)
		}
	}
	pi := f.requests[1].Form
	for k, v := range map[string]string{"capture_method": "manual", "confirm": "true", "amount": "1234", "currency": "eur",
		"payment_method": "pm_fake", "metadata[bulwark_reference]": "ord_key1"} {
		if got := pi.Get(k); got != v {
			t.Errorf("payment intent %s = %q, want %q", k, got, v)
		}
	}
	if got := f.requests[2].Form.Get("amount_to_capture"); got != "1234" {
		t.Errorf("amount_to_capture = %q", got)
	}
	if got := f.requests[4].Form; got.Get("amount") != "100" || got.Get("payment_intent") != "pi_fake" {
		t.Errorf("refund form %v", got)
	}
	// The card goes to Stripe once per call that needs it, and only there.
	if got := f.requests[0].Form.Get("card[number]"); got != pan {
		t.Errorf("card number sent as %q", got)
	}
	for i, r := range f.requests {
		if i%len(want) != 0 && strings.Contains(r.Form.Encode(), pan) {
			t.Errorf("request %d (%s) carries the card number", i, r.Path)
		}
	}

	t.Run("a call without a reference is refused before it reaches Stripe", func(t *testing.T) {
		f.requests = nil
		if _, err := g.Authorize(ctx, authorizeRequest("")); err == nil {
			t.Error("authorized without a reference")
		}
		if _, err := g.Refund(ctx, "pi_fake", eur(100), ""); err == nil {
			t.Error("refunded without a reference")
		}
		if len(f.requests) != 0 {
			t.Errorf("%d requests reached Stripe", len(f.requests))
		}
	})

	t.Run("two refunds of the same amount with different references are two refunds", func(t *testing.T) {
		f.requests = nil
		_, _ = g.Refund(ctx, "pi_fake", eur(100), "rfd_a")
		_, _ = g.Refund(ctx, "pi_fake", eur(100), "rfd_b")
		if len(f.requests) != 2 || f.requests[0].Key == f.requests[1].Key {
			t.Fatalf("keys %+v", f.requests)
		}
	})
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestStripeErrors maps Stripe's answers (recorded error bodies, served by a
// fake Stripe) to Bulwark's: declines to payment.ErrDeclined (402), Stripe
// unreachable, 5xx, 429 and a concurrent use of a key to a payment outage
// (503 with Retry-After), anything else to an internal error; none of them,
// nor the log, holds the card number or CVC.
func TestStripeErrors(t *testing.T) {
	const (
		declined = iota
		outage
		internal
	)
	for _, tc := range []struct {
		name    string
		path    string
		status  int
		body    string
		want    int
		because error // with declined: the reason
	}{
		{"card declined", "/v1/payment_intents", 402, "card_declined.json", declined, nil},
		{"insufficient funds", "/v1/payment_intents", 402, "insufficient_funds.json", declined, payment.ErrInsufficientFunds},
		{"incorrect cvc", "/v1/payment_intents", 402, "incorrect_cvc.json", declined, payment.ErrIncorrectCVC},
		{"card refused when the payment method is made", "/v1/payment_methods", 402, "card_declined.json", declined, nil},
		{"server error", "/v1/payment_intents", 500, "api_error.json", outage, nil},
		{"bad gateway", "/v1/payment_intents", 502, "api_error.json", outage, nil},
		{"rate limited", "/v1/payment_intents", 429, "rate_limit.json", outage, nil},
		{"key in use by a concurrent request", "/v1/payment_intents", 409, "idempotency_conflict.json", outage, nil},
		{"invalid request", "/v1/payment_intents", 400, "invalid_request.json", internal, nil},
		{"wrong key", "/v1/payment_intents", 401, `{"error":{"type":"invalid_request_error","message":"Invalid API Key provided: sk_test_****ulwark"}}`, internal, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			answers := okAnswers()
			body := tc.body
			if strings.HasSuffix(body, ".json") {
				body = fixture(t, body)
			}
			answers[tc.path] = answer{tc.status, body}
			_, base := startFake(t, answers)
			g, logs := newGateway(t, base)
			_, err := g.Authorize(context.Background(), authorizeRequest("ord_err"))
			if err == nil {
				t.Fatal("authorized")
			}
			name, isOutage := dependency.Classify(err)
			switch tc.want {
			case declined:
				if !errors.Is(err, payment.ErrDeclined) || isOutage {
					t.Errorf("%v: want a decline", err)
				}
				if tc.because != nil && !errors.Is(err, tc.because) {
					t.Errorf("%v: want %v", err, tc.because)
				}
			case outage:
				if !isOutage || name != dependency.Payment || errors.Is(err, payment.ErrDeclined) {
					t.Errorf("%v: want an outage of %s, got %q %v", err, dependency.Payment, name, isOutage)
				}
				if !strings.Contains(logs.String(), "stripe unavailable") {
					t.Errorf("outage not logged: %s", logs)
				}
			case internal:
				if isOutage || errors.Is(err, payment.ErrDeclined) {
					t.Errorf("%v: want an internal error", err)
				}
				if !strings.Contains(err.Error(), "authorize ord_err") {
					t.Errorf("%v: no context", err)
				}
			}
			noCardData(t, err.Error(), fmt.Sprintf("%+v", err), logs.String())
			if strings.Contains(err.Error(), "made to echo") {
				t.Errorf("Stripe's message repeated: %v", err)
			}
		})
	}

	t.Run("Stripe unreachable is an outage", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		base := srv.URL
		srv.Close()
		g, logs := newGateway(t, base)
		for _, call := range []func() error{
			func() error { _, err := g.Authorize(context.Background(), authorizeRequest("ord_down")); return err },
			func() error { return g.Capture(context.Background(), "pi_down", eur(1)) },
			func() error { return g.Void(context.Background(), "pi_down") },
			func() error { _, err := g.Refund(context.Background(), "pi_down", eur(1), "rfd_down"); return err },
		} {
			err := call()
			if name, outage := dependency.Classify(err); !outage || name != dependency.Payment {
				t.Errorf("%v: want an outage of %s", err, dependency.Payment)
			}
			noCardData(t, err.Error())
		}
		noCardData(t, logs.String())
	})

	t.Run("a card asking for authentication is declined and its intent cancelled", func(t *testing.T) {
		answers := okAnswers()
		answers["/v1/payment_intents"] = answer{200, `{"id":"pi_fake","object":"payment_intent","status":"requires_action"}`}
		f, base := startFake(t, answers)
		g, _ := newGateway(t, base)
		_, err := g.Authorize(context.Background(), authorizeRequest("ord_3ds"))
		if !errors.Is(err, payment.ErrDeclined) {
			t.Fatalf("%v: want a decline", err)
		}
		last := f.requests[len(f.requests)-1]
		if last.Path != "/v1/payment_intents/pi_fake/cancel" {
			t.Errorf("last call %s, want the cancel", last.Path)
		}
	})
}
