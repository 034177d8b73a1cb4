package httpapi

import (
	"net/http"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/webhook"
)

// The staff routes of webhooks (webhook.Service). A secret is in the answer
// of the call that made it and in no other.

type webhookJSON struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	CreatedAt Timestamp `json:"created_at"`
	// Secret is set only in the answer to the creation.
	Secret string `json:"secret,omitempty"`
}

func toWebhookJSON(e webhook.Endpoint) webhookJSON {
	return webhookJSON{ID: e.ID, URL: e.URL, Events: e.Events, CreatedAt: Timestamp(e.CreatedAt)}
}

type createWebhookRequest struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
}

func (a *API) createWebhook(w http.ResponseWriter, r *http.Request) error {
	var req createWebhookRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	e, secret, err := a.Webhooks.Create(r.Context(), req.URL, req.Events)
	if err != nil {
		return err
	}
	out := toWebhookJSON(e)
	out.Secret = secret
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (a *API) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	es, err := a.Webhooks.List(r.Context())
	if err != nil {
		return err
	}
	listOf(w, es, false, toWebhookJSON, func(e webhook.Endpoint) string { return e.ID })
	return nil
}

func (a *API) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	if err := a.Webhooks.Delete(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type rotatedSecretJSON struct {
	Secret string `json:"secret"`
	// PreviousSignsUntil is when the replaced secret stops signing.
	PreviousSignsUntil Timestamp `json:"previous_signs_until"`
}

func (a *API) rotateWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	secret, until, err := a.Webhooks.RotateSecret(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, rotatedSecretJSON{Secret: secret, PreviousSignsUntil: Timestamp(until)})
	return nil
}

type attemptJSON struct {
	N          int       `json:"n"`
	At         Timestamp `json:"at"`
	StatusCode int       `json:"status_code"`
	DurationMS int64     `json:"duration_ms"`
	Error      string    `json:"error,omitempty"`
}

type deliveryJSON struct {
	ID            string        `json:"id"`
	EventID       string        `json:"event_id"`
	EventType     string        `json:"event_type"`
	WebhookID     string        `json:"webhook_id"`
	Status        string        `json:"status"`
	Attempts      int           `json:"attempts"`
	NextAttemptAt *Timestamp    `json:"next_attempt_at,omitempty"`
	LastStatus    int           `json:"last_status_code,omitempty"`
	LastError     string        `json:"last_error,omitempty"`
	CreatedAt     Timestamp     `json:"created_at"`
	UpdatedAt     Timestamp     `json:"updated_at"`
	History       []attemptJSON `json:"history"`
}

func toDeliveryJSON(d webhook.Delivery) deliveryJSON {
	out := deliveryJSON{ID: d.ID, EventID: d.EventID, EventType: d.EventType, WebhookID: d.EndpointID, Status: d.Status,
		Attempts: d.Attempts, LastStatus: d.LastStatus, LastError: d.LastError, CreatedAt: Timestamp(d.CreatedAt),
		UpdatedAt: Timestamp(d.UpdatedAt), History: []attemptJSON{}}
	if !d.NextAttemptAt.IsZero() {
		t := Timestamp(d.NextAttemptAt)
		out.NextAttemptAt = &t
	}
	for _, h := range d.History {
		out.History = append(out.History, attemptJSON{N: h.N, At: Timestamp(h.At), StatusCode: h.StatusCode,
			DurationMS: h.Duration.Milliseconds(), Error: h.Error})
	}
	return out
}

// maxDeliveries is the most deliveries one list answers.
const maxDeliveries = 100

func (a *API) listWebhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	limit := parseLimit(r)
	if limit < 1 || limit > maxDeliveries {
		var v apperr.Validator
		v.Check(false, "limit", "a number from 1 to 100")
		return v.Err()
	}
	ds, err := a.Webhooks.Deliveries(r.Context(), r.PathValue("id"), r.URL.Query().Get("status"), limit)
	if err != nil {
		return err
	}
	listOf(w, ds, false, toDeliveryJSON, func(d webhook.Delivery) string { return d.ID })
	return nil
}

func (a *API) retryWebhookDelivery(w http.ResponseWriter, r *http.Request) error {
	d, err := a.Webhooks.Retry(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, toDeliveryJSON(d))
	return nil
}
