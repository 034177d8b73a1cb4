package scoring

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/bulwark-shop/bulwark/internal/order"
)

// Actions a rule takes when it matches.
const (
	Block  = "block"
	Review = "review"
	Allow  = "allow"
)

// Modes of a rule set: enforced, or scored and logged only (kept on the
// order as Risk.Shadow) to see what it would do before it is switched on.
const (
	Enforce = "enforce"
	Shadow  = "shadow"
)

// Limits of a rule set (operator input).
const (
	MaxRules     = 100
	MaxExprBytes = 1000
	// MaxNodes bounds an expression's syntax tree; MemoryBudget bounds
	// what one evaluation may allocate (expr's own counters): a rule
	// cannot make a checkout slow.
	MaxNodes     = 200
	MemoryBudget = 1000
)

// Scores a matching rule gives the checkout (its score is the highest of
// the rules that match, and 0 when none does): at or above the defaults'
// thresholds, so the score and the decision agree.
const (
	BlockScore  = 90
	ReviewScore = 70
)

// Rule is one rule as the operator writes it.
type Rule struct {
	Name   string `json:"name"`
	Action string `json:"action"`
	Expr   string `json:"expr"`
}

// RuleSet is a version of the shop's rules.
type RuleSet struct {
	Version string `json:"version"`
	Mode    string `json:"mode"`
	Rules   []Rule `json:"rules"`
}

var (
	ruleName    = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)
	versionName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
)

// Compiled is a rule set ready to run.
type Compiled struct {
	Version string
	Mode    string
	rules   []compiledRule
}

type compiledRule struct {
	Rule
	program *vm.Program
}

// Compile checks and compiles rs: names unique and plain, actions known,
// each expression boolean over Features within the limits. Every problem
// is reported, each naming its rule.
func Compile(rs RuleSet) (*Compiled, error) {
	var errs []error
	if !versionName.MatchString(rs.Version) {
		errs = append(errs, errors.New("version: 1 to 64 of A-Z a-z 0-9 _ . - (starting with a letter or digit)"))
	}
	if rs.Mode != Enforce && rs.Mode != Shadow {
		errs = append(errs, fmt.Errorf("mode %q: enforce or shadow", rs.Mode))
	}
	if len(rs.Rules) > MaxRules {
		errs = append(errs, fmt.Errorf("%d rules: at most %d", len(rs.Rules), MaxRules))
		rs.Rules = rs.Rules[:MaxRules]
	}
	c := &Compiled{Version: rs.Version, Mode: rs.Mode}
	seen := map[string]bool{}
	for i, r := range rs.Rules {
		where := fmt.Sprintf("rule %d", i+1)
		if ruleName.MatchString(r.Name) {
			where = fmt.Sprintf("rule %q", r.Name)
		} else {
			errs = append(errs, fmt.Errorf("%s: name must be 1 to 64 of a-z 0-9 _ . - (starting with a letter or digit)", where))
		}
		if seen[r.Name] {
			errs = append(errs, fmt.Errorf("%s: named twice", where))
		}
		seen[r.Name] = true
		switch r.Action {
		case Block, Review, Allow:
		default:
			errs = append(errs, fmt.Errorf("%s: action %q is not block, review or allow", where, r.Action))
		}
		if len(r.Expr) == 0 || len(r.Expr) > MaxExprBytes {
			errs = append(errs, fmt.Errorf("%s: the expression must be 1 to %d bytes", where, MaxExprBytes))
			continue
		}
		p, err := expr.Compile(r.Expr, expr.Env(Features{}), expr.AsBool(), expr.MaxNodes(MaxNodes), expr.DisableAllBuiltins())
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s", where, firstLine(err.Error())))
			continue
		}
		c.rules = append(c.rules, compiledRule{Rule: r, program: p})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("invalid rule set: %w", err)
	}
	return c, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// Verdict is what a rule set concluded about one checkout.
type Verdict struct {
	Decision string
	Score    int
	// Matched names the rules that matched, by action.
	Matched []string
	// Allowed says an allow rule matched: nothing sends the checkout to
	// review then (neither a review rule nor the model), though a block
	// still blocks.
	Allowed bool
}

// Evaluate runs the rules over f in their fixed order: if any block rule
// matches, the checkout is blocked; otherwise if any review rule matches,
// it is reviewed — unless an allow rule matches too, which lets a known
// case through review (never through a block); otherwise it is allowed. A
// rule whose evaluation fails (past its memory budget, say) counts as a
// review rule that matched: scoring fails closed.
func (c *Compiled) Evaluate(f Features) Verdict {
	matched := map[string][]string{}
	for _, r := range c.rules {
		m := &vm.VM{MemoryBudget: MemoryBudget}
		out, err := m.Run(r.program, f)
		switch {
		case err != nil:
			matched[Review] = append(matched[Review], "rule "+r.Name+" failed: "+firstLine(err.Error()))
		case out == true:
			matched[r.Action] = append(matched[r.Action], "rule "+r.Name+" ("+r.Action+")")
		}
	}
	switch {
	case len(matched[Block]) > 0:
		return Verdict{Decision: order.DecisionBlock, Score: BlockScore, Matched: matched[Block]}
	case len(matched[Review]) > 0 && len(matched[Allow]) == 0:
		return Verdict{Decision: order.DecisionReview, Score: ReviewScore, Matched: matched[Review]}
	}
	return Verdict{Decision: order.DecisionAllow, Matched: append(matched[Review], matched[Allow]...), Allowed: len(matched[Allow]) > 0}
}

// DefaultRules are the rules a shop runs until its operator sets its own
// (docs/FRAUD.md says why each):
//   - a CVC the issuer found wrong on a card it authorized anyway: block
//     (run again once the processor answers; the hold is voided), as
//     Radar does by default: whoever typed it does not hold the card;
//   - a card declined 3 times within the hour is being tested: block;
//   - an email declined 5 times within the hour, over whatever accounts,
//     guest checkouts and cards: block (a tester changing cards and
//     guest carts but not the email);
//   - an address that used 5 or more cards today, 3 of them declined
//     within the hour, is testing cards: block (5 colleagues paying with
//     their own cards behind an office's NAT address are not declined);
//   - an address with 10 or more declines today: review;
//   - an account less than a day old ordering more than 1,000 in one
//     order: review;
//   - an order more than 10 times the account's average (after 3 orders):
//     review;
//   - a card issued abroad whose billing address is abroad too, shipped
//     here: review (the stolen card's pattern; either alone is a traveller
//     or an expatriate).
func DefaultRules() RuleSet {
	return RuleSet{Version: "default-3", Mode: Enforce, Rules: []Rule{
		{Name: "cvc_check_failed", Action: Block, Expr: `cvc_check == "fail"`},
		{Name: "card_declined_3_in_an_hour", Action: Block, Expr: "card_declines_hour >= 3"},
		{Name: "email_declined_5_in_an_hour", Action: Block, Expr: "email_declines_hour >= 5"},
		{Name: "address_many_cards", Action: Block, Expr: "address_cards_day >= 5 && address_declines_hour >= 3"},
		{Name: "address_many_declines", Action: Review, Expr: "address_declines_day >= 10"},
		{Name: "new_account_big_order", Action: Review, Expr: "guest == 0 && account_age_hours < 24 && amount > 1000"},
		{Name: "far_above_usual", Action: Review, Expr: "prior_orders >= 3 && amount_vs_average > 10"},
		{Name: "card_and_billing_abroad", Action: Review, Expr: "card_country_mismatch == 1 && billing_mismatch == 1"},
	}}
}
