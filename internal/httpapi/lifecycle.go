package httpapi

import (
	"context"
	"net/http"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/order"
)

// The order lifecycle after payment (internal/order/lifecycle.go): staff
// read one order, capture, void, cancel and fulfil it.

func (a *API) staffOrder(w http.ResponseWriter, r *http.Request) error {
	o, err := a.Orders.Staff(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toOrderJSON(o, access.OrderViewFor(access.PrincipalFrom(r.Context()))))
	return nil
}

// emptyBody is the body of capture, void and cancel: {} and nothing else,
// so a bare POST (a stray link, a form) moves no money.
type emptyBody struct{}

// paymentAction runs capture, void or cancel. They are idempotent by
// nature: repeating one that is done answers the order as it is (200, with
// Idempotent-Replayed) and calls the processor no more.
func (a *API) paymentAction(w http.ResponseWriter, r *http.Request, do func(context.Context, string) (order.Order, bool, error)) error {
	var req emptyBody
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	o, done, err := do(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if done {
		w.Header().Set(replayedHeader, "true")
	}
	writeJSON(w, http.StatusOK, toOrderJSON(o, access.OrderViewFor(access.PrincipalFrom(r.Context()))))
	return nil
}

func (a *API) captureOrder(w http.ResponseWriter, r *http.Request) error {
	return a.paymentAction(w, r, a.Orders.Capture)
}

func (a *API) voidOrder(w http.ResponseWriter, r *http.Request) error {
	return a.paymentAction(w, r, a.Orders.Void)
}

func (a *API) cancelOrder(w http.ResponseWriter, r *http.Request) error {
	return a.paymentAction(w, r, a.Orders.Cancel)
}

type fulfillmentRequest struct {
	Lines          []order.FulfillmentLine `json:"lines"`
	Carrier        string                  `json:"carrier"`
	TrackingNumber string                  `json:"tracking_number"`
}

type fulfillmentAnswer struct {
	Fulfillment orderFulfillmentJSON `json:"fulfillment"`
	Order       orderJSON            `json:"order"`
}

func (a *API) fulfilOrder(w http.ResponseWriter, r *http.Request) error {
	var req fulfillmentRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	f, o, err := a.Orders.Fulfil(r.Context(), r.PathValue("id"), order.FulfillmentRequest{Lines: req.Lines, Carrier: req.Carrier,
		TrackingNumber: req.TrackingNumber})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, fulfillmentAnswer{Fulfillment: toFulfillmentJSON(f),
		Order: toOrderJSON(o, access.OrderViewFor(access.PrincipalFrom(r.Context())))})
	return nil
}
