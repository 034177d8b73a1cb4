package scoring_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/checkout"
	"github.com/bulwark-shop/bulwark/internal/fraudmodel"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/scoring"
	"github.com/bulwark-shop/bulwark/internal/throttle"
)

// history is a test double of the store's account history.
type history map[string]scoring.History

func (h history) CheckoutHistory(_ context.Context, customerID, _, _ string) (scoring.History, error) {
	return h[customerID], nil
}

func (h history) AccountEmailIndex(_ context.Context, customerID string) (string, error) {
	return h[customerID].EmailIndex, nil
}

func TestScorer(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	ctx := context.Background()
	s, err := scoring.New(throttle.NewMemory(func() time.Time { return now }, 0), history{
		"usr_old":  {Since: now.Add(-90 * 24 * time.Hour), Orders: 4, Average: 2000},
		"usr_new":  {Since: now.Add(-time.Hour)},
		"usr_mail": {Since: now.Add(-90 * 24 * time.Hour), EmailIndex: "ix_shared"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	attempt := func(customer, card, ip string, cents int64) checkout.Attempt {
		return checkout.Attempt{OrderID: "ord_x", CustomerID: customer, Card: card, IP: ip, Total: money.Money{Amount: cents, Currency: "EUR"},
			Units: 1, Lines: 1, ShipCountry: "DE", BIN: "424242", Brand: "visa", At: now}
	}

	t.Run("an ordinary order of a regular customer is allowed, with its features", func(t *testing.T) {
		r, err := s.Score(ctx, attempt("usr_old", "pm_1", "192.0.2.1", 2500))
		if err != nil || r.Decision != order.DecisionAllow || r.Score != 0 || r.RulesVersion != "default-3" {
			t.Fatalf("risk %+v (%v)", r, err)
		}
		f := r.Features
		if f["amount"] != 25 || f["prior_orders"] != 4 || f["amount_vs_average"] != 1.25 || f["account_age_hours"] != 90*24 ||
			f["card_attempts_hour"] != 1 || f["address_cards_day"] != 1 {
			t.Fatalf("features %v", f)
		}
	})
	t.Run("an email declined five times within the hour is blocked, over accounts and guests", func(t *testing.T) {
		a := attempt("", "cfp_email1", "", 100)
		a.Guest, a.Email = true, "ix_tester"
		for i := range 5 {
			b := a
			b.Card = "cfp_email_other" + strings.Repeat("x", i) // a new card each time
			s.Declined(ctx, b)
		}
		r, err := s.Score(ctx, a)
		if err != nil || r.Decision != order.DecisionBlock || r.Features["email_declines_hour"] != 5 || r.Features["email_attempts_hour"] != 1 {
			t.Fatalf("risk %+v (%v)", r, err)
		}
		other := a
		other.Email = "ix_someone_else"
		if r, err := s.Score(ctx, other); err != nil || r.Decision != order.DecisionAllow {
			t.Fatalf("another email: %+v (%v)", r, err)
		}
	})
	t.Run("an account's email is its history's: its declines and a guest's with that email count together", func(t *testing.T) {
		acct := attempt("usr_mail", "cfp_acct", "", 100)
		for range 3 {
			s.Declined(ctx, acct) // an account's attempt carries no email: the scorer reads it
		}
		guest := attempt("", "cfp_guest", "", 100)
		guest.Guest, guest.Email = true, "ix_shared"
		s.Declined(ctx, guest)
		r, err := s.Score(ctx, attempt("usr_mail", "cfp_acct2", "", 100))
		if err != nil || r.Features["email_declines_hour"] != 4 || r.Features["email_attempts_hour"] != 1 {
			t.Fatalf("risk %+v (%v)", r, err)
		}
	})
	t.Run("a card and a billing address abroad, shipped here, is reviewed; either alone is not", func(t *testing.T) {
		for _, c := range []struct {
			card, billing string
			want          string
			mismatches    [2]float64
		}{
			{"BR", "BR", order.DecisionReview, [2]float64{1, 1}},
			{"BR", "DE", order.DecisionAllow, [2]float64{1, 0}},
			{"DE", "BR", order.DecisionAllow, [2]float64{0, 1}},
			{"", "", order.DecisionAllow, [2]float64{0, 0}},
		} {
			a := attempt("usr_old", "pm_abroad"+c.card+c.billing, "192.0.2.40", 2500)
			a.CardCountry, a.BillingCountry = c.card, c.billing
			r, err := s.Score(ctx, a)
			if err != nil || r.Decision != c.want || r.Features["card_country_mismatch"] != c.mismatches[0] || r.Features["billing_mismatch"] != c.mismatches[1] {
				t.Fatalf("card %q billing %q: %+v (%v)", c.card, c.billing, r, err)
			}
		}
	})
	t.Run("after the authorization, a failed CVC check blocks; the recheck counts nothing", func(t *testing.T) {
		a := attempt("usr_old", "pm_cvc", "192.0.2.41", 2500)
		prior, err := s.Score(ctx, a)
		if err != nil || prior.Decision != order.DecisionAllow {
			t.Fatalf("prior %+v (%v)", prior, err)
		}
		for check, want := range map[string]string{"pass": order.DecisionAllow, "unavailable": order.DecisionAllow, "fail": order.DecisionBlock} {
			a.CVCCheck = check
			r, err := s.Recheck(ctx, a, prior)
			if err != nil || r.Decision != want {
				t.Fatalf("cvc %s: %+v (%v)", check, r, err)
			}
		}
		again, _ := s.Score(ctx, attempt("usr_old", "pm_cvc", "192.0.2.41", 2500))
		if again.Features["card_attempts_hour"] != 2 {
			t.Fatalf("card attempts %v after one score, three rechecks and a score: rechecks counted", again.Features["card_attempts_hour"])
		}
	})
	t.Run("a new account's big order is reviewed", func(t *testing.T) {
		r, err := s.Score(ctx, attempt("usr_new", "pm_2", "192.0.2.2", 150000))
		if err != nil || r.Decision != order.DecisionReview || r.Score != scoring.ReviewScore || len(r.Reasons) != 1 {
			t.Fatalf("risk %+v (%v)", r, err)
		}
	})
	t.Run("a card declined three times within the hour is blocked next", func(t *testing.T) {
		a := attempt("usr_old", "pm_tested", "198.51.100.3", 100)
		for range 3 {
			s.Declined(ctx, a)
		}
		r, err := s.Score(ctx, a)
		if err != nil || r.Decision != order.DecisionBlock || r.Features["card_declines_hour"] != 3 || r.Features["account_declines_day"] != 3 {
			t.Fatalf("risk %+v (%v)", r, err)
		}
		// Another card of the same customer from another address is not.
		if r, _ := s.Score(ctx, attempt("usr_old", "pm_other", "198.51.100.4", 100)); r.Decision != order.DecisionAllow {
			t.Fatalf("another card: %+v", r)
		}
	})
	t.Run("an address trying many cards, declined, is blocked", func(t *testing.T) {
		var r order.Risk
		for i, card := range []string{"c1", "c2", "c3", "c4", "c4", "c5"} {
			var err error
			a := attempt("usr_old", card, "203.0.113.50", 100)
			if r, err = s.Score(ctx, a); err != nil {
				t.Fatal(err)
			}
			if i < 5 && r.Decision != order.DecisionAllow {
				t.Fatalf("card %d (%s): %+v", i+1, card, r)
			}
			if i < 3 {
				s.Declined(ctx, a)
			}
		}
		if r.Decision != order.DecisionBlock || r.Features["address_cards_day"] != 5 {
			t.Fatalf("the fifth distinct card: %+v", r)
		}
	})
	t.Run("an office's NAT address: colleagues' own cards, none declined, are allowed", func(t *testing.T) {
		for i := range 8 {
			customer := "usr_colleague" + string(rune('a'+i))
			if r, err := s.Score(ctx, attempt(customer, "cfp_colleague"+string(rune('a'+i)), "203.0.113.60", 4000)); err != nil || r.Decision != order.DecisionAllow {
				t.Fatalf("colleague %d: %+v (%v)", i+1, r, err)
			}
		}
	})
	t.Run("a response holding the address's orders makes an allowed checkout reviewed", func(t *testing.T) {
		s.Held = func(ip, _, _ string) bool { return ip == "203.0.113.70" }
		defer func() { s.Held = nil }()
		r, err := s.Score(ctx, attempt("usr_old", "cfp_h", "203.0.113.70", 2000))
		if err != nil || r.Decision != order.DecisionReview || r.Score != scoring.ReviewScore || r.Reasons[len(r.Reasons)-1] != scoring.HeldReason {
			t.Fatalf("risk %+v (%v)", r, err)
		}
		if r, _ := s.Score(ctx, attempt("usr_old", "cfp_h2", "203.0.113.71", 2000)); r.Decision != order.DecisionAllow {
			t.Fatalf("another address: %+v", r)
		}
	})
	t.Run("a shared address (the loopback, a trusted proxy) is no client's velocity", func(t *testing.T) {
		s.Shared = func(ip string) bool { return ip == "127.0.0.1" }
		defer func() { s.Shared = nil }()
		for i := range 6 {
			r, err := s.Score(ctx, attempt("usr_old", "pm_shared"+string(rune('a'+i)), "127.0.0.1", 100))
			if err != nil || r.Decision != order.DecisionAllow || r.Features["address_cards_day"] != 0 || r.Features["address_attempts_hour"] != 0 {
				t.Fatalf("card %d from the shared address: %+v (%v)", i+1, r, err)
			}
			s.Declined(ctx, attempt("usr_other", "pm_x", "127.0.0.1", 100))
		}
	})
	t.Run("a shadow rule set is scored, not enforced", func(t *testing.T) {
		if err := s.SetRules(scoring.RuleSet{Version: "shadow-1", Mode: scoring.Shadow, Rules: []scoring.Rule{
			{Name: "everything", Action: scoring.Block, Expr: "amount > 0"}}}); err != nil {
			t.Fatal(err)
		}
		r, err := s.Score(ctx, attempt("usr_old", "pm_9", "192.0.2.9", 2000))
		if err != nil || r.Decision != order.DecisionAllow || r.Shadow != "shadow-1: block" || r.RulesVersion != "default-3" {
			t.Fatalf("risk %+v (%v)", r, err)
		}
	})
	t.Run("an invalid rule set is refused and the running one stays", func(t *testing.T) {
		if err := s.SetRules(scoring.RuleSet{Version: "bad", Mode: scoring.Enforce, Rules: []scoring.Rule{{Name: "x", Action: scoring.Block, Expr: "nope"}}}); err == nil {
			t.Fatal("accepted")
		}
		if r, _ := s.Score(ctx, attempt("usr_old", "pm_10", "192.0.2.10", 2000)); r.RulesVersion != "default-3" {
			t.Fatalf("rules version %q", r.RulesVersion)
		}
	})
	t.Run("a trained model blocks and reviews by its thresholds; the rules' block and allow stand", func(t *testing.T) {
		// p = σ(2·log1p(amount) − 6): 10 → 22, 30 → 69 (review), 200 → 98 (block).
		s.ClearShadow()
		m := &fraudmodel.Model{Version: "m-test", Features: []string{"amount"}, Mean: []float64{0}, Scale: []float64{1}, Weights: []float64{2}, Bias: -6}
		s.SetModel(m, false)
		defer s.SetModel(nil, false)
		r, err := s.Score(ctx, attempt("usr_old", "cfp_m1", "192.0.2.31", 1000))
		if err != nil || r.Decision != order.DecisionAllow || r.ModelVersion != "m-test" || r.Score != 22 {
			t.Fatalf("a small order: %+v (%v)", r, err)
		}
		r, _ = s.Score(ctx, attempt("usr_old", "cfp_m2", "192.0.2.32", 3000))
		if r.Decision != order.DecisionReview || r.Score != 69 || !strings.Contains(strings.Join(r.Reasons, ","), "model: amount +") {
			t.Fatalf("a mid order: %+v", r)
		}
		r, _ = s.Score(ctx, attempt("usr_old", "cfp_m3", "192.0.2.33", 20000))
		if r.Decision != order.DecisionBlock || r.Score != 98 {
			t.Fatalf("a big order: %+v", r)
		}
		// An allow rule lets the model's review through, never its block.
		if err := s.SetRules(scoring.RuleSet{Version: "allow-regulars", Mode: scoring.Enforce, Rules: []scoring.Rule{
			{Name: "regulars", Action: scoring.Allow, Expr: "prior_orders >= 3"}}}); err != nil {
			t.Fatal(err)
		}
		defer s.SetRules(scoring.DefaultRules())
		if r, _ := s.Score(ctx, attempt("usr_old", "cfp_m4", "192.0.2.34", 3000)); r.Decision != order.DecisionAllow {
			t.Fatalf("a regular's mid order under an allow rule: %+v", r)
		}
		if r, _ := s.Score(ctx, attempt("usr_old", "cfp_m5", "192.0.2.35", 20000)); r.Decision != order.DecisionBlock {
			t.Fatalf("a regular's big order under an allow rule: %+v", r)
		}
		// In shadow: scored and said, not enforced.
		s.SetModel(nil, false)
		s.SetModel(m, true)
		defer s.SetModel(nil, true)
		if r, _ := s.Score(ctx, attempt("usr_old", "cfp_m6", "192.0.2.36", 20000)); r.Decision != order.DecisionAllow || r.Shadow != "model m-test: block (98)" {
			t.Fatalf("a model in shadow: %+v", r)
		}
	})
}
