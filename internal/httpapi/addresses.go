package httpapi

import (
	"net/http"

	"github.com/bulwark-shop/bulwark/internal/addressbook"
	"github.com/bulwark-shop/bulwark/internal/order"
)

// addressJSON is an address of the caller's address book.
type addressJSON struct {
	ID        string        `json:"id"`
	Address   order.Address `json:"address"`
	CreatedAt Timestamp     `json:"created_at"`
}

func toAddressJSON(e addressbook.Entry) addressJSON {
	return addressJSON{ID: e.ID, Address: e.Address, CreatedAt: Timestamp(e.CreatedAt)}
}

type addressRequest struct {
	Address order.Address `json:"address"`
}

func (a *API) createAddress(w http.ResponseWriter, r *http.Request) error {
	var req addressRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	e, err := a.Addresses.Create(r.Context(), req.Address)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toAddressJSON(e))
	return nil
}

// listAddresses lists the whole book: it holds at most
// addressbook.MaxPerCustomer addresses, so it has one page.
func (a *API) listAddresses(w http.ResponseWriter, r *http.Request) error {
	es, err := a.Addresses.List(r.Context())
	if err != nil {
		return err
	}
	out := listJSON[addressJSON]{Items: make([]addressJSON, 0, len(es))}
	for _, e := range es {
		out.Items = append(out.Items, toAddressJSON(e))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) deleteAddress(w http.ResponseWriter, r *http.Request) error {
	if err := a.Addresses.Delete(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
