package httpapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/order"
)

// The order lifecycle after payment (internal/order/lifecycle.go): staff
// read one order, capture, void, cancel and fulfil it.

func (a *API) staffOrder(w http.ResponseWriter, r *http.Request) error {
	o, err := a.Orders.Staff(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, staffOrderJSON(r.Context(), o))
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
	writeJSON(w, http.StatusOK, staffOrderJSON(r.Context(), o))
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
		Order: staffOrderJSON(r.Context(), o)})
	return nil
}

type returnRequest struct {
	Lines  []order.FulfillmentLine `json:"lines"`
	Reason string                  `json:"reason"`
}

func (a *API) requestReturn(w http.ResponseWriter, r *http.Request) error {
	var req returnRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	ret, err := a.Orders.RequestReturn(r.Context(), r.PathValue("id"), order.ReturnRequest{Lines: req.Lines, Reason: req.Reason})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toReturnJSON(ret))
	return nil
}

func (a *API) acceptReturn(w http.ResponseWriter, r *http.Request) error {
	return a.returnAction(w, r, a.Orders.AcceptReturn)
}

func (a *API) rejectReturn(w http.ResponseWriter, r *http.Request) error {
	return a.returnAction(w, r, a.Orders.RejectReturn)
}

// returnAction runs accept or reject, whose body is {}.
func (a *API) returnAction(w http.ResponseWriter, r *http.Request, do func(context.Context, string) (order.Return, error)) error {
	var req emptyBody
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	ret, err := do(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toReturnJSON(ret))
	return nil
}

type receiveLine struct {
	LineID  string `json:"line_id"`
	Restock bool   `json:"restock"`
}

type receiveRequest struct {
	Lines  []receiveLine `json:"lines"`
	Refund *money.Money  `json:"refund"`
}

func (a *API) receiveReturn(w http.ResponseWriter, r *http.Request) error {
	var req receiveRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	in := order.ReceiveRequest{Restock: map[string]bool{}, Refund: req.Refund}
	if len(req.Lines) > 100 {
		return &apperr.Error{Code: apperr.CodeValidation, Message: "too many lines",
			Fields: []apperr.FieldError{{Field: "lines", Message: "at most 100"}}}
	}
	for i, l := range req.Lines {
		if _, dup := in.Restock[l.LineID]; dup {
			return &apperr.Error{Code: apperr.CodeValidation, Message: "a line is listed twice",
				Fields: []apperr.FieldError{{Field: fmt.Sprintf("lines[%d].line_id", i), Message: "is listed twice"}}}
		}
		in.Restock[l.LineID] = l.Restock
	}
	ret, err := a.Orders.ReceiveReturn(r.Context(), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toReturnJSON(ret))
	return nil
}
