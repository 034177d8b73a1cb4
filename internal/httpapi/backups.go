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

// KeyStatus reports the shop's key hierarchy (issue 17: the console's keys
// page): the key-encryption key's source and age, each data keyset's keys
// with their ages and roles, and each keyset's re-encryption.
type KeyStatus interface {
	// KeyStatus is the hierarchy in the shape GET /api/v1/admin/keys
	// answers. It holds no key material.
	KeyStatus(ctx context.Context) (any, error)
}

func (a *API) getKeyStatus(w http.ResponseWriter, r *http.Request) error {
	if a.KeyStatus == nil {
		return apperr.NotFound("keys")
	}
	st, err := a.KeyStatus.KeyStatus(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// Staff lists the accounts that hold a staff role (issue 17: the console's
// users page): who may do what, with or without a second factor, and when
// each was last active.
type Staff interface {
	// StaffAccounts is the list in the shape GET /api/v1/admin/staff
	// answers.
	StaffAccounts(ctx context.Context) (any, error)
}

func (a *API) listStaff(w http.ResponseWriter, r *http.Request) error {
	if a.Staff == nil {
		return apperr.NotFound("staff")
	}
	st, err := a.Staff.StaffAccounts(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}
