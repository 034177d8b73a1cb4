// Package pages serves Bulwark's HTML: the storefront at / and the staff
// console at /console. It holds no business rules and no authorization of its
// own: every read and every action of a page is a request to the JSON API,
// made in process with the visitor's own credentials (call), so a page can
// show or do exactly what the API lets that visitor see or do — one
// authorization path, one set of permission, step-up and audit rules.
//
// The pages are built to be the reference for how such pages should be made:
// server-rendered with html/template (contextual escaping everywhere), working
// without JavaScript wherever the feature allows it, under a strict
// Content-Security-Policy (script-src 'self', no inline script or style, no
// eval, frame-ancestors 'none') whose violations are reported and counted;
// assets served by the binary with Subresource Integrity and no third-party
// origin; every form carrying a CSRF token and checked for its origin.
package pages

import (
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/web"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configure the pages.
type Options struct {
	Log *slog.Logger
	// Registry takes the pages' metrics (CSP violation reports).
	Registry prometheus.Registerer
	// ThemeDir, when set, is a folder whose templates (*.html) and
	// stylesheet (site.css) replace the embedded files of the same names.
	ThemeDir string
	// ShopName is shown in the storefront's header and titles.
	ShopName string
	// OIDC shows the "sign in with your identity provider" link.
	OIDC bool
	// Now is the clock.
	Now func() time.Time
	// AuditCheckpoints opens the audit log's signed checkpoints (the
	// shop's audit notary): the console's audit page checks the records it
	// shows against the latest one. Without it the page says it cannot.
	AuditCheckpoints CheckpointOpener
}

// CheckpointOpener verifies a signed audit checkpoint (audit.Notary).
type CheckpointOpener interface {
	Open(note []byte) (audit.Checkpoint, error)
}

// Site is the storefront and the console.
type Site struct {
	opts   Options
	views  *views
	assets *assets
	csp    *prometheus.CounterVec
}

// New loads the templates and assets (the theme's where it has them) and
// registers the pages' metrics. A template that does not parse is an error
// here, at start-up, never at a visitor's request.
func New(o Options) (*Site, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ShopName == "" {
		o.ShopName = "Bulwark shop"
	}
	tmpl, static := web.Templates(), web.Static()
	if o.ThemeDir != "" {
		if _, err := os.Stat(o.ThemeDir); err != nil {
			return nil, fmt.Errorf("web-theme-dir: %w", err)
		}
		theme := os.DirFS(o.ThemeDir)
		tmpl, static = overlay{top: theme, base: tmpl}, overlay{top: theme, base: static}
	}
	// The names come from the embedded files: a theme replaces files, it
	// adds none (a page no handler renders would be dead weight).
	a, err := loadAssets(web.Static(), static)
	if err != nil {
		return nil, err
	}
	v, err := loadViews(web.Templates(), tmpl, a)
	if err != nil {
		return nil, err
	}
	s := &Site{opts: o, views: v, assets: a,
		csp: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_csp_violations_total",
			Help: "Content-Security-Policy violation reports browsers sent about the pages, by directive.",
		}, []string{"directive"})}
	if o.Registry != nil {
		if err := o.Registry.Register(s.csp); err != nil {
			return nil, fmt.Errorf("register page metrics: %w", err)
		}
	}
	return s, nil
}

// Route is one page route: its pattern, the largest body it takes, and
// whether it is a sign-in form (rate-limited as the API's sign-in routes).
type Route struct {
	Pattern string
	MaxBody int64
}

// formBody is the body limit of a page's form: a few fields; the product
// editor's description is the exception (catalogFormBody).
const (
	formBody        = 4 << 10
	catalogFormBody = 64 << 10
)

// Routes lists the page routes, for the HTTP layer's body limits and rate
// limit classes.
func Routes() []Route {
	var s *Site // only the table is read; no handler is called
	var out []Route
	for _, p := range s.table() {
		out = append(out, p.Route)
	}
	return out
}

// Handler returns the handler of the page routes, given the API handler the
// pages call in process (the API's router, past the edge: the page request
// itself already went through the firewall, the address lists and the rate
// limits).
func (s *Site) Handler(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	for _, p := range s.table() {
		mux.Handle(p.Pattern, s.serve(api, p))
	}
	return mux
}

// overlay reads a file from top, or from base when top has none.
type overlay struct{ top, base fs.FS }

func (o overlay) Open(name string) (fs.File, error) {
	if f, err := o.top.Open(name); err == nil {
		return f, nil
	}
	return o.base.Open(name)
}
