package pages

import (
	"errors"
	"net/http"
	"net/url"
)

// signinPage is the sign-in forms' data.
type signinPage struct {
	Next string
	// Ticket is the one-time MFA ticket of a password that was right, for
	// the second step's form.
	Ticket string
	OIDC   bool
	// NeedCode: the password was right, the second factor is owed.
	NeedCode bool
}

// signinTemplates are the sign-in's two forms, in the storefront or the
// console.
func (p *page) signinTemplates() (first, second, home string) {
	if p.console {
		return "console-signin.html", "console-signin-mfa.html", "/console"
	}
	return "signin.html", "signin-mfa.html", "/account"
}

// signinForm draws the sign-in form.
func (p *page) signinForm() error {
	first, _, home := p.signinTemplates()
	return p.show(first, "Sign in", signinPage{Next: next(p.r.URL.Query().Get("next"), home), OIDC: p.s.opts.OIDC && !p.console})
}

// signin checks the password through POST /api/v1/auth/login: a session
// (the API sets its cookie), or the second step's form when the account has
// a second factor. Every way in goes through the API's one gate: the pages
// never decide who may sign in.
func (p *page) signin() error {
	first, second, home := p.signinTemplates()
	data := signinPage{Next: next(p.r.PostFormValue("next"), home), OIDC: p.s.opts.OIDC && !p.console}
	var out struct {
		Status string `json:"status"`
		Ticket string `json:"mfa_ticket"`
	}
	err := p.call(http.MethodPost, "/api/v1/auth/login", map[string]string{
		"email": p.r.PostFormValue("email"), "password": p.r.PostFormValue("password"), "otp": p.r.PostFormValue("otp")}, &out)
	var e *apiError
	if errors.As(err, &e) && e.Code == "mfa_required" {
		// The password was right and the account has a second factor: the
		// form again, asking for the code with it (a password login gets
		// no MFA ticket; the password is never written back into the page).
		data.NeedCode = true
		v, ferr := p.frame("Sign in", data)
		if ferr != nil {
			return ferr
		}
		v.Form = url.Values{"email": {p.r.PostFormValue("email")}}
		return p.s.views.render(p.w, http.StatusOK, first, v)
	}
	if err != nil {
		return p.refuse(first, "Sign in", data, err)
	}
	if out.Status == "mfa_required" {
		data.Ticket = out.Ticket
		return p.show(second, "Two-step sign-in", data)
	}
	return p.redirect(data.Next, "signed-in")
}

// oidcReturn is where an identity provider sends the visitor back when
// oidc-redirect-url names this page (public-url + /signin/oidc): it finishes
// the social login through the API's callback, in process, and then goes on
// as a password sign-in does — a session, or the second step's form when
// the account has a second factor (the API's one gate decides).
func (p *page) oidcReturn() error {
	var out struct {
		Status string `json:"status"`
		Ticket string `json:"mfa_ticket"`
	}
	if err := p.call(http.MethodGet, "/api/v1/auth/oidc/callback?"+p.r.URL.RawQuery, nil, &out); err != nil {
		return p.refuse("signin.html", "Sign in", signinPage{Next: "/account", OIDC: p.s.opts.OIDC}, err)
	}
	if out.Status == "mfa_required" {
		return p.show("signin-mfa.html", "Two-step sign-in", signinPage{Next: "/account", Ticket: out.Ticket})
	}
	return p.redirect("/account", "signed-in")
}

// signinMFA finishes a sign-in with the code of the visitor's
// authenticator app, or a recovery code, through POST /api/v1/auth/mfa.
func (p *page) signinMFA() error {
	_, second, home := p.signinTemplates()
	data := signinPage{Next: next(p.r.PostFormValue("next"), home), Ticket: p.r.PostFormValue("ticket")}
	err := p.call(http.MethodPost, "/api/v1/auth/mfa", map[string]string{"ticket": data.Ticket, "otp": p.r.PostFormValue("otp")}, nil)
	if err != nil {
		return p.refuse(second, "Two-step sign-in", data, err)
	}
	return p.redirect(data.Next, "signed-in")
}

// signout ends the session (POST /api/v1/auth/logout clears the cookie).
func (p *page) signout() error {
	home := "/"
	if p.console {
		home = "/console/signin"
	}
	if p.signedIn() {
		if err := p.call(http.MethodPost, "/api/v1/auth/logout", nil, nil); err != nil {
			if e, ok := err.(*apiError); !ok || e.Status != http.StatusUnauthorized {
				return err
			}
		}
	}
	return p.redirect(home, "signed-out")
}

// signupForm draws the registration form.
func (p *page) signupForm() error { return p.show("signup.html", "Create an account", nil) }

// signup registers through POST /api/v1/auth/register, which mails a link
// to confirm the address (the account exists once it is confirmed).
func (p *page) signup() error {
	err := p.call(http.MethodPost, "/api/v1/auth/register", map[string]string{
		"email": p.r.PostFormValue("email"), "password": p.r.PostFormValue("password"),
		"name": p.r.PostFormValue("name"), "website": p.r.PostFormValue("website")}, nil)
	if err != nil {
		return p.refuse("signup.html", "Create an account", nil, err)
	}
	return p.redirect("/signin", "registered")
}

// verifyForm is the page the confirmation mail links to. The token is in
// the link's fragment, which browsers never send: app.js puts it in the
// form and sends it; without JavaScript the visitor pastes it.
func (p *page) verifyForm() error { return p.show("verify-email.html", "Confirm your address", nil) }

func (p *page) verify() error {
	err := p.call(http.MethodPost, "/api/v1/auth/verify-email", map[string]string{"token": p.r.PostFormValue("token")}, nil)
	if err != nil {
		return p.refuse("verify-email.html", "Confirm your address", nil, err)
	}
	return p.redirect("/signin", "verified")
}

// resetForm asks for the address to send a reset link to, and (from the
// link, its token in the fragment as for verification) for the new password.
func (p *page) resetForm() error { return p.show("reset-password.html", "Choose a new password", nil) }

func (p *page) requestReset() error {
	err := p.call(http.MethodPost, "/api/v1/auth/password-reset", map[string]string{"email": p.r.PostFormValue("email")}, nil)
	if err != nil {
		return p.refuse("reset-password.html", "Choose a new password", nil, err)
	}
	return p.redirect("/reset-password", "reset-sent")
}

func (p *page) confirmReset() error {
	err := p.call(http.MethodPost, "/api/v1/auth/password-reset/confirm", map[string]string{
		"token": p.r.PostFormValue("token"), "password": p.r.PostFormValue("password")}, nil)
	if err != nil {
		return p.refuse("reset-password.html", "Choose a new password", nil, err)
	}
	return p.redirect("/signin", "reset-done")
}
