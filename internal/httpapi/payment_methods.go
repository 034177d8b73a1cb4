package httpapi

import (
	"net/http"

	"github.com/bulwark-shop/bulwark/internal/payment"
	"github.com/bulwark-shop/bulwark/internal/vault"
)

// methodJSON is the API's payment method: never more of the card than brand,
// last four digits and expiry.
type methodJSON struct {
	ID       string      `json:"id"`
	Brand    vault.Brand `json:"brand"`
	Last4    string      `json:"last4"`
	ExpMonth int         `json:"exp_month"`
	ExpYear  int         `json:"exp_year"`
	// BillingCountry is omitted when the customer did not give it.
	BillingCountry string `json:"billing_country,omitempty"`
}

func toMethodJSON(m payment.Method) methodJSON {
	return methodJSON{ID: m.ID, Brand: m.Brand, Last4: m.Last4, ExpMonth: m.ExpMonth, ExpYear: m.ExpYear, BillingCountry: m.BillingCountry}
}

type methodRequest struct {
	Number   string `json:"number"`
	ExpMonth int    `json:"exp_month"`
	ExpYear  int    `json:"exp_year"`
	Holder   string `json:"holder"`
	// BillingCountry is the country of the card's billing address
	// (optional), for fraud scoring.
	BillingCountry string `json:"billing_country"`
}

func (a *API) createMethod(w http.ResponseWriter, r *http.Request) error {
	var req methodRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	m, err := a.Methods.Create(r.Context(), vault.Card{Number: req.Number, ExpMonth: req.ExpMonth, ExpYear: req.ExpYear, Holder: req.Holder}, req.BillingCountry)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toMethodJSON(m))
	return nil
}

func (a *API) listMethods(w http.ResponseWriter, r *http.Request) error {
	ms, err := a.Methods.List(r.Context())
	if err != nil {
		return err
	}
	out := listJSON[methodJSON]{Items: make([]methodJSON, 0, len(ms))}
	for _, m := range ms {
		out.Items = append(out.Items, toMethodJSON(m))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) deleteMethod(w http.ResponseWriter, r *http.Request) error {
	if err := a.Methods.Delete(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
