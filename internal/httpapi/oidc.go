package httpapi

import (
	"net/http"

	"github.com/bulwark-shop/bulwark/internal/apperr"
)

// oidcCookie binds a social login to the browser that began it.
const oidcCookie = "__Host-bulwark_oidc"

var errOIDCOff = apperr.NotFound("identity provider (none is configured)")

func (a *API) beginOIDC(w http.ResponseWriter, r *http.Request) error {
	if a.OIDC == nil {
		return errOIDCOff
	}
	redirect, binding, err := a.OIDC.Begin(r.Context())
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: binding, Path: "/", MaxAge: 600,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	w.Header().Set("Location", redirect)
	w.WriteHeader(http.StatusFound)
	return nil
}

func (a *API) finishOIDC(w http.ResponseWriter, r *http.Request) error {
	if a.OIDC == nil {
		return errOIDCOff
	}
	var binding string
	if c, err := r.Cookie(oidcCookie); err == nil {
		binding = c.Value
	}
	q := r.URL.Query()
	res, err := a.OIDC.Finish(r.Context(), q.Get("state"), q.Get("code"), binding)
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	if err != nil {
		return err
	}
	a.writeSession(w, res)
	return nil
}
