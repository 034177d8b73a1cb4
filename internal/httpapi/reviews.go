package httpapi

import (
	"net/http"

	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/order"
)

// The review queue and training labels of fraud scoring (issue 14):
// finance and admin list the orders held for review, approve (capture) or
// reject (void, restock, mail) them, and label any order.

func (a *API) listReviews(w http.ResponseWriter, r *http.Request) error {
	after, err := decodeCursor(r.URL.Query().Get("cursor"), id.Order)
	if err != nil {
		return err
	}
	os, more, err := a.Orders.Reviews(r.Context(), parseLimit(r), after)
	if err != nil {
		return err
	}
	writeOrders(w, os, more, func(o order.Order) orderJSON { return staffOrderJSON(r.Context(), o) })
	return nil
}

func (a *API) approveReview(w http.ResponseWriter, r *http.Request) error {
	return a.paymentAction(w, r, a.Orders.Approve)
}

func (a *API) rejectReview(w http.ResponseWriter, r *http.Request) error {
	return a.paymentAction(w, r, a.Orders.Reject)
}

type labelRequest struct {
	Label string `json:"label"`
}

func (a *API) labelOrder(w http.ResponseWriter, r *http.Request) error {
	var req labelRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	o, err := a.Orders.Label(r.Context(), r.PathValue("id"), req.Label)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, staffOrderJSON(r.Context(), o))
	return nil
}
