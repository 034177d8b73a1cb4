package order_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/order"
)

// twoLines is a paid order of 2 of one line (1 shipped) and 3 of another.
func twoLines() (order.Order, string, string) {
	a, b := id.New(id.OrderLine), id.New(id.OrderLine)
	return order.Order{ID: id.New(id.Order), Status: order.StatusPartiallyFulfilled, Lines: []order.Line{
		{ID: a, Quantity: 2, Fulfilled: 1}, {ID: b, Quantity: 3}}}, a, b
}

func TestPlanFulfillment(t *testing.T) {
	o, a, b := twoLines()
	fl := func(lines ...order.FulfillmentLine) order.FulfillmentRequest {
		return order.FulfillmentRequest{Lines: lines, Carrier: "DHL", TrackingNumber: "T1"}
	}
	tests := []struct {
		name   string
		order  order.Order
		req    order.FulfillmentRequest
		want   order.Action
		code   string
		status string
	}{
		{"shipping some of what is left is partial", o, fl(order.FulfillmentLine{LineID: b, Quantity: 1}), order.ActFulfilPartial, "", ""},
		{"shipping all that is left is the last", o, fl(order.FulfillmentLine{LineID: a, Quantity: 1}, order.FulfillmentLine{LineID: b, Quantity: 3}), order.ActFulfil, "", ""},
		{"more than is left is refused", o, fl(order.FulfillmentLine{LineID: a, Quantity: 2}), "", order.CodeFulfillmentExceedsOrder, ""},
		{"a line of another order is invalid", o, fl(order.FulfillmentLine{LineID: id.New(id.OrderLine), Quantity: 1}), "", apperr.CodeValidation, ""},
		{"a cancelled order ships nothing", o, fl(order.FulfillmentLine{LineID: b, Quantity: 1}), "", order.CodeIllegalTransition, order.StatusCancelled},
		{"an authorized order is captured before it ships", o, fl(order.FulfillmentLine{LineID: b, Quantity: 1}), "", order.CodeIllegalTransition, order.StatusAuthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.order
			if tt.status != "" {
				o.Status = tt.status
			}
			got, err := order.PlanFulfillment(o, tt.req)
			var e *apperr.Error
			switch {
			case tt.code == "" && (err != nil || got != tt.want):
				t.Fatalf("PlanFulfillment = %s, %v; want %s", got, err, tt.want)
			case tt.code != "" && (!errors.As(err, &e) || e.Code != tt.code):
				t.Fatalf("PlanFulfillment = %s, %v; want %s", got, err, tt.code)
			}
		})
	}
}

// FuzzPlanFulfillment decodes any body into a fulfilment as the API does,
// and checks that whatever validation and planning accept never ships more
// of a line than is left, and that nothing panics.
func FuzzPlanFulfillment(f *testing.F) {
	o, a, b := twoLines()
	f.Add(`{"lines":[{"line_id":"` + a + `","quantity":1}],"carrier":"DHL","tracking_number":"T"}`)
	f.Add(`{"lines":[{"line_id":"` + b + `","quantity":3},{"line_id":"` + b + `","quantity":3}],"carrier":"D","tracking_number":"T"}`)
	f.Add(`{"lines":[{"line_id":"` + a + `","quantity":-1}],"carrier":"","tracking_number":""}`)
	f.Add(`{"lines":[]}`)
	f.Fuzz(func(t *testing.T, body string) {
		var r order.FulfillmentRequest
		if json.Unmarshal([]byte(body), &r) != nil {
			return
		}
		var v apperr.Validator
		r.Validate(&v)
		if v.Err() != nil {
			return
		}
		if _, err := order.PlanFulfillment(o, r); err != nil {
			return
		}
		left := map[string]int{a: 1, b: 3}
		for _, l := range r.Lines {
			left[l.LineID] -= l.Quantity
			if left[l.LineID] < 0 || l.Quantity < 1 {
				t.Fatalf("accepted %s: ships more of %s than is left", body, l.LineID)
			}
		}
	})
}
