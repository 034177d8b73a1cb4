package httpapi

import (
	"net/http"

	"github.com/bulwark-shop/bulwark/internal/finding"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/threat"
)

// The staff routes of threat findings (threat.Service).

type findingJSON struct {
	ID             string            `json:"id"`
	Type           string            `json:"type"`
	Severity       int               `json:"severity"`
	Status         string            `json:"status"`
	Subject        finding.Subject   `json:"subject"`
	FirstSeen      Timestamp         `json:"first_seen"`
	LastSeen       Timestamp         `json:"last_seen"`
	Count          int64             `json:"count"`
	Evidence       map[string]string `json:"evidence"`
	Response       string            `json:"response"`
	DetectionPoint string            `json:"detection_point"`
}

func toFindingJSON(f finding.Finding) findingJSON {
	evidence := f.Evidence
	if evidence == nil {
		evidence = map[string]string{}
	}
	return findingJSON{ID: f.ID, Type: string(f.Type), Severity: f.Severity, Status: string(f.Status), Subject: f.Subject,
		FirstSeen: Timestamp(f.FirstSeen), LastSeen: Timestamp(f.LastSeen), Count: f.Count, Evidence: evidence,
		Response: f.Response, DetectionPoint: f.Type.DetectionPoint()}
}

func (a *API) listFindings(w http.ResponseWriter, r *http.Request) error {
	qs := r.URL.Query()
	after, err := decodeCursor(qs.Get("cursor"), id.Finding)
	if err != nil {
		return err
	}
	limit := threat.DefaultList
	if qs.Has("limit") {
		limit = parseLimit(r)
	}
	q, err := threat.ParseQuery(qs.Get("status"), qs.Get("type"), qs.Get("severity_min"), qs.Get("subject"), limit, after)
	if err != nil {
		return err
	}
	fs, more, err := a.Findings.List(r.Context(), q)
	if err != nil {
		return err
	}
	listOf(w, fs, more, toFindingJSON, func(f finding.Finding) string { return f.ID })
	return nil
}

func (a *API) getFinding(w http.ResponseWriter, r *http.Request) error {
	f, err := a.Findings.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toFindingJSON(f))
	return nil
}

func (a *API) resolveFinding(w http.ResponseWriter, r *http.Request) error {
	f, err := a.Findings.Resolve(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toFindingJSON(f))
	return nil
}

func (a *API) suppressFinding(w http.ResponseWriter, r *http.Request) error {
	f, err := a.Findings.Suppress(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toFindingJSON(f))
	return nil
}
