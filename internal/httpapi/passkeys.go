package httpapi

import (
	"encoding/json"
	"net/http"
	"time"
)

type ceremonyJSON struct {
	CeremonyID string          `json:"ceremony_id"`
	Options    json.RawMessage `json:"options"`
}

// ceremonyAnswer carries the browser's WebAuthn answer as it produced it; the
// outer object is decoded strictly, the credential by go-webauthn.
type ceremonyAnswer struct {
	CeremonyID string          `json:"ceremony_id"`
	Credential json.RawMessage `json:"credential"`
}

func (a *API) beginPasskeyRegistration(w http.ResponseWriter, r *http.Request) error {
	var req enrollmentRequest
	if err := decodeOptionalBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	c, err := a.Passkeys.BeginRegistration(r.Context(), req.EnrollmentCode)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ceremonyJSON{c.ID, c.Options})
	return nil
}

func (a *API) finishPasskeyRegistration(w http.ResponseWriter, r *http.Request) error {
	var req ceremonyAnswer
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	if err := a.Passkeys.FinishRegistration(r.Context(), req.CeremonyID, req.Credential); err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (a *API) beginPasskeyLogin(w http.ResponseWriter, r *http.Request) error {
	c, err := a.Passkeys.BeginLogin(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ceremonyJSON{c.ID, c.Options})
	return nil
}

func (a *API) finishPasskeyLogin(w http.ResponseWriter, r *http.Request) error {
	var req ceremonyAnswer
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	res, err := a.Passkeys.FinishLogin(r.Context(), req.CeremonyID, req.Credential)
	if err != nil {
		return err
	}
	a.writeSession(w, res)
	return nil
}

type passkeyJSON struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
}

func (a *API) listPasskeys(w http.ResponseWriter, r *http.Request) error {
	keys, err := a.Passkeys.List(r.Context())
	if err != nil {
		return err
	}
	out := listJSON[passkeyJSON]{Items: make([]passkeyJSON, 0, len(keys))}
	for _, k := range keys {
		out.Items = append(out.Items, passkeyJSON{ID: k.ID, CreatedAt: k.CreatedAt.UTC()})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) removePasskey(w http.ResponseWriter, r *http.Request) error {
	if err := a.Passkeys.Remove(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
