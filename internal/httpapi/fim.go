package httpapi

import (
	"context"
	"net/http"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/fim"
)

// FIM is file integrity monitoring (issue 15): the monitored files
// compared with the signed baseline now.
type FIM interface {
	CheckFIM(ctx context.Context) (fim.Status, error)
}

func (a *API) getFIM(w http.ResponseWriter, r *http.Request) error {
	if a.FIM == nil {
		return apperr.NotFound("file integrity")
	}
	st, err := a.FIM.CheckFIM(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}
