package pages

import (
	"net/http"

	"github.com/bulwark-shop/bulwark/internal/access"
)

// table is the page route table. Every page is public as a route: what a
// page may show or do is decided by the API calls it makes as the visitor.
func (s *Site) table() []pageRoute {
	var out []pageRoute
	out = append(out, baseRoutes()...)
	out = append(out, accountRoutes()...)
	out = append(out, securityConsoleRoutes()...)
	out = append(out, commerceConsoleRoutes()...)
	return out
}

// get and post make a page route; a form takes formBody bytes at most.
func get(pattern string, h handler) pageRoute {
	return pageRoute{Route: Route{Pattern: "GET " + pattern}, handle: h}
}

func post(pattern string, h handler) pageRoute {
	return pageRoute{Route: Route{Pattern: "POST " + pattern, MaxBody: formBody}, handle: h}
}

// baseRoutes are the front page, the assets, the catalog and the sign-in.
func baseRoutes() []pageRoute {
	return []pageRoute{
		get("/{$}", (*page).home),
		get("/assets/{name}", func(p *page) error { return p.s.assets.serve(p.w, p.r) }),
		post(cspReportPath, (*page).cspReport),

		// The storefront.
		get("/search", (*page).search),
		get("/categories/{id}", (*page).category),
		get("/products/{id}", (*page).product),
		get("/signin", (*page).signinForm),
		post("/signin", (*page).signin),
		post("/signin/mfa", (*page).signinMFA),
		get("/signin/oidc", (*page).oidcReturn),
		post("/signout", (*page).signout),
		get("/signup", (*page).signupForm),
		post("/signup", (*page).signup),
		get("/verify-email", (*page).verifyForm),
		post("/verify-email", (*page).verify),
		get("/reset-password", (*page).resetForm),
		post("/reset-password", (*page).requestReset),
		post("/reset-password/confirm", (*page).confirmReset),

		// The console.
		get("/console", (*page).consoleHome),
		get("/console/signin", (*page).signinForm),
		post("/console/signin", (*page).signin),
		post("/console/signin/mfa", (*page).signinMFA),
		post("/console/signout", (*page).signout),
	}
}

// consoleSections are the console's pages, each shown in the menu to the
// roles whose permission its API calls need. The menu is a convenience: the
// API decides what each page may show.
type consoleSection struct {
	Label, Href string
	Needs       access.Permission
}

// consoleSections lists the menu in order.
func consoleSections() []consoleSection {
	out := []consoleSection{{"Overview", "/console", access.Public}}
	out = append(out, securitySections()...)
	return append(out, commerceSections()...)
}

// consoleNav is the console's menu for the signed-in staff member.
func consoleNav(me *account, path string) []navItem {
	if me == nil {
		return nil
	}
	p := &access.Principal{MFAEnabled: me.MFAEnabled}
	for _, r := range me.Roles {
		p.Roles = append(p.Roles, access.Role(r))
	}
	var out []navItem
	for _, s := range consoleSections() {
		if p.Can(s.Needs) {
			out = append(out, navItem{Label: s.Label, Href: s.Href, Current: s.Href == path})
		}
	}
	return out
}

// consoleHome is the console's front page: what needs a person's attention.
func (p *page) consoleHome() error {
	me, err := p.account()
	if err != nil {
		return err
	}
	if me == nil {
		return &apiError{Status: http.StatusUnauthorized}
	}
	if !me.Staff() {
		return &apiError{Status: http.StatusForbidden, Code: "forbidden", Detail: "The console is for the shop's staff."}
	}
	return p.show("console-home.html", "Overview", nil)
}
