// Package stripetest is a test double of Stripe with a memory: the part of
// its API the adapter calls (card PaymentMethods, PaymentIntents with manual
// capture, capture, cancel, refunds), keeping every intent's state and
// honouring Idempotency-Keys the way Stripe does (the same key answers the
// first call's answer again; the same key with other parameters is refused).
//
// Stripe's own mock (stripe-mock) checks that the adapter's requests are
// well formed, but it keeps no state: every capture succeeds and every
// refund is a new one. A test that kills the shop in the middle of paying
// needs the processor's side of the books to compare with the shop's — which
// intents were captured, how often, what was refunded — and that is what the
// Ledger gives. It is a double of an external party, not of Bulwark.
package stripetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// DeclinedCard is a card number the Ledger declines, as Stripe's test card
// 4000 0000 0000 0002 is.
const DeclinedCard = "4000000000000002"

// Intent is one PaymentIntent as the Ledger holds it.
type Intent struct {
	ID        string
	Reference string // metadata[bulwark_reference]: the shop's order id
	Amount    int64
	Currency  string
	// Status is requires_confirmation (created, nothing held),
	// requires_payment_method (the card declined its confirmation),
	// requires_capture (held), succeeded (captured) or canceled.
	Status   string
	Captured int64
	Refunded int64
	// Captures and Refunds count the operations carried out (replays of an
	// Idempotency-Key are not operations).
	Captures int
	Refunds  []Refund
	card     string
}

// Refund is one refund of an intent.
type Refund struct {
	ID, Reference string
	Amount        int64
}

// Ledger is the double; its URL is the adapter's stripe-api-base.
type Ledger struct {
	URL string

	mu      sync.Mutex
	seq     int
	intents map[string]*Intent
	methods map[string]string // payment method id -> card number's last 4 (for declines)
	// answers are the stored answers of Idempotency-Keys.
	answers map[string]answer
	// delay is how long each call takes (SetDelay), like a processor far away.
	delay atomic.Int64
}

type answer struct {
	params string
	status int
	body   []byte
}

// Start serves a Ledger on a loopback port until the test ends.
func Start(t testing.TB) *Ledger {
	l := &Ledger{intents: map[string]*Intent{}, methods: map[string]string{}, answers: map[string]answer{}}
	srv := httptest.NewServer(http.HandlerFunc(l.serve))
	t.Cleanup(srv.Close)
	l.URL = srv.URL
	return l
}

// SetDelay makes every call take d before it is answered, so that a test
// can stop the shop while a call is under way.
func (l *Ledger) SetDelay(d time.Duration) { l.delay.Store(int64(d)) }

// Intents returns a copy of every intent.
func (l *Ledger) Intents() []Intent {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Intent, 0, len(l.intents))
	for _, in := range l.intents {
		c := *in
		c.Refunds = append([]Refund(nil), in.Refunds...)
		out = append(out, c)
	}
	return out
}

func (l *Ledger) serve(w http.ResponseWriter, r *http.Request) {
	time.Sleep(time.Duration(l.delay.Load()))
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer sk_test_") {
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "", "")
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "parameter_invalid", "")
		return
	}
	params := r.URL.Path + "?" + r.PostForm.Encode()
	key := r.Header.Get("Idempotency-Key")
	l.mu.Lock()
	defer l.mu.Unlock()
	if key != "" {
		if a, ok := l.answers[key]; ok {
			if a.params != params {
				writeError(w, http.StatusBadRequest, "idempotency_error", "", "")
				return
			}
			w.Header().Set("Idempotent-Replayed", "true")
			write(w, a.status, a.body)
			return
		}
	}
	status, body := l.handle(r.URL.Path, r.PostForm)
	if key != "" && status < 500 {
		l.answers[key] = answer{params: params, status: status, body: body}
	}
	write(w, status, body)
}

func write(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", "req_ledger")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, status int, typ, code, decline string) {
	s, b := errorBody(status, typ, code, decline)
	write(w, s, b)
}

func errorBody(status int, typ, code, decline string) (int, []byte) {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"type": typ, "code": code, "decline_code": decline, "message": "ledger: " + code}})
	return status, b
}

func (l *Ledger) next(prefix string) string {
	l.seq++
	return fmt.Sprintf("%s_ledger%06d", prefix, l.seq)
}

func (l *Ledger) handle(path string, f map[string][]string) (int, []byte) {
	get := func(k string) string {
		if v := f[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case path == "/v1/payment_methods":
		id := l.next("pm")
		l.methods[id] = get("card[number]")
		return ok(map[string]any{"id": id, "object": "payment_method", "type": "card"})
	case path == "/v1/payment_intents":
		amount, err := strconv.ParseInt(get("amount"), 10, 64)
		if err != nil || amount <= 0 {
			return errorBody(http.StatusBadRequest, "invalid_request_error", "parameter_invalid_integer", "")
		}
		number, known := l.methods[get("payment_method")]
		if !known {
			return errorBody(http.StatusBadRequest, "invalid_request_error", "resource_missing", "")
		}
		if get("confirm") == "true" && number == DeclinedCard {
			return errorBody(http.StatusPaymentRequired, "card_error", "card_declined", "generic_decline")
		}
		in := &Intent{ID: l.next("pi"), Reference: get("metadata[bulwark_reference]"), Amount: amount, Currency: get("currency"),
			Status: "requires_confirmation", card: number}
		if get("confirm") == "true" {
			in.Status = "requires_capture"
		}
		l.intents[in.ID] = in
		return intentBody(in)
	case len(parts) == 4 && parts[1] == "payment_intents" && parts[3] == "confirm":
		in := l.intents[parts[2]]
		switch {
		case in == nil:
			return errorBody(http.StatusNotFound, "invalid_request_error", "resource_missing", "")
		case in.Status != "requires_confirmation" && in.Status != "requires_payment_method":
			return errorBody(http.StatusBadRequest, "invalid_request_error", "payment_intent_unexpected_state", "")
		case in.card == DeclinedCard:
			in.Status = "requires_payment_method"
			return errorBody(http.StatusPaymentRequired, "card_error", "card_declined", "generic_decline")
		}
		in.Status = "requires_capture"
		return intentBody(in)
	case len(parts) == 4 && parts[1] == "payment_intents" && parts[3] == "capture":
		in := l.intents[parts[2]]
		if in == nil {
			return errorBody(http.StatusNotFound, "invalid_request_error", "resource_missing", "")
		}
		amount := in.Amount
		if s := get("amount_to_capture"); s != "" {
			amount, _ = strconv.ParseInt(s, 10, 64)
		}
		if in.Status != "requires_capture" || amount <= 0 || amount > in.Amount {
			return errorBody(http.StatusBadRequest, "invalid_request_error", "payment_intent_unexpected_state", "")
		}
		in.Status, in.Captured = "succeeded", amount
		in.Captures++
		return intentBody(in)
	case len(parts) == 4 && parts[1] == "payment_intents" && parts[3] == "cancel":
		in := l.intents[parts[2]]
		if in == nil {
			return errorBody(http.StatusNotFound, "invalid_request_error", "resource_missing", "")
		}
		if in.Status == "succeeded" || in.Status == "canceled" {
			return errorBody(http.StatusBadRequest, "invalid_request_error", "payment_intent_unexpected_state", "")
		}
		in.Status = "canceled"
		return intentBody(in)
	case path == "/v1/refunds":
		in := l.intents[get("payment_intent")]
		if in == nil {
			return errorBody(http.StatusNotFound, "invalid_request_error", "resource_missing", "")
		}
		amount := in.Captured - in.Refunded
		if s := get("amount"); s != "" {
			amount, _ = strconv.ParseInt(s, 10, 64)
		}
		switch {
		case in.Status != "succeeded":
			return errorBody(http.StatusBadRequest, "invalid_request_error", "payment_intent_unexpected_state", "")
		case amount <= 0 || amount > in.Captured-in.Refunded:
			return errorBody(http.StatusBadRequest, "invalid_request_error", "amount_too_large", "")
		}
		r := Refund{ID: l.next("re"), Reference: get("metadata[bulwark_reference]"), Amount: amount}
		in.Refunded += amount
		in.Refunds = append(in.Refunds, r)
		return ok(map[string]any{"id": r.ID, "object": "refund", "amount": amount, "currency": in.Currency,
			"payment_intent": in.ID, "status": "succeeded"})
	}
	return errorBody(http.StatusNotFound, "invalid_request_error", "resource_missing", "")
}

func ok(v map[string]any) (int, []byte) {
	b, _ := json.Marshal(v)
	return http.StatusOK, b
}

func intentBody(in *Intent) (int, []byte) {
	return ok(map[string]any{"id": in.ID, "object": "payment_intent", "amount": in.Amount, "currency": in.Currency,
		"status": in.Status, "amount_received": in.Captured, "capture_method": "manual"})
}
