package pages

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/money"
)

// commerceConsoleRoutes are the console's commerce pages: orders, catalog,
// pricing, users and roles, API keys, webhooks, order mail. Like every page
// they decide nothing: each read and each action is the API route of the
// same name, called as the staff member (console_orders.go and its
// neighbours).
func commerceConsoleRoutes() []pageRoute {
	var out []pageRoute
	out = append(out, orderRoutes()...)
	out = append(out, catalogRoutes()...)
	out = append(out, pricingRoutes()...)
	out = append(out, adminRoutes()...)
	return out
}

// commerceSections are their entries in the console's menu, each with the
// permission its API calls need.
func commerceSections() []consoleSection {
	return []consoleSection{
		{"Orders", "/console/orders", access.OrdersRead},
		{"Catalog", "/console/catalog", access.CatalogWrite},
		{"Categories", "/console/catalog/categories", access.CatalogWrite},
		{"Pricing", "/console/pricing", access.PricingManage},
		{"Users and roles", "/console/users", access.RolesManage},
		{"API keys", "/console/keys", access.KeysManage},
		{"Webhooks", "/console/webhooks", access.WebhooksManage},
		{"Order mail", "/console/mail", access.MailManage},
	}
}

// bigForm is a POST route whose form takes more than formBody: the product
// editor's description, a mail template's body.
func bigForm(pattern string, h handler) pageRoute {
	return pageRoute{Route: Route{Pattern: "POST " + pattern, MaxBody: catalogFormBody}, handle: h}
}

// codeReauth is the API's step-up refusal: the action needs a sign-in from
// the last few minutes.
const codeReauth = "reauthentication_required"

// refused answers a console form the API refused. A step-up refusal sends
// the staff member to the sign-in, coming back to back afterwards; any other
// refusal the page can show (a 4xx) draws the form's page again by draw,
// with the API's message and the values sent; the rest is an error page.
func (p *page) refused(err error, back string, draw func() (tmpl, title string, data any, err error)) error {
	var e *apiError
	if !errors.As(err, &e) {
		return err
	}
	if e.Status == http.StatusUnauthorized && e.Code == codeReauth {
		return p.redirect("/console/signin?next="+url.QueryEscape(back), "reauth")
	}
	if e.Status == http.StatusUnauthorized || e.Status >= 500 || e.Status == http.StatusTooManyRequests || draw == nil {
		return err
	}
	tmpl, title, data, derr := draw()
	if derr != nil {
		// The page itself cannot be read (a 403 for a role that may not
		// read it): the action's refusal is what the visitor learns.
		return err
	}
	return p.refuse(tmpl, title, data, err)
}

// showSecret draws a page carrying a secret shown once (an API key, a
// webhook's signing secret, an enrolment code): never stored by a cache.
func (p *page) showSecret(tmpl, title string, data any) error {
	p.w.Header().Set("Cache-Control", "no-store")
	return p.show(tmpl, title, data)
}

// idemKey is a fresh Idempotency-Key for a form that moves money: the form
// carries it, so the same form sent twice (a double click, a resend after a
// lost answer) refunds once.
func idemKey() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail
	return "page-" + base64.RawURLEncoding.EncodeToString(b)
}

// formError is a form value the page cannot turn into the API's request
// (an amount that is no number): refused like the API's validation, as
// 422 with the field named.
func formError(field, message string) error {
	return &apiError{Status: http.StatusUnprocessableEntity, Code: "validation_failed",
		Detail: "Some fields are not valid.", Fields: map[string]string{field: message}}
}

// parseAmount reads an amount written in major units ("19.99", "1999" for
// JPY) as minor units of currency. Only digits and one decimal point, with
// no more decimals than the currency has: there is no rounding.
func parseAmount(s, currency string) (int64, bool) {
	s = strings.TrimSpace(s)
	whole, frac, hasPoint := strings.Cut(s, ".")
	d := money.Digits(currency)
	if whole == "" || len(whole) > 13 || !digits(whole) || !digits(frac) || len(frac) > d || (hasPoint && frac == "") {
		return 0, false
	}
	n, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, false
	}
	for i := range d {
		n *= 10
		if i < len(frac) {
			n += int64(frac[i] - '0')
		}
	}
	return n, true
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// parsePrices reads a list of amounts with their currencies, as the console
// writes them: "19.99 EUR, 24.00 USD". Empty is no price.
func parsePrices(field, s string) ([]money.Money, error) {
	out := []money.Money{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		amount, cur, ok := strings.Cut(part, " ")
		cur = strings.ToUpper(strings.TrimSpace(cur))
		if !ok || len(cur) != 3 {
			return nil, formError(field, "write each price as an amount and a currency, such as 19.99 EUR, separated by commas")
		}
		n, ok := parseAmount(amount, cur)
		if !ok {
			return nil, formError(field, fmt.Sprintf("%q is not an amount of %s (at most %d decimals)", strings.TrimSpace(amount), cur, money.Digits(cur)))
		}
		out = append(out, money.Money{Amount: n, Currency: cur})
	}
	return out, nil
}

// formatPrices writes prices as parsePrices reads them.
func formatPrices(ms []money.Money) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = formatMoney(m)
	}
	return strings.Join(parts, ", ")
}

// localTimeLayout is an <input type="datetime-local">'s value; the console
// reads and writes it as UTC (the label says so).
const localTimeLayout = "2006-01-02T15:04"

// parseUTC reads a datetime-local value as UTC. Empty is nil.
func parseUTC(field, s string) (*time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	t, err := time.Parse(localTimeLayout, s)
	if err != nil {
		if t, err = time.Parse(localTimeLayout+":05", s); err != nil {
			return nil, formError(field, "a date and time such as 2027-01-31T09:00 (UTC)")
		}
	}
	return &t, nil
}

// inputTime writes an API timestamp as a datetime-local value in UTC.
func inputTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return ""
	}
	return t.UTC().Format(localTimeLayout)
}

// parseInt reads a whole number; empty is 0.
func parseInt(field, s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, formError(field, "a whole number")
	}
	return n, nil
}

// parseFixed reads a decimal number with at most places decimals as an
// integer scaled by 10^places: a percentage "8.875" with places 4 is 88750
// (parts per million of 100 %), "12.5" with places 2 is 1250 (basis points).
func parseFixed(field, s string, places int) (int64, error) {
	s = strings.TrimSpace(s)
	whole, frac, hasPoint := strings.Cut(s, ".")
	if whole == "" || len(whole) > 9 || !digits(whole) || !digits(frac) || len(frac) > places || (hasPoint && frac == "") {
		return 0, formError(field, fmt.Sprintf("a number with at most %d decimals", places))
	}
	n, _ := strconv.ParseInt(whole, 10, 64)
	for i := range places {
		n *= 10
		if i < len(frac) {
			n += int64(frac[i] - '0')
		}
	}
	return n, nil
}

// formatFixed writes n scaled by 10^places as a decimal without trailing
// zeros: formatFixed(88750, 4) is "8.875".
func formatFixed(n int64, places int) string {
	unit := int64(1)
	for range places {
		unit *= 10
	}
	s := strconv.FormatInt(n/unit, 10)
	if frac := n % unit; frac != 0 {
		f := strings.TrimRight(fmt.Sprintf("%0*d", places, frac), "0")
		s += "." + f
	}
	return s
}

// splitList reads "a, b,c" as [a b c], dropping empty items.
func splitList(s string) []string {
	out := []string{}
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// esc is a path segment of an API route.
func esc(s string) string { return url.PathEscape(s) }
