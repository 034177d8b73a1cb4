package app_test

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/app"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/logging"
	"github.com/bulwark-shop/bulwark/internal/scoring"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

type riskOut struct {
	Score    int                `json:"score"`
	Decision string             `json:"decision"`
	Reasons  []string           `json:"reasons"`
	Rules    string             `json:"rules_version"`
	Model    string             `json:"model_version"`
	Features map[string]float64 `json:"features"`
	Shadow   string             `json:"shadow"`
}

type scoredOrder struct {
	ID       string
	Status   string
	Captured struct{ Amount int64 }
	Risk     *riskOut
	Label    string
}

// TestFraudReview: with the built-in rules, a new account's big order is
// held for review — authorized, not captured — and finance approves
// (captured) or rejects (voided, restocked) it; a card declined three times
// within the hour is refused on its fourth try even with the right CVC,
// and nothing is charged; the risk is shown to finance and admin only; on
// both engines.
func TestFraudReview(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("fraud-admin@example.com")
		finance := s.staff(admin, "fraud-finance@example.com", "finance")
		support := s.staff(admin, "fraud-support@example.com", "support")
		p := s.createProduct(admin, "FRAUD-1", 1000)
		buyer := s.shopper("fraud-buyer@example.com", "4242424242424242")

		// 60 × 19.99 EUR = 1,199.40 EUR from an account made a moment ago.
		var held scoredOrder
		s.must(201, checkoutReq(buyer, "big-1", s.cartWith(buyer, 60, p.ID), "123")).JSON(t, &held)
		if held.Status != "pending_review" || held.Risk != nil {
			t.Fatalf("a new account's big order: %s, risk shown to its customer: %v", held.Status, held.Risk)
		}
		if got := s.stock(p.ID); got != 940 {
			t.Fatalf("stock %d while held, want 940 (reserved)", got)
		}

		var queue struct{ Items []scoredOrder }
		s.must(200, req{method: "GET", path: "/api/v1/admin/reviews", token: finance}).JSON(t, &queue)
		if len(queue.Items) != 1 || queue.Items[0].ID != held.ID || queue.Items[0].Risk == nil {
			t.Fatalf("the review queue: %+v", queue.Items)
		}
		r := queue.Items[0].Risk
		if r.Decision != "review" || r.Score != 70 || r.Rules != "default-3" || len(r.Reasons) != 1 ||
			!strings.Contains(r.Reasons[0], "new_account_big_order") || r.Features["amount"] != 1199.4 || r.Features["account_age_hours"] > 1 {
			t.Fatalf("the held order's risk: %+v", r)
		}
		s.must(403, req{method: "GET", path: "/api/v1/admin/reviews", token: support})
		s.must(403, req{method: "POST", path: "/api/v1/admin/reviews/" + held.ID + "/approve", token: support, body: map[string]any{}})
		// Support sees the order, not its risk; its customer neither.
		var seen scoredOrder
		s.must(200, req{method: "GET", path: "/api/v1/admin/orders/" + held.ID, token: support}).JSON(t, &seen)
		if seen.Risk != nil || seen.Label != "" {
			t.Fatalf("support sees the risk: %+v", seen)
		}
		s.must(200, req{method: "GET", path: "/api/v1/orders/" + held.ID, token: buyer.token}).JSON(t, &seen)
		if seen.Risk != nil {
			t.Fatal("the customer sees the risk")
		}

		// Approve: captured and labelled, once.
		var approved scoredOrder
		s.must(200, req{method: "POST", path: "/api/v1/admin/reviews/" + held.ID + "/approve", token: finance, body: map[string]any{}}).JSON(t, &approved)
		if approved.Status != "paid" || approved.Captured.Amount != 119940 || approved.Label != "legitimate" || approved.Risk == nil {
			t.Fatalf("approved: %+v", approved)
		}
		again := s.must(200, req{method: "POST", path: "/api/v1/admin/reviews/" + held.ID + "/approve", token: finance, body: map[string]any{}})
		if again.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatal("approving again was not answered as done")
		}
		if res := s.do(req{method: "POST", path: "/api/v1/admin/reviews/" + held.ID + "/reject", token: finance, body: map[string]any{}}); res.Status != 409 {
			t.Fatalf("rejecting an approved order: %d %s", res.Status, res.Body)
		}

		// Reject: voided, restocked, labelled fraud.
		var second, rejected scoredOrder
		s.must(201, checkoutReq(buyer, "big-2", s.cartWith(buyer, 60, p.ID), "123")).JSON(t, &second)
		if second.Status != "pending_review" {
			t.Fatalf("the second big order: %s", second.Status)
		}
		s.must(200, req{method: "POST", path: "/api/v1/admin/reviews/" + second.ID + "/reject", token: admin, body: map[string]any{}}).JSON(t, &rejected)
		if rejected.Status != "cancelled" || rejected.Captured.Amount != 0 || rejected.Label != "fraud" {
			t.Fatalf("rejected: %+v", rejected)
		}
		if got := s.stock(p.ID); got != 940 {
			t.Fatalf("stock %d after the rejection, want 940 (60 sold, 60 back)", got)
		}

		// Labels: any order, replaced; a bad one refused.
		var labelled scoredOrder
		s.must(200, req{method: "POST", path: "/api/v1/admin/orders/" + held.ID + "/label", token: finance, body: map[string]any{"label": "fraud"}}).JSON(t, &labelled)
		if labelled.Label != "fraud" {
			t.Fatalf("label: %q", labelled.Label)
		}
		if res := s.do(req{method: "POST", path: "/api/v1/admin/orders/" + held.ID + "/label", token: finance, body: map[string]any{"label": "chargeback"}}); res.Status != 422 {
			t.Fatalf("a bad label: %d %s", res.Status, res.Body)
		}
		if res := s.do(req{method: "POST", path: "/api/v1/admin/orders/" + held.ID + "/label", token: finance, body: map[string]any{"label": "fraud", "extra": 1}}); res.Status != 400 && res.Status != 422 {
			t.Fatalf("an unknown field: %d %s", res.Status, res.Body)
		}

		// A card declined three times within the hour is refused the fourth
		// time, right CVC or not, and nothing is charged; another card is not.
		tester := s.shopper("fraud-tester@example.com", "4242424242424242")
		for i := range 3 {
			if res := s.checkout(tester, "decl-"+string(rune('a'+i)), s.cartWith(tester, 1, p.ID), "000"); res.Status != 402 {
				t.Fatalf("decline %d: %d %s", i+1, res.Status, res.Body)
			}
		}
		blocked := s.checkout(tester, "decl-d", s.cartWith(tester, 1, p.ID), "123")
		if blocked.Status != 402 || blocked.Code(t) != "payment_declined" {
			t.Fatalf("the tested card's fourth try: %d %s", blocked.Status, blocked.Body)
		}
		other := s.shopper("fraud-other@example.com", "5555555555554444")
		s.must(201, checkoutReq(other, "ok-1", s.cartWith(other, 1, p.ID), "123"))
		if got := s.stock(p.ID); got != 939 {
			t.Fatalf("stock %d: the refused checkouts kept stock", got)
		}
	})
}

// TestFraudRulesSetting: a rules file replaces the built-in rules; one
// that does not compile refuses to start, naming the bad rule.
func TestFraudRulesSetting(t *testing.T) {
	db := sqliteDB(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"version":"v2","mode":"enforce","rules":[{"name":"oops","action":"block","expr":"card_number > 0"}]}`), 0o600)
	cfg := testConfig(db)
	cfg.FraudRules = bad
	if a, err := app.New(t.Context(), cfg, logging.New(io.Discard, 0), time.Now); err == nil {
		a.Close()
		t.Fatal("started with a rule that does not compile")
	} else if !strings.Contains(err.Error(), `rule "oops"`) {
		t.Fatalf("the refusal does not name the rule: %v", err)
	}

	good := filepath.Join(dir, "good.json")
	os.WriteFile(good, []byte(`{"version":"shop-7","mode":"enforce","rules":[{"name":"everything_big","action":"review","expr":"amount >= 19"}]}`), 0o600)
	s := startServer(t, db, func(c *config.Config) { c.FraudRules = good })
	admin := s.createAdmin("rules-admin@example.com")
	p := s.createProduct(admin, "RULES-1", 10)
	buyer := s.shopper("rules-buyer@example.com", "4242424242424242")
	var o scoredOrder
	s.must(201, checkoutReq(buyer, "r-1", s.cartWith(buyer, 1, p.ID), "123")).JSON(t, &o)
	if o.Status != "pending_review" {
		t.Fatalf("an order the shop's rule reviews: %s", o.Status)
	}
	s.must(200, req{method: "GET", path: "/api/v1/admin/orders/" + o.ID, token: admin}).JSON(t, &o)
	if o.Risk == nil || o.Risk.Rules != "shop-7" {
		t.Fatalf("risk %+v", o.Risk)
	}
}

// TestCardTesting: a card declined three times is refused on its next try
// before it reaches the processor, under any account that saved it (the
// card is named by its fingerprint, never its number); detection raises a
// card-testing finding about the fingerprint and blocks it; ten declines
// from one address hold that address's orders for review, refusing
// nothing; on both engines.
func TestCardTesting(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db, func(c *config.Config) { c.TrustedProxies = "127.0.0.0/8" })
		admin := s.createAdmin("testing-admin@example.com")
		p := s.createProduct(admin, "TESTING-1", 100)
		const card = "4000056655665556"
		from := func(r req, ip string) req {
			r.header["X-Forwarded-For"] = ip
			return r
		}
		tester := s.shopper("card-tester@example.com", card)
		for i := range 3 {
			res := s.do(from(checkoutReq(tester, fmt.Sprintf("t-%d", i), s.cartWith(tester, 1, p.ID), "000"), "198.51.100.7"))
			if res.Status != 402 {
				t.Fatalf("decline %d: %d %s", i+1, res.Status, res.Body)
			}
		}
		// The fourth try, with the right CVC, from another account that
		// saved the same card, from another address: refused.
		accomplice := s.shopper("card-accomplice@example.com", card)
		res := s.do(from(checkoutReq(accomplice, "a-1", s.cartWith(accomplice, 1, p.ID), "123"), "198.51.100.8"))
		if res.Status != 402 || res.Code(t) != "payment_declined" {
			t.Fatalf("the tested card under another account: %d %s", res.Status, res.Body)
		}

		f := s.waitFinding(admin, "type="+url.QueryEscape("Fraud:Card/CardTesting"))
		if f.Subject.Kind != "card" || !strings.HasPrefix(f.Subject.ID, "cfp_") {
			t.Fatalf("finding about %+v, want a card fingerprint", f.Subject)
		}
		if got := s.waitResponse(admin, f.ID); got != "block-card 24h0m0s (repeat 1)" {
			t.Fatalf("the card finding's response %q", got)
		}
		raw := s.must(200, req{method: "GET", path: "/api/v1/admin/findings/" + f.ID, token: admin})
		if strings.Contains(string(raw.Body), card) || strings.Contains(string(raw.Body), card[6:]) {
			t.Fatalf("the finding shows the card number: %s", raw.Body)
		}
		var list blocksOut
		s.must(200, req{method: "GET", path: "/api/v1/admin/blocks", token: admin}).JSON(t, &list)
		found := false
		for _, b := range list.Responses {
			found = found || (b.Subject.Kind == "card" && b.Subject.ID == f.Subject.ID && b.Action == "block-card")
		}
		if !found {
			t.Fatalf("the card block is not listed: %+v", list.Responses)
		}

		// Ten declines from one address (a declined card, then refusals):
		// its orders are held for review, not refused.
		dropper := s.shopper("card-dropper@example.com", "4000000000000002")
		for i := range 10 {
			res := s.do(from(checkoutReq(dropper, fmt.Sprintf("d-%d", i), s.cartWith(dropper, 1, p.ID), "123"), "198.51.100.9"))
			if res.Status != 402 {
				t.Fatalf("decline %d from the address: %d %s", i+1, res.Status, res.Body)
			}
		}
		held := s.waitFinding(admin, "type="+url.QueryEscape("Fraud:Card/CardTesting")+"&subject=ip:198.51.100.9")
		if got := s.waitResponse(admin, held.ID); got != "hold-orders 1h0m0s (repeat 1)" {
			t.Fatalf("the address finding's response %q", got)
		}
		colleague := s.shopper("card-colleague@example.com", "5555555555554444")
		deadline := time.Now().Add(5 * time.Second)
		var o scoredOrder
		for {
			s.must(201, from(checkoutReq(colleague, "c-"+time.Now().Format("150405.000"), s.cartWith(colleague, 1, p.ID), "123"), "198.51.100.9")).JSON(t, &o)
			if o.Status == "pending_review" || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond) // the checker's copy refreshes twice a second
		}
		s.must(200, req{method: "GET", path: "/api/v1/admin/orders/" + o.ID, token: admin}).JSON(t, &o)
		if o.Status != "pending_review" || o.Risk == nil || !slices.Contains(o.Risk.Reasons, scoring.HeldReason) {
			t.Fatalf("an order from the held address: %s, risk %+v", o.Status, o.Risk)
		}
		// Another address is not held.
		var fine scoredOrder
		s.must(201, from(checkoutReq(colleague, "c-elsewhere", s.cartWith(colleague, 1, p.ID), "123"), "198.51.100.10")).JSON(t, &fine)
		if fine.Status != "paid" {
			t.Fatalf("an order from another address: %s", fine.Status)
		}
	})
}

type rulesOut struct {
	Enforced struct {
		Version string
		Mode    string
		Rules   []map[string]string
	}
	Shadow *struct{ Version string }
	Source string
	Model  string
}

// TestFraudRulesAPI: admins read the running rules, store a set in shadow
// (scored, not enforced) and then enforced (it decides the next checkout),
// and backtest a set against the scored orders; a set that does not
// compile, or a taken version with other rules, is refused and the running
// set stays; finance may not; on both engines.
func TestFraudRulesAPI(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("rules-api-admin@example.com")
		finance := s.staff(admin, "rules-api-finance@example.com", "finance")
		p := s.createProduct(admin, "RULESAPI-1", 100)
		buyer := s.shopper("rules-api-buyer@example.com", "4242424242424242")
		get := func() rulesOut {
			var r rulesOut
			s.must(200, req{method: "GET", path: "/api/v1/admin/fraud/rules", token: admin}).JSON(t, &r)
			return r
		}
		putReq := func(body string) req {
			return req{method: "PUT", path: "/api/v1/admin/fraud/rules", token: admin, body: body}
		}
		put := func(body string) response { return s.do(putReq(body)) }
		if r := get(); r.Source != "built-in" || r.Enforced.Version != "default-3" || r.Shadow != nil || len(r.Enforced.Rules) != len(scoring.DefaultRules().Rules) {
			t.Fatalf("the rules at start: %+v", r)
		}
		s.must(403, req{method: "GET", path: "/api/v1/admin/fraud/rules", token: finance})
		s.must(403, req{method: "PUT", path: "/api/v1/admin/fraud/rules", token: finance, body: map[string]any{}})

		bad := put(`{"version":"shop-bad","mode":"enforce","rules":[{"name":"oops","action":"block","expr":"card_number > 0"}]}`)
		if bad.Status != 422 || !strings.Contains(string(bad.Body), `rule \"oops\"`) {
			t.Fatalf("a rule that does not compile: %d %s", bad.Status, bad.Body)
		}
		for _, body := range []string{`{"version":"x","mode":"enforce","rules":[],"extra":1}`, `[`, `{"version":"a b","mode":"enforce","rules":[]}`,
			`{"version":"ok","mode":"sometimes","rules":[]}`} {
			if res := put(body); res.Status != 400 && res.Status != 422 {
				t.Fatalf("%s: %d %s", body, res.Status, res.Body)
			}
		}
		if r := get(); r.Enforced.Version != "default-3" {
			t.Fatalf("a refused set replaced the running one: %+v", r)
		}

		s.must(200, putReq(`{"version":"shop-s1","mode":"shadow","rules":[{"name":"everything","action":"block","expr":"amount > 0"}]}`))
		if r := get(); r.Shadow == nil || r.Shadow.Version != "shop-s1" || r.Enforced.Version != "default-3" {
			t.Fatalf("after the shadow set: %+v", r)
		}
		var first scoredOrder
		s.must(201, checkoutReq(buyer, "ra-1", s.cartWith(buyer, 1, p.ID), "123")).JSON(t, &first)
		s.must(200, req{method: "GET", path: "/api/v1/admin/orders/" + first.ID, token: admin}).JSON(t, &first)
		if first.Status != "paid" || first.Risk == nil || first.Risk.Shadow != "shop-s1: block" {
			t.Fatalf("an order under the shadow set: %s %+v", first.Status, first.Risk)
		}

		s.must(200, putReq(`{"version":"shop-e1","mode":"enforce","rules":[{"name":"look_at_all","action":"review","expr":"amount >= 0"}]}`))
		if r := get(); r.Source != "stored" || r.Enforced.Version != "shop-e1" {
			t.Fatalf("after the enforced set: %+v", r)
		}
		var second scoredOrder
		s.must(201, checkoutReq(buyer, "ra-2", s.cartWith(buyer, 1, p.ID), "123")).JSON(t, &second)
		if second.Status != "pending_review" {
			t.Fatalf("an order the stored set reviews: %s", second.Status)
		}
		if res := put(`{"version":"shop-e1","mode":"enforce","rules":[{"name":"other","action":"review","expr":"amount >= 1"}]}`); res.Status != 409 {
			t.Fatalf("a taken version with other rules: %d %s", res.Status, res.Body)
		}

		var bt struct {
			Orders  int
			Would   struct{ Allow, Review, Block int }
			Was     struct{ Allow, Review, Block int }
			Changed int
		}
		s.must(200, req{method: "POST", path: "/api/v1/admin/fraud/backtest", token: admin,
			body: map[string]any{"version": "bt-1", "rules": []map[string]string{{"name": "big", "action": "block", "expr": "amount > 5"}}}}).JSON(t, &bt)
		if bt.Orders != 2 || bt.Would.Block != 2 || bt.Was.Allow != 1 || bt.Was.Review != 1 || bt.Changed != 2 {
			t.Fatalf("backtest %+v", bt)
		}
		if res := s.do(req{method: "POST", path: "/api/v1/admin/fraud/backtest", token: admin,
			body: map[string]any{"version": "bt-2", "rules": []map[string]string{{"name": "x", "action": "block", "expr": "nope"}}}}); res.Status != 422 {
			t.Fatalf("backtesting a set that does not compile: %d %s", res.Status, res.Body)
		}
	})
}

// TestFraudModelCLI: an operator generates history, trains a model (its
// held-out AUC printed), lists it, and switches it on; the running server
// scores with it within seconds; an unknown or malformed request is
// refused; on SQLite (the store's tests cover both engines).
func TestFraudModelCLI(t *testing.T) {
	s := startServer(t, sqliteDB(t))
	admin := s.createAdmin("model-admin@example.com")
	p := s.createProduct(admin, "MODEL-1", 100)
	buyer := s.shopper("model-buyer@example.com", "4242424242424242")
	history := filepath.Join(t.TempDir(), "history.jsonl")

	if code, out, errOut := runCLI(t, s.Config, "", "fraud", "generate", "--out", history, "--orders", "8000"); code != 0 || !strings.Contains(out, "wrote 8000 records") {
		t.Fatalf("generate: %d %s %s", code, out, errOut)
	}
	code, out, errOut := runCLI(t, s.Config, "", "fraud", "train", "--history", history, "--version", "m-1")
	if code != 0 || !strings.Contains(out, "state: inactive") {
		t.Fatalf("train: %d %s %s", code, out, errOut)
	}
	var auc float64
	if _, err := fmt.Sscanf(out[strings.Index(out, "AUC "):], "AUC %f", &auc); err != nil || auc < 0.95 {
		t.Fatalf("held-out AUC %.3f (%v) in %s", auc, err, out)
	}
	if code, _, errOut := runCLI(t, s.Config, "", "fraud", "train", "--history", history, "--version", "m-1"); code == 0 || !strings.Contains(errOut, "exists") {
		t.Fatalf("a second m-1: %d %s", code, errOut)
	}
	if code, out, _ := runCLI(t, s.Config, "", "fraud", "models"); code != 0 || !strings.Contains(out, "m-1") || !strings.Contains(out, "inactive") {
		t.Fatalf("models: %d %s", code, out)
	}
	if code, _, errOut := runCLI(t, s.Config, "", "fraud", "activate", "m-9"); code == 0 || !strings.Contains(errOut, "m-9") {
		t.Fatalf("activating an unknown model: %d %s", code, errOut)
	}
	bad := filepath.Join(t.TempDir(), "bad.csv")
	os.WriteFile(bad, []byte("label,amount\nfraud,lots\n"), 0o600)
	if code, _, errOut := runCLI(t, s.Config, "", "fraud", "train", "--history", bad); code == 0 || !strings.Contains(errOut, "line 2") {
		t.Fatalf("a bad history: %d %s", code, errOut)
	}
	if code, out, errOut := runCLI(t, s.Config, "", "fraud", "activate", "m-1"); code != 0 || !strings.Contains(out, "enforce") {
		t.Fatalf("activate: %d %s %s", code, out, errOut)
	}
	// The server loads it within its sync.
	deadline := time.Now().Add(scoring.SyncEvery + 5*time.Second)
	for {
		var r rulesOut
		s.must(200, req{method: "GET", path: "/api/v1/admin/fraud/rules", token: admin}).JSON(t, &r)
		if r.Model == "m-1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server does not run m-1: %+v", r)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var o scoredOrder
	s.must(201, checkoutReq(buyer, "model-1", s.cartWith(buyer, 1, p.ID), "123")).JSON(t, &o)
	s.must(200, req{method: "GET", path: "/api/v1/admin/orders/" + o.ID, token: admin}).JSON(t, &o)
	if o.Risk == nil || o.Risk.Model != "m-1" {
		t.Fatalf("the order's risk %+v", o.Risk)
	}
	if code, out, errOut := runCLI(t, s.Config, "", "fraud", "evaluate", "--history", history); code != 0 || !strings.Contains(out, "model m-1") || !strings.Contains(out, "AUC") {
		t.Fatalf("evaluate: %d %s %s", code, out, errOut)
	}
}
