package httpapi

import (
	"net/http"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/identity"
)

type keyJSON struct {
	ID          string              `json:"id"`
	Name        string              `json:"name"`
	Permissions []access.Permission `json:"permissions"`
	CreatedAt   Timestamp           `json:"created_at"`
	ExpiresAt   Timestamp           `json:"expires_at"`
	LastUsedAt  *Timestamp          `json:"last_used_at,omitempty"`
	RevokedAt   *Timestamp          `json:"revoked_at,omitempty"`
}

func toKeyJSON(k identity.APIKey) keyJSON {
	out := keyJSON{ID: k.ID, Name: k.Name, Permissions: k.Permissions, CreatedAt: Timestamp(k.CreatedAt), ExpiresAt: Timestamp(k.ExpiresAt)}
	if !k.LastUsedAt.IsZero() {
		out.LastUsedAt = stamp(k.LastUsedAt)
	}
	if !k.RevokedAt.IsZero() {
		out.RevokedAt = stamp(k.RevokedAt)
	}
	return out
}

type keyRequest struct {
	Name        string    `json:"name"`
	Permissions []string  `json:"permissions"`
	ExpiresAt   time.Time `json:"expires_at"`
}

func (a *API) createKey(w http.ResponseWriter, r *http.Request) error {
	var req keyRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	k, secret, err := a.Keys.Create(r.Context(), req.Name, req.Permissions, req.ExpiresAt)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, struct {
		keyJSON
		Key string `json:"key"`
	}{toKeyJSON(k), secret})
	return nil
}

func (a *API) listKeys(w http.ResponseWriter, r *http.Request) error {
	ks, err := a.Keys.List(r.Context())
	if err != nil {
		return err
	}
	out := listJSON[keyJSON]{Items: make([]keyJSON, 0, len(ks))}
	for _, k := range ks {
		out.Items = append(out.Items, toKeyJSON(k))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) revokeKey(w http.ResponseWriter, r *http.Request) error {
	if err := a.Keys.Revoke(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
