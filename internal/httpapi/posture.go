package httpapi

import (
	"context"
	"net/http"
	"strconv"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/posture"
)

// Posture is the shop's compliance posture (issue 15, "Posture"): the
// latest run of its checks, the history of their scores, and the
// process's listeners.
type Posture interface {
	// LatestPosture returns the newest run, running the checks when
	// there is none.
	LatestPosture(ctx context.Context) (posture.Report, error)
	PostureHistory(ctx context.Context, limit int) ([]posture.Summary, error)
	ListenerInventory() []posture.Listener
}

// postureHistoryMax bounds a history page: a year of hourly runs is more
// than anyone reads at once.
const postureHistoryMax = 1000

type postureJSON struct {
	posture.Report
	Listeners []posture.Listener `json:"listeners"`
}

func (a *API) getPosture(w http.ResponseWriter, r *http.Request) error {
	if a.Posture == nil {
		return apperr.NotFound("posture")
	}
	rep, err := a.Posture.LatestPosture(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, postureJSON{Report: rep, Listeners: a.Posture.ListenerInventory()})
	return nil
}

func (a *API) postureHistory(w http.ResponseWriter, r *http.Request) error {
	if a.Posture == nil {
		return apperr.NotFound("posture")
	}
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		var v apperr.Validator
		v.Check(err == nil && n >= 1 && n <= postureHistoryMax, "limit", "a number from 1 to 1000")
		if err := v.Err(); err != nil {
			return err
		}
		limit = n
	}
	runs, err := a.Posture.PostureHistory(r.Context(), limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": runs})
	return nil
}
