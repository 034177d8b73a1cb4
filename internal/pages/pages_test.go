package pages_test

import (
	"strings"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/edge"
	"github.com/bulwark-shop/bulwark/internal/httpapi"
	"github.com/bulwark-shop/bulwark/internal/pages"
)

// TestRoutesAreClassed: a page that signs in is rate-limited as the API's
// sign-in, and the console's pages as the staff routes; no page pattern is
// also an API route.
func TestRoutesAreClassed(t *testing.T) {
	api := map[string]bool{}
	for _, r := range httpapi.Routes() {
		api[r.Pattern] = true
	}
	signin := map[string]bool{"POST /signin": true, "POST /signin/mfa": true, "GET /signin/oidc": true, "POST /signup": true, "POST /verify-email": true,
		"POST /reset-password": true, "POST /reset-password/confirm": true, "POST /console/signin": true, "POST /console/signin/mfa": true}
	for _, r := range pages.Routes() {
		if api[r.Pattern] && r.Pattern != "GET /{$}" {
			t.Errorf("%s is both a page and an API route", r.Pattern)
		}
		_, path, _ := strings.Cut(r.Pattern, " ")
		class := edge.ClassOf(r.Pattern)
		switch {
		case signin[r.Pattern]:
			if class != edge.Auth {
				t.Errorf("%s: class %s, want %s", r.Pattern, class, edge.Auth)
			}
		case r.Pattern == "POST /checkout":
			if class != edge.Checkout {
				t.Errorf("%s: class %s, want %s (card testing through the form)", r.Pattern, class, edge.Checkout)
			}
		case path == "/console" || strings.HasPrefix(path, "/console/"):
			if class != edge.Admin {
				t.Errorf("%s: class %s, want %s", r.Pattern, class, edge.Admin)
			}
		}
		if strings.HasPrefix(r.Pattern, "POST ") && (r.MaxBody <= 0 || r.MaxBody > 64<<10) {
			t.Errorf("%s: body limit %d", r.Pattern, r.MaxBody)
		}
	}
}
