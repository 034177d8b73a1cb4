package httpapi

import (
	"context"
	"net/http"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/discover"
)

// Discovery is sensitive-data discovery (issue 15): its last run
// (apperr's not_found before the first).
type Discovery interface {
	LatestDiscovery(ctx context.Context) (discover.Report, error)
}

// getDiscovery answers the last run: where card numbers, secrets and
// personal data were found, with masked samples only.
func (a *API) getDiscovery(w http.ResponseWriter, r *http.Request) error {
	if a.Discovery == nil {
		return apperr.NotFound("discovery run")
	}
	rep, err := a.Discovery.LatestDiscovery(r.Context())
	if err != nil {
		return err
	}
	if rep.Findings == nil {
		rep.Findings = []discover.Finding{}
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}
