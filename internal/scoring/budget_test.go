package scoring_test

import (
	"strings"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/scoring"
)

// TestRuleBeyondItsMemoryBudget: a rule that would build a huge value at
// checkout time fails its evaluation within its budget, and a failing
// rule holds the checkout for review: never allows, never hangs.
func TestRuleBeyondItsMemoryBudget(t *testing.T) {
	c, err := scoring.Compile(set(scoring.Rule{Name: "huge", Action: scoring.Allow, Expr: "(1..100000000)[0] == 1"}))
	if err != nil {
		t.Fatal(err)
	}
	v := c.Evaluate(scoring.Features{Amount: 1})
	if v.Decision != order.DecisionReview || len(v.Matched) == 0 || !strings.Contains(v.Matched[0], "failed") {
		t.Fatalf("Evaluate = %+v, want a review for the failed rule", v)
	}
}
