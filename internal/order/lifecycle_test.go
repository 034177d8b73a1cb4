package order_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/order"
)

// TestNextEveryPair checks every (status, action) pair against a matrix
// written here by hand, apart from the table in lifecycle.go: each row is a
// status, each column an action in the order of the header, and each cell
// the next status ("-" for a refusal).
func TestNextEveryPair(t *testing.T) {
	header := []order.Action{"pay", "authorize", "hold", "capture", "void", "expire", "cancel", "fulfil_partial", "fulfil", "refund_partial", "refund"}
	matrix := map[string]string{
		//                       pay  authorize  hold            capture void      expire    cancel    fulfil_partial      fulfil    refund_partial     refund
		"pending":             "paid authorized pending_review - - - - - - - -",
		"pending_review":      "- - - paid cancelled cancelled cancelled - - - -",
		"authorized":          "- - - paid cancelled cancelled cancelled - - - -",
		"paid":                "- - - - - - cancelled partially_fulfilled fulfilled partially_refunded refunded",
		"partially_fulfilled": "- - - - - - - partially_fulfilled fulfilled partially_refunded refunded",
		"fulfilled":           "- - - - - - - - - partially_refunded refunded",
		"partially_refunded":  "- - - - - - cancelled partially_fulfilled fulfilled partially_refunded refunded",
		"cancelled":           "- - - - - - - - - - -",
		"refunded":            "- - - - - - - - - - -",
	}
	if len(header) != len(order.Actions()) {
		t.Fatalf("the matrix has %d actions, the lifecycle %d", len(header), len(order.Actions()))
	}
	if len(matrix) != len(order.Statuses()) {
		t.Fatalf("the matrix has %d statuses, the lifecycle %d", len(matrix), len(order.Statuses()))
	}
	for _, from := range order.Statuses() {
		row, ok := matrix[from]
		if !ok {
			t.Fatalf("status %s is missing from the matrix", from)
		}
		cells := strings.Fields(row)
		if len(cells) != len(header) {
			t.Fatalf("row %s has %d cells", from, len(cells))
		}
		for i, a := range header {
			want := cells[i]
			got, err := order.Next(from, a)
			if want == "-" {
				var e *apperr.Error
				if err == nil || !errors.As(err, &e) || e.Code != order.CodeIllegalTransition {
					t.Errorf("%s --%s--> %q, %v; want illegal_transition", from, a, got, err)
					continue
				}
				if apperr.KindOf(e.Code) != apperr.KindConflict {
					t.Errorf("illegal_transition is not a conflict (409)")
				}
				if !strings.Contains(e.Message, from) || !strings.Contains(e.Message, string(a)) {
					t.Errorf("message %q does not name %s and %s", e.Message, from, a)
				}
				continue
			}
			if err != nil || got != want {
				t.Errorf("%s --%s--> %q, %v; want %s", from, a, got, err, want)
			}
		}
	}
	t.Run("an unknown status or action is refused", func(t *testing.T) {
		if _, err := order.Next("shipped", order.ActRefund); err == nil {
			t.Error("unknown status accepted")
		}
		if _, err := order.Next(order.StatusPaid, "teleport"); err == nil {
			t.Error("unknown action accepted")
		}
	})
}

func TestRefundAction(t *testing.T) {
	for _, c := range []struct {
		captured, refunded int64
		want               order.Action
	}{{1000, 1000, order.ActRefund}, {1000, 999, order.ActRefundPartial}, {1000, 1, order.ActRefundPartial}} {
		if got := order.RefundAction(c.captured, c.refunded); got != c.want {
			t.Errorf("RefundAction(%d, %d) = %s, want %s", c.captured, c.refunded, got, c.want)
		}
	}
}

// TestNextReturnEveryPair checks every (return status, action) pair
// against a matrix written here.
func TestNextReturnEveryPair(t *testing.T) {
	header := []order.Action{order.RetAccept, order.RetReject, order.RetReceive, order.ActRefund}
	matrix := map[string]string{
		"requested": "accepted rejected - -",
		"accepted":  "- rejected received -",
		"receiving": "- - - -",
		"received":  "- - - -",
		"rejected":  "- - - -",
	}
	for from, row := range matrix {
		for i, want := range strings.Fields(row) {
			got, err := order.NextReturn(from, header[i])
			if want == "-" {
				var e *apperr.Error
				if !errors.As(err, &e) || e.Code != order.CodeIllegalTransition || !strings.Contains(e.Message, from) {
					t.Errorf("return %s --%s--> %q, %v; want illegal_transition", from, header[i], got, err)
				}
				continue
			}
			if err != nil || got != want {
				t.Errorf("return %s --%s--> %q, %v; want %s", from, header[i], got, err, want)
			}
		}
	}
}
