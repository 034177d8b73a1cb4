package httpapi

import (
	"context"
	"net/http"

	"github.com/bulwark-shop/bulwark/internal/apperr"
)

// Backups are the shop's backups and restore drills (issue 16).
type Backups interface {
	// BackupStatus is the backups on the targets and the latest drills,
	// in the shape GET /api/v1/admin/backups answers.
	BackupStatus(ctx context.Context) (any, error)
}

func (a *API) getBackups(w http.ResponseWriter, r *http.Request) error {
	if a.Backups == nil {
		return apperr.NotFound("backups")
	}
	st, err := a.Backups.BackupStatus(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}
