package scoring_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/fraudmodel"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/scoring"
)

func set(rules ...scoring.Rule) scoring.RuleSet {
	return scoring.RuleSet{Version: "t1", Mode: scoring.Enforce, Rules: rules}
}

func TestCompileRefusesBadRules(t *testing.T) {
	long := strings.Repeat("amount > 1 && ", 100) + "true"
	deep := strings.Repeat("units+", 160) + "units > 1"
	many := make([]scoring.Rule, scoring.MaxRules+1)
	for i := range many {
		many[i] = scoring.Rule{Name: "r" + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + string(rune('a'+i/26)), Action: scoring.Review, Expr: "amount > 1"}
	}
	for name, tc := range map[string]struct {
		rs   scoring.RuleSet
		want string
	}{
		"unknown feature":   {set(scoring.Rule{Name: "x", Action: scoring.Block, Expr: "card_number == 1"}), `rule "x"`},
		"not boolean":       {set(scoring.Rule{Name: "sum", Action: scoring.Block, Expr: "amount + 1"}), `rule "sum"`},
		"syntax":            {set(scoring.Rule{Name: "bad", Action: scoring.Review, Expr: "amount >"}), `rule "bad"`},
		"unknown action":    {set(scoring.Rule{Name: "a", Action: "deny", Expr: "amount > 1"}), `action "deny"`},
		"name":              {set(scoring.Rule{Name: "Has Spaces", Action: scoring.Review, Expr: "amount > 1"}), "rule 1: name"},
		"twice":             {set(scoring.Rule{Name: "a", Action: scoring.Review, Expr: "amount > 1"}, scoring.Rule{Name: "a", Action: scoring.Block, Expr: "amount > 2"}), "named twice"},
		"too long":          {set(scoring.Rule{Name: "long", Action: scoring.Review, Expr: long}), "1 to 1000 bytes"},
		"too many nodes":    {set(scoring.Rule{Name: "deep", Action: scoring.Review, Expr: deep}), `rule "deep"`},
		"empty":             {set(scoring.Rule{Name: "e", Action: scoring.Review}), "1 to 1000 bytes"},
		"builtins are off":  {set(scoring.Rule{Name: "b", Action: scoring.Review, Expr: "len(bin) > 3"}), `rule "b"`},
		"mode":              {scoring.RuleSet{Version: "v", Mode: "on", Rules: nil}, `mode "on"`},
		"version":           {scoring.RuleSet{Mode: scoring.Enforce}, "version"},
		"too many rules":    {set(many...), "at most 100"},
		"a function called": {set(scoring.Rule{Name: "f", Action: scoring.Review, Expr: "now() > 0"}), `rule "f"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := scoring.Compile(tc.rs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Compile = %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

func TestEvaluateOrder(t *testing.T) {
	c, err := scoring.Compile(set(
		scoring.Rule{Name: "big", Action: scoring.Review, Expr: "amount > 100"},
		scoring.Rule{Name: "known_regular", Action: scoring.Allow, Expr: "prior_orders >= 10"},
		scoring.Rule{Name: "tested", Action: scoring.Block, Expr: "card_declines_hour >= 3"},
		scoring.Rule{Name: "germany", Action: scoring.Review, Expr: `ship_country == "DE" && amount > 500`},
	))
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		f        scoring.Features
		decision string
		score    int
	}{
		"nothing matches":                        {scoring.Features{Amount: 10}, order.DecisionAllow, 0},
		"a review rule":                          {scoring.Features{Amount: 200}, order.DecisionReview, scoring.ReviewScore},
		"an allow rule lets a review through":    {scoring.Features{Amount: 200, PriorOrders: 12}, order.DecisionAllow, 0},
		"a block wins over everything":           {scoring.Features{Amount: 200, PriorOrders: 12, CardDeclinesHour: 3}, order.DecisionBlock, scoring.BlockScore},
		"text attributes compare":                {scoring.Features{Amount: 600, ShipCountry: "DE", PriorOrders: 1}, order.DecisionReview, scoring.ReviewScore},
		"the block alone, with nothing reviewed": {scoring.Features{Amount: 1, CardDeclinesHour: 4}, order.DecisionBlock, scoring.BlockScore},
	} {
		t.Run(name, func(t *testing.T) {
			v := c.Evaluate(tc.f)
			if v.Decision != tc.decision || v.Score != tc.score {
				t.Fatalf("Evaluate = %+v, want %s %d", v, tc.decision, tc.score)
			}
			if tc.decision != order.DecisionAllow && len(v.Matched) == 0 {
				t.Fatal("no reason given")
			}
		})
	}
}

// TestDefaultRulesCompile: the shipped rules compile and say what the docs
// say of them.
func TestDefaultRulesCompile(t *testing.T) {
	c, err := scoring.Compile(scoring.DefaultRules())
	if err != nil {
		t.Fatal(err)
	}
	if v := c.Evaluate(scoring.Features{Amount: 20, CardDeclinesHour: 3}); v.Decision != order.DecisionBlock {
		t.Fatalf("a card declined 3 times within the hour: %+v", v)
	}
	if v := c.Evaluate(scoring.Features{Amount: 20, AddressCardsDay: 5, AddressDeclinesHour: 3}); v.Decision != order.DecisionBlock {
		t.Fatalf("an address with 5 cards today, 3 declined: %+v", v)
	}
	if v := c.Evaluate(scoring.Features{Amount: 20, AddressCardsDay: 5}); v.Decision != order.DecisionAllow {
		t.Fatalf("an office's address with 5 cards today and no declines: %+v", v)
	}
	if v := c.Evaluate(scoring.Features{Amount: 1500, AccountAgeHours: 2}); v.Decision != order.DecisionReview {
		t.Fatalf("a new account's big order: %+v", v)
	}
	if v := c.Evaluate(scoring.Features{Amount: 1500, Guest: 1}); v.Decision != order.DecisionAllow {
		t.Fatalf("a guest's big order is not an account's: %+v", v)
	}
	if v := c.Evaluate(scoring.Features{Amount: 40, AccountAgeHours: 2000, PriorOrders: 5, AmountVsAverage: 1.2, CardAttemptsHour: 1}); v.Decision != order.DecisionAllow {
		t.Fatalf("an ordinary order: %+v", v)
	}
}

// FuzzCompileRules: whatever an operator sends as a rule, compiling it
// either refuses it or gives a rule that evaluates within its limits
// without panicking, to a decision.
func FuzzCompileRules(f *testing.F) {
	for _, r := range scoring.DefaultRules().Rules {
		f.Add(r.Expr)
	}
	f.Add(`ship_country in ["DE", "AT"] && amount > 1e3`)
	f.Add(`bin matches "^4[0-9]{5}$"`)
	f.Add(`1..1000000 | all(# > 0)`)
	f.Fuzz(func(t *testing.T, e string) {
		c, err := scoring.Compile(set(scoring.Rule{Name: "fuzz", Action: scoring.Review, Expr: e}))
		if err != nil {
			return
		}
		v := c.Evaluate(scoring.Features{Amount: 12.5, ShipCountry: "DE", BIN: "424242", Brand: "visa"})
		switch v.Decision {
		case order.DecisionAllow, order.DecisionReview:
		default:
			t.Fatalf("a review rule decided %s", v.Decision)
		}
	})
}

// TestGeneratorSpeaksTheFeatures: the generator of labelled history writes
// the features scoring computes, by the same names, so a model trained on
// it scores real checkouts.
func TestGeneratorSpeaksTheFeatures(t *testing.T) {
	names := scoring.NumericNames()
	for _, n := range fraudmodel.GeneratedFeatures {
		if !slices.Contains(names, n) {
			t.Errorf("the generator writes %q, which scoring does not compute", n)
		}
	}
	if len(fraudmodel.GeneratedFeatures) != len(names) {
		t.Errorf("scoring computes %v, the generator writes %v", names, fraudmodel.GeneratedFeatures)
	}
}
