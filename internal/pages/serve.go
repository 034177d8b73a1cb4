package pages

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/bulwark-shop/bulwark/internal/reqinfo"
)

// page is one request to a page: the visitor's request, and what its
// handler needs to answer it.
type page struct {
	s    *Site
	w    http.ResponseWriter
	r    *http.Request
	api  http.Handler
	csrf string
	// jar holds the cookies calls of this request set.
	jar map[string]*http.Cookie
	// console marks a console page: its errors are drawn in the console's
	// layout and an expired session goes to the console's sign-in.
	console bool
	me      *account
	meDone  bool
}

// handler draws a page or acts on a form.
type handler func(p *page) error

// pageRoute is a page route and its handler.
type pageRoute struct {
	Route
	handle handler
}

// account is the signed-in visitor, as GET /api/v1/me says.
type account struct {
	ID         string   `json:"id"`
	Email      string   `json:"email"`
	Name       string   `json:"name"`
	Roles      []string `json:"roles"`
	MFAEnabled bool     `json:"mfa_enabled"`
}

// Staff says whether the account holds a staff role.
func (a *account) Staff() bool {
	for _, r := range a.Roles {
		if r != "customer" {
			return true
		}
	}
	return false
}

// Errors of the pages themselves.
var (
	errNotFound   = &apiError{Status: http.StatusNotFound, Code: "not_found", Detail: "There is no such page."}
	errForgedCSRF = &apiError{Status: http.StatusForbidden, Code: "csrf_rejected",
		Detail: "This form has expired or did not come from this site. Go back, reload the page and try again."}
)

// csrfCookie holds the visitor's CSRF token: the __Host- prefix means no
// other host (a sibling subdomain) can set it, so a forger can neither read
// nor plant the value a form must echo.
const csrfCookie = "__Host-bulwark_csrf"

// serve wraps a page handler: it gives the visitor a CSRF token, checks
// that a form post carries it and comes from this origin, and turns the
// handler's error into an error page.
func (s *Site) serve(api http.Handler, rt pageRoute) http.Handler {
	cop := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := &page{s: s, w: w, r: r, api: api, console: strings.HasPrefix(r.URL.Path, "/console")}
		p.csrf = csrfToken(w, r)
		if r.Method == http.MethodPost && rt.Pattern != cspReportPattern {
			if err := cop.Check(r); err != nil {
				p.fail(errForgedCSRF)
				return
			}
			if err := p.checkCSRF(); err != nil {
				p.fail(err)
				return
			}
		}
		if err := rt.handle(p); err != nil {
			p.fail(err)
		}
	})
}

// csrfToken returns the visitor's CSRF token, giving a new one to a visitor
// without.
func csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail
	tok := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: tok, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	return tok
}

// checkCSRF refuses a form without the visitor's token.
func (p *page) checkCSRF() error {
	c, err := p.r.Cookie(csrfCookie)
	if err != nil {
		return errForgedCSRF
	}
	if err := p.r.ParseForm(); err != nil {
		return &apiError{Status: http.StatusBadRequest, Code: "malformed_form", Detail: "The form could not be read."}
	}
	if subtle.ConstantTimeCompare([]byte(p.r.PostFormValue("csrf")), []byte(c.Value)) != 1 {
		return errForgedCSRF
	}
	return nil
}

// account returns the signed-in visitor, nil for none (or a session the API
// no longer takes).
func (p *page) account() (*account, error) {
	if p.meDone {
		return p.me, nil
	}
	p.meDone = true
	if !p.signedIn() {
		return nil, nil
	}
	var me account
	if err := p.call(http.MethodGet, "/api/v1/me", nil, &me); err != nil {
		var e *apiError
		if errors.As(err, &e) && e.Status == http.StatusUnauthorized {
			return nil, nil
		}
		return nil, err
	}
	p.me = &me
	return p.me, nil
}

// frame returns the view of a page titled title around data.
func (p *page) frame(title string, data any) (view, error) {
	me, err := p.account()
	if err != nil {
		return view{}, err
	}
	v := view{Title: title, Shop: p.s.opts.ShopName, CSRF: p.csrf, Me: me, Path: p.r.URL.Path,
		Flash: flashes[p.r.URL.Query().Get("done")], Data: data, Console: p.console}
	if p.console {
		v.Nav = consoleNav(me, p.r.URL.Path)
	}
	return v, nil
}

// show draws the page tmpl titled title around data, status 200.
func (p *page) show(tmpl, title string, data any) error {
	v, err := p.frame(title, data)
	if err != nil {
		return err
	}
	return p.s.views.render(p.w, http.StatusOK, tmpl, v)
}

// refuse draws the form page tmpl again with the API's refusal: its message
// and its field errors, and the visitor's values (never a password).
func (p *page) refuse(tmpl, title string, data any, err error) error {
	var e *apiError
	if !errors.As(err, &e) || sessionProblem(e) || e.Status >= 500 || e.Status == http.StatusTooManyRequests {
		return err
	}
	v, ferr := p.frame(title, data)
	if ferr != nil {
		return ferr
	}
	v.Error, v.Fields, v.Form = e.Detail, e.Fields, url.Values{}
	for k, vals := range p.r.PostForm {
		if k != "csrf" && !strings.Contains(k, "password") && k != "number" && k != "cvc" && k != "otp" {
			v.Form[k] = vals
		}
	}
	return p.s.views.render(p.w, e.Status, tmpl, v)
}

// sessionProblem says whether a 401 is about the visitor's session (none,
// ended, too old for the action: the sign-in page is the answer) rather
// than about what the form sent (a wrong password or second factor, which
// the form shows again).
func sessionProblem(e *apiError) bool {
	return e.Status == http.StatusUnauthorized && (e.Code == "" || e.Code == "unauthenticated" || e.Code == "reauthentication_required")
}

// redirect sends the visitor to path (303: a form's answer is a GET), with
// a flash key the next page shows.
func (p *page) redirect(path, done string) error {
	if done != "" {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "done=" + url.QueryEscape(done)
	}
	http.Redirect(p.w, p.r, path, http.StatusSeeOther)
	return nil
}

// flashes are the fixed messages a redirect may ask the next page to show:
// a key, never text, travels in the URL, so no link can put words on a page.
var flashes = map[string]string{
	"signed-in":        "You are signed in.",
	"signed-out":       "You are signed out.",
	"added":            "Added to your cart.",
	"updated":          "Saved.",
	"ordered":          "Thank you: your order is placed.",
	"already-ordered":  "That order was already placed: it is below, charged once.",
	"no-cart":          "There is no cart to pay: if you just placed an order, it is below.",
	"return-requested": "Your return is requested: the shop will tell you how to send the items.",
	"registered":       "Check your mail: we sent you a link to confirm your address.",
	"verified":         "Your address is confirmed and your account is ready.",
	"reset-sent":       "If an account uses that address, a link to choose a new password is on its way.",
	"reset-done":       "Your password is changed. Sign in with it.",
	"totp-on":          "Two-step sign-in is on.",
	"totp-off":         "Two-step sign-in is off.",
	"revoked":          "The session is signed out.",
	"approved":         "The order is approved.",
	"rejected":         "The order is rejected.",
	"resolved":         "The finding is resolved.",
	"suppressed":       "The finding is suppressed.",
	"lifted":           "The block is lifted.",
	"address-added":    "The address is saved.",
	"address-gone":     "The address is removed.",
	"erased":           "Your account and its personal data are erased.",
	"fulfilled":        "The fulfilment is recorded.",
	"cancelled":        "The order is cancelled.",
	"refunded":         "The refund is made.",
	"captured":         "The payment is captured.",
	"stock-adjusted":   "The stock is adjusted.",
	// The commerce console's.
	"reauth":           "This action needs a recent sign-in: sign in again to confirm it is you, then send the form again.",
	"product-created":  "The product is created.",
	"variant-added":    "The variant is added.",
	"category-created": "The category is created.",
	"deleted":          "It is deleted.",
	"discount-created": "The discount code is created.",
	"tax-created":      "The tax rate is created.",
	"shipping-created": "The shipping option is created.",
	"key-revoked":      "The key is revoked.",
	"user-erased":      "The account and its personal data are erased.",
	"retried":          "The delivery is queued to be sent again.",
	"mail-reset":       "The default template is used again.",
	"return-accepted":  "The return is accepted.",
	"return-rejected":  "The return is rejected.",
	"return-received":  "The return is received.",
}

// fail answers the request with an error page: a refusal of the API as
// what it is (a session that ended goes to the sign-in), anything else as a
// 500 whose detail goes to the log.
func (p *page) fail(err error) {
	var e *apiError
	if !errors.As(err, &e) {
		p.s.opts.Log.ErrorContext(p.r.Context(), "page failed", "path", p.r.URL.Path, "err", err)
		e = &apiError{Status: http.StatusInternalServerError, Code: "internal",
			Detail: "Something went wrong on our side. Try again in a moment."}
	}
	if e.Status == http.StatusUnauthorized {
		signin := "/signin"
		if p.console {
			signin = "/console/signin"
		}
		if p.r.Method == http.MethodGet {
			signin += "?next=" + url.QueryEscape(p.r.URL.RequestURI())
		}
		http.Redirect(p.w, p.r, signin, http.StatusSeeOther)
		return
	}
	if e.RetryAfter != "" {
		p.w.Header().Set("Retry-After", e.RetryAfter)
	}
	tmpl := "error.html"
	if p.console {
		tmpl = "console-error.html"
	}
	data := struct {
		Status    int
		Detail    string
		RequestID string
	}{e.Status, e.Detail, reqinfo.From(p.r.Context()).RequestID}
	v := view{Title: http.StatusText(e.Status), Shop: p.s.opts.ShopName, CSRF: p.csrf, Data: data, Console: p.console, Path: p.r.URL.Path}
	if rerr := p.s.views.render(p.w, e.Status, tmpl, v); rerr != nil {
		p.s.opts.Log.ErrorContext(p.r.Context(), "error page failed", "err", rerr)
		http.Error(p.w, "error", http.StatusInternalServerError)
	}
}

// next returns the page a sign-in should go on to: a path of this site
// only (a "next" that names another host, or //host, is an open redirect).
func next(v, fallback string) string {
	if v == "" || !strings.HasPrefix(v, "/") || strings.HasPrefix(v, "//") || strings.HasPrefix(v, "/\\") || strings.ContainsAny(v, "\r\n") {
		return fallback
	}
	return v
}
