package order_test

import (
	"testing"

	"github.com/bulwark-shop/bulwark/internal/order"
)

func TestRiskCheck(t *testing.T) {
	for _, tt := range []struct {
		risk order.Risk
		ok   bool
	}{
		{order.Risk{Score: 0, Decision: order.DecisionAllow}, true},
		{order.Risk{Score: 99, Decision: order.DecisionBlock}, true},
		{order.Risk{Score: 65, Decision: order.DecisionReview}, true},
		{order.Risk{Score: 100, Decision: order.DecisionBlock}, false},
		{order.Risk{Score: -1, Decision: order.DecisionAllow}, false},
		{order.Risk{Score: 10}, false},
		{order.Risk{Score: 10, Decision: "ALLOW"}, false},
	} {
		if err := tt.risk.Check(); (err == nil) != tt.ok {
			t.Errorf("%+v: Check = %v, want ok %v", tt.risk, err, tt.ok)
		}
	}
}

// TestActionFor: a review holds whatever the capture setting; otherwise the
// setting decides between paid and authorized.
func TestActionFor(t *testing.T) {
	for _, tt := range []struct {
		decision      string
		authorizeOnly bool
		want          order.Action
	}{
		{order.DecisionAllow, false, order.ActPay},
		{order.DecisionAllow, true, order.ActAuthorize},
		{order.DecisionReview, false, order.ActHold},
		{order.DecisionReview, true, order.ActHold},
		{"", false, order.ActPay},
	} {
		if got := order.ActionFor(tt.decision, tt.authorizeOnly); got != tt.want {
			t.Errorf("ActionFor(%q, %v) = %s, want %s", tt.decision, tt.authorizeOnly, got, tt.want)
		}
		// Every action it names leads somewhere from pending.
		if _, err := order.Next(order.StatusPending, order.ActionFor(tt.decision, tt.authorizeOnly)); err != nil {
			t.Errorf("ActionFor(%q): %v", tt.decision, err)
		}
	}
}

func TestCheckLabel(t *testing.T) {
	for l, ok := range map[string]bool{"fraud": true, "legitimate": true, "": false, "Fraud": false, "chargeback": false} {
		if err := order.CheckLabel(l); (err == nil) != ok {
			t.Errorf("CheckLabel(%q) = %v", l, err)
		}
	}
}
