package pages

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

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
	p := principalOf(me)
	var out []navItem
	for _, s := range consoleSections() {
		if p.Can(s.Needs) {
			current := s.Href == path || (s.Href != "/console" && strings.HasPrefix(path, s.Href+"/"))
			out = append(out, navItem{Label: s.Label, Href: s.Href, Current: current})
		}
	}
	return out
}

// homePage is the console's front page: what needs a person's attention,
// each part present only when the staff member's roles may read it.
type homePage struct {
	// Notice is the API's word when it refuses the staff member everything
	// (a second factor not yet enrolled).
	Notice string
	// OpenFindings counts the active findings (More: at least that many).
	OpenFindings *homeCount
	// FindingsByDay is the findings first seen on each of the last days.
	FindingsByDay *homeSeries
	Reviews       *homeCount
	Posture       []postureSeries
	Backups       *secBackups
	LastBackup    string
	// Outcomes counts the latest orders by status.
	Outcomes *homeSeries
}

type homeCount struct {
	N    int
	More bool
}

type homeSeries struct {
	Values []float64
	Labels []string
}

// homeDays is how many days the findings chart spans; homeSample how many
// of the newest findings and orders the front page reads (one page each).
const (
	homeDays   = 14
	homeSample = "100"
)

// principalOf is the principal the menu and the overview judge by: the
// roles /api/v1/me names. It only spares calls bound to be refused; the API
// authorizes every call made.
func principalOf(me *account) *access.Principal {
	p := &access.Principal{MFAEnabled: me.MFAEnabled}
	for _, r := range me.Roles {
		p.Roles = append(p.Roles, access.Role(r))
	}
	return p
}

// staffMember is the signed-in staff member, for the console's pages that
// make no API call of their own first: a visitor signed out goes to the
// sign-in, a customer is told the console is not theirs. (The API still
// authorizes every call the page then makes.)
func (p *page) staffMember() (*account, error) {
	me, err := p.account()
	if err != nil {
		return nil, err
	}
	if me == nil {
		return nil, &apiError{Status: http.StatusUnauthorized}
	}
	if !me.Staff() {
		return nil, &apiError{Status: http.StatusForbidden, Code: "forbidden", Detail: "The console is for the shop's staff."}
	}
	return me, nil
}

// consoleHome is the console's front page: what needs a person's attention.
// Each tile is an API call as the staff member: a refusal (403, or 404 for
// what is not set up) leaves the tile out, so each role sees what it may.
func (p *page) consoleHome() error {
	me, err := p.staffMember()
	if err != nil {
		return err
	}
	var data homePage
	can := principalOf(me)
	// tile makes a tile's call; false leaves the tile out. A call the
	// staff member's roles cannot make is not made (each would be an
	// audited refusal); the API still decides every call that is.
	tile := func(perm access.Permission, path string, out any) (bool, error) {
		if !can.Can(perm) {
			return false, nil
		}
		err := p.call(http.MethodGet, path, nil, out)
		var e *apiError
		if errors.As(err, &e) && e.Code == access.CodeMFAEnrollmentRequired && data.Notice == "" {
			data.Notice = e.Detail
		}
		if refused(err) {
			return false, nil
		}
		return err == nil, err
	}
	var active secList[secFinding]
	if ok, err := tile(access.FindingsRead, "/api/v1/admin/findings?status=active&limit="+homeSample, &active); err != nil {
		return err
	} else if ok {
		data.OpenFindings = &homeCount{N: len(active.Items), More: active.NextCursor != ""}
		var recent secList[secFinding]
		if _, err := tile(access.FindingsRead, "/api/v1/admin/findings?limit="+homeSample, &recent); err != nil {
			return err
		}
		data.FindingsByDay = findingsByDay(recent.Items, p.s.opts.Now(), homeDays)
	}
	var held secList[secOrder]
	if ok, err := tile(access.FraudReview, "/api/v1/admin/reviews?limit="+homeSample, &held); err != nil {
		return err
	} else if ok {
		data.Reviews = &homeCount{N: len(held.Items), More: held.NextCursor != ""}
	}
	if can.Can(access.AssuranceRead) {
		if data.Posture, err = p.postureHistory("60"); err != nil && !refused(err) {
			return err
		}
	}
	if ok, err := tile(access.AssuranceRead, "/api/v1/admin/backups", &data.Backups); err != nil {
		return err
	} else if ok && data.Backups != nil {
		for _, b := range data.Backups.Backups {
			if b.CreatedAt > data.LastBackup {
				data.LastBackup = b.CreatedAt
			}
		}
	}
	var orders secList[secOrder]
	if ok, err := tile(access.OrdersRead, "/api/v1/admin/orders?limit="+homeSample, &orders); err != nil {
		return err
	} else if ok {
		data.Outcomes = outcomes(orders.Items)
	}
	return p.show("console-home.html", "Overview", data)
}

// findingsByDay counts fs by the day (UTC) they were first seen, over the
// days up to now.
func findingsByDay(fs []secFinding, now time.Time, days int) *homeSeries {
	today := now.UTC().Truncate(24 * time.Hour)
	s := &homeSeries{Values: make([]float64, days)}
	for i := range days {
		s.Labels = append(s.Labels, today.AddDate(0, 0, i-days+1).Format("01-02"))
	}
	for _, f := range fs {
		t, err := time.Parse(time.RFC3339Nano, f.FirstSeen)
		if err != nil {
			continue
		}
		i := days - 1 - int(today.Sub(t.UTC().Truncate(24*time.Hour))/(24*time.Hour))
		if i >= 0 && i < days {
			s.Values[i]++
		}
	}
	return s
}

// outcomes counts orders by status, in the order of the checkout's
// outcomes: paid, authorized, held for review, then the rest by name.
func outcomes(os []secOrder) *homeSeries {
	n := map[string]float64{}
	for _, o := range os {
		n[o.Status]++
	}
	s := &homeSeries{}
	order := []string{"paid", "authorized", "pending_review", "cancelled", "refunded", "partially_refunded", "fulfilled"}
	var rest []string
	for k := range n {
		if !slices.Contains(order, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	order = append(order, rest...)
	for _, k := range order {
		if v, ok := n[k]; ok {
			s.Values = append(s.Values, v)
			s.Labels = append(s.Labels, strings.ReplaceAll(k, "_", " "))
		}
	}
	return s
}
