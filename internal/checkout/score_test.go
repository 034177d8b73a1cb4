package checkout_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/checkout"
	"github.com/bulwark-shop/bulwark/internal/detect"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/payment"
)

// scorer is a test double of fraud scoring: it answers risk (or err, or
// nothing until its context ends when slow) and keeps what it was told.
type scorer struct {
	risk     order.Risk
	err      error
	slow     bool
	mu       sync.Mutex
	scored   []checkout.Attempt
	declined []checkout.Attempt
	// recheck, when set, is the decision after the authorization (else
	// the prior one stands); rechecked keeps what Recheck was told.
	recheck   *order.Risk
	rechecked []checkout.Attempt
}

func (s *scorer) Recheck(_ context.Context, a checkout.Attempt, prior order.Risk) (order.Risk, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rechecked = append(s.rechecked, a)
	if s.recheck != nil {
		return *s.recheck, nil
	}
	return prior, nil
}

func (s *scorer) Score(ctx context.Context, a checkout.Attempt) (order.Risk, error) {
	s.mu.Lock()
	s.scored = append(s.scored, a)
	s.mu.Unlock()
	if s.slow {
		<-ctx.Done()
		return order.Risk{}, ctx.Err()
	}
	return s.risk, s.err
}

func (s *scorer) Declined(_ context.Context, a checkout.Attempt) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.declined = append(s.declined, a)
}

func TestCheckoutScoring(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	fresh := func() *fakeStore { return &fakeStore{reserve: []reserveReply{{prior: order.Prior{Fresh: true}}}} }

	t.Run("allowed: captured and completed as paid, with the risk kept", func(t *testing.T) {
		st, sc := fresh(), &scorer{risk: order.Risk{Score: 12, Decision: order.DecisionAllow, Reasons: []string{"model"}}}
		svc, _, gw := newServiceWith(st, now, oneLine(), sc)
		if _, _, err := svc.Checkout(customer(), "k-allow", request()); err != nil {
			t.Fatal(err)
		}
		c := st.completed[0]
		if gw.captured != 1 || c.Action != order.ActPay || c.Risk == nil || c.Risk.Score != 12 {
			t.Fatalf("captured %d, completion %+v", gw.captured, c)
		}
		a := sc.scored[0]
		if a.BIN != "424242" || a.Brand != "visa" || a.Total.Amount != 1000 || a.Units != 2 || a.ShipCountry != "DE" {
			t.Fatalf("attempt %+v", a)
		}
	})

	t.Run("the processor's answers reach the rules: the issuer's country before, the CVC check after", func(t *testing.T) {
		st, sc := fresh(), &scorer{risk: order.Risk{Decision: order.DecisionAllow}}
		svc, _, _ := newServiceWith(st, now, oneLine(), sc)
		if _, _, err := svc.Checkout(customer(), "k-checks", request()); err != nil {
			t.Fatal(err)
		}
		if a := sc.scored[0]; a.CardCountry != "US" || a.CVCCheck != "" {
			t.Fatalf("scored %+v: want the simulator's US card, no CVC check yet", a)
		}
		if len(sc.rechecked) != 1 || sc.rechecked[0].CVCCheck != "pass" || sc.rechecked[0].CardCountry != "US" {
			t.Fatalf("rechecked %+v", sc.rechecked)
		}
	})

	t.Run("a card the processor refuses when asked about it is a decline, never reaching the authorization", func(t *testing.T) {
		st, sc := fresh(), &scorer{risk: order.Risk{Decision: order.DecisionAllow}}
		gw := &refusingInspector{}
		svc := checkout.NewService(checkout.Deps{Store: st, Carts: pricedCarts{oneLine()}, Methods: fakeMethods{}, Cards: &countingCards{}, Gateway: gw,
			Now: func() time.Time { return now }, Instance: "ins_test", Lease: 30 * time.Second, Scorer: sc})
		_, _, err := svc.Checkout(customer(), "k-inspect", request())
		if !errors.Is(err, order.ErrDeclined) || err.Error() != order.ErrDeclined.Error() {
			t.Fatalf("err = %v, want the plain decline", err)
		}
		if gw.authorized != 0 || len(st.released) != 1 || len(sc.declined) != 1 || len(sc.scored) != 0 {
			t.Fatalf("authorized %d released %d declined %d scored %d", gw.authorized, len(st.released), len(sc.declined), len(sc.scored))
		}
	})

	t.Run("blocked after the authorization: the hold is voided, answered as a decline", func(t *testing.T) {
		st := fresh()
		sc := &scorer{risk: order.Risk{Decision: order.DecisionAllow},
			recheck: &order.Risk{Score: 99, Decision: order.DecisionBlock, Reasons: []string{"rule cvc_check_failed (block)"}}}
		svc, _, gw := newServiceWith(st, now, oneLine(), sc)
		_, _, err := svc.Checkout(customer(), "k-cvc", request())
		if !errors.Is(err, order.ErrDeclined) || err.Error() != order.ErrDeclined.Error() {
			t.Fatalf("err = %v, want the bare decline", err)
		}
		if gw.authorized != 1 || gw.voided != 1 || gw.captured != 0 || len(st.completed) != 0 || len(st.released) != 1 || len(sc.declined) != 1 {
			t.Fatalf("authorized %d voided %d captured %d completed %d released %d declined %d",
				gw.authorized, gw.voided, gw.captured, len(st.completed), len(st.released), len(sc.declined))
		}
	})

	t.Run("review: authorized, not captured, held", func(t *testing.T) {
		st, sc := fresh(), &scorer{risk: order.Risk{Score: 70, Decision: order.DecisionReview}}
		svc, _, gw := newServiceWith(st, now, oneLine(), sc)
		if _, _, err := svc.Checkout(customer(), "k-review", request()); err != nil {
			t.Fatal(err)
		}
		c := st.completed[0]
		if gw.captured != 0 || c.Action != order.ActHold || c.Captured.Amount != 0 || c.Risk.Decision != order.DecisionReview {
			t.Fatalf("captured %d, completion %+v", gw.captured, c)
		}
	})

	t.Run("block: the card never reaches the processor, the order released, answered as a decline", func(t *testing.T) {
		st, sc := fresh(), &scorer{risk: order.Risk{Score: 90, Decision: order.DecisionBlock, Reasons: []string{"rule card_testing"}}}
		svc, _, gw := newServiceWith(st, now, oneLine(), sc)
		_, _, err := svc.Checkout(customer(), "k-block", request())
		if !errors.Is(err, order.ErrDeclined) {
			t.Fatalf("err = %v, want the decline", err)
		}
		// No hint that rules decided: the very answer a declined card gets.
		if err.Error() != order.ErrDeclined.Error() || strings.Contains(err.Error(), "rule") {
			t.Fatalf("the answer %q tells", err)
		}
		if len(sc.declined) != 1 {
			t.Fatalf("the scorer was told of %d declines; a block is one for the next attempts' velocity", len(sc.declined))
		}
		if gw.authorized != 0 || gw.voided != 0 || gw.captured != 0 || len(st.completed) != 0 || len(st.released) != 1 {
			t.Fatalf("authorized %d voided %d captured %d completed %d released %d", gw.authorized, gw.voided, gw.captured, len(st.completed), len(st.released))
		}
	})

	t.Run("a scorer that fails holds the order for review, never allows", func(t *testing.T) {
		for name, sc := range map[string]*scorer{
			"error":          {err: errors.New("model unreadable")},
			"no answer":      {slow: true},
			"a broken score": {risk: order.Risk{Score: 250, Decision: order.DecisionAllow}},
			"no decision":    {risk: order.Risk{Score: 3}},
		} {
			st := fresh()
			svc, _, gw := newServiceWith(st, now, oneLine(), sc)
			start := time.Now()
			if _, _, err := svc.Checkout(customer(), "k-fail", request()); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			c := st.completed[0]
			if gw.captured != 0 || c.Action != order.ActHold || c.Risk.Decision != order.DecisionReview {
				t.Fatalf("%s: captured %d, completion %+v", name, gw.captured, c)
			}
			if d := time.Since(start); d > checkout.ScoreTimeout+5*time.Second {
				t.Fatalf("%s: the checkout waited %s", name, d)
			}
		}
	})

	t.Run("a declined card is told to the scorer after its score", func(t *testing.T) {
		st, sc := fresh(), &scorer{risk: order.Risk{Decision: order.DecisionAllow}}
		svc, _, _ := newServiceWith(st, now, oneLine(), sc)
		r := request()
		r.CVC = "000" // the simulator declines it as an incorrect CVC
		if _, _, err := svc.Checkout(customer(), "k-decl", r); !errors.Is(err, order.ErrDeclined) {
			t.Fatalf("err = %v", err)
		}
		if len(sc.declined) != 1 || len(sc.scored) != 1 || sc.declined[0].BIN != "424242" {
			t.Fatalf("declined %+v, scored %d", sc.declined, len(sc.scored))
		}
	})

	t.Run("the card is named by its fingerprint; a decline is a signal; a blocked card never reaches the processor", func(t *testing.T) {
		st, sc := fresh(), &scorer{risk: order.Risk{Decision: order.DecisionAllow}}
		sig, blocks := &signals{}, &cardBlocks{}
		svc, cards, gw := newServiceWithDeps(st, now, oneLine(), checkout.Deps{Scorer: sc, Fingerprints: fingerprints{}, Signals: sig, CardBlocks: blocks})
		r := request()
		r.CVC = "000"
		if _, _, err := svc.Checkout(customer(), "k-fp1", r); !errors.Is(err, order.ErrDeclined) {
			t.Fatalf("err = %v", err)
		}
		if got := sc.scored[0].Card; got != "cfp:4242424242424242" {
			t.Fatalf("the attempt names the card %q, want its fingerprint", got)
		}
		if len(sig.got) != 1 || sig.got[0].Kind != detect.PaymentDeclined || sig.got[0].Card != "cfp:4242424242424242" || sig.got[0].Detail["outcome"] != "declined" {
			t.Fatalf("signals %+v", sig.got)
		}
		blocks.fp = "cfp:4242424242424242"
		st.reserve = []reserveReply{{prior: order.Prior{Fresh: true}}}
		readsBefore, authBefore := cards.reads, gw.authorized
		if _, _, err := svc.Checkout(customer(), "k-fp2", request()); !errors.Is(err, order.ErrDeclined) || err.Error() != order.ErrDeclined.Error() {
			t.Fatalf("a blocked card: err = %v, want the plain decline", err)
		}
		if gw.authorized != authBefore || cards.reads != readsBefore+1 || len(sc.scored) != 1 {
			t.Fatalf("a blocked card reached the processor (%d) or the scorer (%d)", gw.authorized-authBefore, len(sc.scored))
		}
		if len(sig.got) != 2 || sig.got[1].Detail["outcome"] != "refused" || len(sc.declined) != 2 {
			t.Fatalf("the refusal was not counted: signals %+v, declines %d", sig.got, len(sc.declined))
		}
		// An authorized checkout is a signal too, with its outcome, BIN and
		// amount: never more of the card.
		blocks.fp = ""
		st.reserve = []reserveReply{{prior: order.Prior{Fresh: true}}}
		if _, _, err := svc.Checkout(customer(), "k-fp3", request()); err != nil {
			t.Fatal(err)
		}
		if a := sig.got[len(sig.got)-1]; a.Kind != detect.PaymentAuthorized || a.Detail["outcome"] != "authorized" || a.Detail["bin"] != "424242" ||
			a.Detail["amount"] != "1000" || a.Detail["currency"] != "EUR" || strings.Contains(fmt.Sprint(a.Detail), "4242424242424242") {
			t.Fatalf("the authorization's signal %+v", a)
		}
	})
}

// fingerprints names a card by its number with a prefix: enough to see the
// checkout uses it (the real one is an HMAC, keys.Fingerprints).
type fingerprints struct{}

func (fingerprints) Fingerprint(number string) (string, error) { return "cfp:" + number, nil }

type signals struct {
	mu  sync.Mutex
	got []detect.Signal
}

func (s *signals) Report(_ context.Context, sig detect.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, sig)
}

// refusingInspector is a processor that refuses the card when asked about
// it, as Stripe refuses an incorrect number when making its payment method.
type refusingInspector struct{ countingGateway }

func (*refusingInspector) Inspect(context.Context, payment.AuthorizeRequest) (payment.CardInfo, error) {
	return payment.CardInfo{}, fmt.Errorf("%w: incorrect number", payment.ErrDeclined)
}

type cardBlocks struct{ fp string }

func (b *cardBlocks) CardBlocked(fp string) bool { return fp == b.fp }
