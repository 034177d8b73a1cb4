package httpapi

import (
	"context"
	"net/http"

	"github.com/bulwark-shop/bulwark/internal/dependency"
)

type healthKey struct{}

// withHealth puts the dependency tracker in every request's context, where
// writeError reports the outages it meets.
func withHealth(h *dependency.Tracker, next http.Handler) http.Handler {
	if h == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), healthKey{}, h)))
	})
}

// healthFrom returns the request's dependency tracker, or nil.
func healthFrom(ctx context.Context) *dependency.Tracker {
	h, _ := ctx.Value(healthKey{}).(*dependency.Tracker)
	return h
}
