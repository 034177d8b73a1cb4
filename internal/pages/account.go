package pages

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// accountRoutes are the storefront's cart, checkout and account pages.
func accountRoutes() []pageRoute {
	return []pageRoute{
		get("/cart", (*page).cartPage),
		post("/cart/items", (*page).addToCart),
		post("/cart/items/{id}", (*page).setCartItem),
		post("/cart/discount", (*page).setDiscount),
		get("/checkout", (*page).checkoutForm),
		post("/checkout/address", (*page).shipTo),
		post("/checkout", (*page).placeOrder),

		get("/account", (*page).accountHome),
		get("/account/orders/{id}", (*page).accountOrder),
		post("/account/orders/{id}/returns", (*page).requestReturn),
		get("/account/addresses", (*page).addresses),
		post("/account/addresses", (*page).addAddress),
		post("/account/addresses/{id}/delete", (*page).deleteAddress),
		get("/account/sessions", (*page).sessions),
		post("/account/sessions/{id}/revoke", (*page).revokeSession),
		get("/account/security", (*page).security),
		post("/account/totp", (*page).enrollTOTP),
		post("/account/totp/confirm", (*page).confirmTOTP),
		post("/account/totp/disable", (*page).disableTOTP),
		post("/account/passkeys/{id}/delete", (*page).removePasskey),
		post("/account/password", (*page).changePassword),
		get("/account/export", (*page).export),
		get("/account/erase", (*page).eraseForm),
		post("/account/erase", (*page).erase),
	}
}

// accountHome is the account's overview: who, and the orders.
func (p *page) accountHome() error {
	if !p.signedIn() {
		return &apiError{Status: http.StatusUnauthorized, Code: "unauthenticated"}
	}
	var orders list[orderView]
	if err := p.call(http.MethodGet, "/api/v1/orders?limit=50", nil, &orders); err != nil {
		return err
	}
	return p.show("account.html", "Your account", orders.Items)
}

func (p *page) accountOrder() error {
	var o orderView
	if err := p.call(http.MethodGet, "/api/v1/orders/"+url.PathEscape(p.r.PathValue("id")), nil, &o); err != nil {
		return err
	}
	return p.show("account-order.html", "Order "+o.ID, o)
}

// requestReturn asks for the return of shipped units (POST
// /api/v1/orders/{id}/returns): a quantity per line, and a reason.
func (p *page) requestReturn() error {
	id := p.r.PathValue("id")
	type line struct {
		LineID   string `json:"line_id"`
		Quantity int    `json:"quantity"`
	}
	var lines []line
	for k, v := range p.r.PostForm {
		if lineID, ok := strings.CutPrefix(k, "qty-"); ok {
			if n, err := strconv.Atoi(v[0]); err == nil && n > 0 {
				lines = append(lines, line{LineID: lineID, Quantity: n})
			}
		}
	}
	slices.SortFunc(lines, func(a, b line) int { return strings.Compare(a.LineID, b.LineID) })
	err := p.call(http.MethodPost, "/api/v1/orders/"+url.PathEscape(id)+"/returns",
		map[string]any{"lines": lines, "reason": p.r.PostFormValue("reason")}, nil)
	if err != nil {
		var o orderView
		if oerr := p.call(http.MethodGet, "/api/v1/orders/"+url.PathEscape(id), nil, &o); oerr != nil {
			return oerr
		}
		return p.refuse("account-order.html", "Order "+o.ID, o, err)
	}
	return p.redirect("/account/orders/"+url.PathEscape(id), "return-requested")
}

func (p *page) addresses() error {
	var addrs list[savedAddressJSON]
	if err := p.call(http.MethodGet, "/api/v1/me/addresses", nil, &addrs); err != nil {
		return err
	}
	return p.show("account-addresses.html", "Your addresses", addrs.Items)
}

func (p *page) addAddress() error {
	if err := p.call(http.MethodPost, "/api/v1/me/addresses", map[string]any{"address": formAddress(p.r.PostForm)}, nil); err != nil {
		var addrs list[savedAddressJSON]
		if lerr := p.call(http.MethodGet, "/api/v1/me/addresses", nil, &addrs); lerr != nil {
			return lerr
		}
		return p.refuse("account-addresses.html", "Your addresses", addrs.Items, err)
	}
	return p.redirect("/account/addresses", "address-added")
}

func (p *page) deleteAddress() error {
	if err := p.call(http.MethodDelete, "/api/v1/me/addresses/"+url.PathEscape(p.r.PathValue("id")), nil, nil); err != nil {
		return err
	}
	return p.redirect("/account/addresses", "address-gone")
}

func (p *page) sessions() error {
	var ss list[struct {
		ID         string `json:"id"`
		CreatedAt  string `json:"created_at"`
		LastUsedAt string `json:"last_used_at"`
		IP         string `json:"ip"`
		UserAgent  string `json:"user_agent"`
		Current    bool   `json:"current"`
	}]
	if err := p.call(http.MethodGet, "/api/v1/me/sessions", nil, &ss); err != nil {
		return err
	}
	return p.show("account-sessions.html", "Where you are signed in", ss.Items)
}

func (p *page) revokeSession() error {
	if err := p.call(http.MethodDelete, "/api/v1/me/sessions/"+url.PathEscape(p.r.PathValue("id")), nil, nil); err != nil {
		return err
	}
	return p.redirect("/account/sessions", "revoked")
}

// securityPage is the account's second factors and password.
type securityPage struct {
	Passkeys []struct {
		ID        string `json:"id"`
		CreatedAt string `json:"created_at"`
	}
	// Enrolling holds the secret of a TOTP enrolment just begun, to type
	// into an authenticator app; RecoveryCodes the codes of one just
	// confirmed. Each is shown on this one answer only.
	Enrolling     *totpEnrolment
	RecoveryCodes []string
}

type totpEnrolment struct {
	Secret     string `json:"secret"`
	OTPAuthURL string `json:"otpauth_url"`
}

func (p *page) securityData() (securityPage, error) {
	var data securityPage
	var keys list[struct {
		ID        string `json:"id"`
		CreatedAt string `json:"created_at"`
	}]
	if err := p.call(http.MethodGet, "/api/v1/me/passkeys", nil, &keys); err != nil {
		return data, err
	}
	data.Passkeys = keys.Items
	return data, nil
}

func (p *page) security() error {
	data, err := p.securityData()
	if err != nil {
		return err
	}
	return p.show("account-security.html", "Sign-in and security", data)
}

// showSecurity draws the security page after an action, with what only
// that answer may show (a secret being enrolled, new recovery codes). Such
// a page is never stored by the browser (the baseline no-store stays).
func (p *page) showSecurity(apply func(*securityPage), err error) error {
	data, derr := p.securityData()
	if derr != nil {
		return derr
	}
	if err != nil {
		return p.refuse("account-security.html", "Sign-in and security", data, err)
	}
	apply(&data)
	return p.show("account-security.html", "Sign-in and security", data)
}

func (p *page) enrollTOTP() error {
	var e totpEnrolment
	body := map[string]string{}
	if code := p.r.PostFormValue("enrollment_code"); code != "" {
		body["enrollment_code"] = code
	}
	err := p.call(http.MethodPost, "/api/v1/me/mfa/totp", body, &e)
	return p.showSecurity(func(d *securityPage) { d.Enrolling = &e }, err)
}

func (p *page) confirmTOTP() error {
	var out struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	err := p.call(http.MethodPost, "/api/v1/me/mfa/totp/confirm", map[string]string{"otp": p.r.PostFormValue("otp")}, &out)
	if err == nil {
		p.meDone = false // the account's second factor changed
	}
	return p.showSecurity(func(d *securityPage) { d.RecoveryCodes = out.RecoveryCodes }, err)
}

func (p *page) disableTOTP() error {
	if err := p.call(http.MethodDelete, "/api/v1/me/mfa/totp", map[string]string{"otp": p.r.PostFormValue("otp")}, nil); err != nil {
		return p.showSecurity(func(*securityPage) {}, err)
	}
	return p.redirect("/account/security", "totp-off")
}

func (p *page) removePasskey() error {
	if err := p.call(http.MethodDelete, "/api/v1/me/passkeys/"+url.PathEscape(p.r.PathValue("id")), nil, nil); err != nil {
		return p.showSecurity(func(*securityPage) {}, err)
	}
	return p.redirect("/account/security", "updated")
}

func (p *page) changePassword() error {
	err := p.call(http.MethodPut, "/api/v1/me/password", map[string]string{
		"current_password": p.r.PostFormValue("current_password"), "new_password": p.r.PostFormValue("new_password")}, nil)
	if err != nil {
		return p.showSecurity(func(*securityPage) {}, err)
	}
	return p.redirect("/account/security", "updated")
}

// export downloads everything the shop holds on the visitor, as the API's
// JSON, to a file.
func (p *page) export() error {
	var raw jsonRaw
	if err := p.call(http.MethodGet, "/api/v1/me/export", nil, &raw); err != nil {
		return err
	}
	h := p.w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="my-data.json"`)
	h.Set("Cache-Control", "no-store")
	p.w.WriteHeader(http.StatusOK)
	_, _ = p.w.Write(raw)
	return nil
}

// jsonRaw keeps an answer's JSON as it came.
type jsonRaw []byte

func (j *jsonRaw) UnmarshalJSON(b []byte) error { *j = append((*j)[:0], b...); return nil }

func (p *page) eraseForm() error {
	if !p.signedIn() {
		return &apiError{Status: http.StatusUnauthorized, Code: "unauthenticated"}
	}
	return p.show("account-erase.html", "Erase your account", nil)
}

// erase erases the account (DELETE /api/v1/me with the password); the
// session ends with it.
func (p *page) erase() error {
	if err := p.call(http.MethodDelete, "/api/v1/me", map[string]string{"password": p.r.PostFormValue("password")}, nil); err != nil {
		return p.refuse("account-erase.html", "Erase your account", nil, err)
	}
	http.SetCookie(p.w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: -1})
	return p.redirect("/", "erased")
}
