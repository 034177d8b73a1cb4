package httpapi

import (
	"net/http"

	"github.com/bulwark-shop/bulwark/internal/ordermail"
)

// The staff routes of the order mail templates (ordermail.Service).

type mailTemplateJSON struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Body    string `json:"body"`
	// Custom is true for a template the shop changed, false for the default.
	Custom    bool       `json:"custom"`
	UpdatedAt *Timestamp `json:"updated_at"`
}

func toMailTemplateJSON(t ordermail.Template) mailTemplateJSON {
	out := mailTemplateJSON{Name: t.Name, Subject: t.Subject, Body: t.Body, Custom: t.Custom}
	if t.Custom {
		at := Timestamp(t.UpdatedAt)
		out.UpdatedAt = &at
	}
	return out
}

type putMailTemplateRequest struct {
	Subject string `json:"subject"`
	Body    string `json:"body"`
}

func (a *API) listMailTemplates(w http.ResponseWriter, r *http.Request) error {
	ts, err := a.MailTemplates.Templates(r.Context())
	if err != nil {
		return err
	}
	listOf(w, ts, false, toMailTemplateJSON, func(t ordermail.Template) string { return t.Name })
	return nil
}

func (a *API) putMailTemplate(w http.ResponseWriter, r *http.Request) error {
	var req putMailTemplateRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	t, err := a.MailTemplates.Put(r.Context(), r.PathValue("name"), req.Subject, req.Body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toMailTemplateJSON(t))
	return nil
}

func (a *API) resetMailTemplate(w http.ResponseWriter, r *http.Request) error {
	if err := a.MailTemplates.Reset(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
