package pages

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/finding"
	"github.com/bulwark-shop/bulwark/internal/money"
)

// securityConsoleRoutes are the console's security pages: findings, blocks,
// the fraud review queue, the audit log, posture and assurance.
func securityConsoleRoutes() []pageRoute {
	return []pageRoute{
		get("/console/findings", (*page).consoleFindings),
		get("/console/findings/{id}", (*page).consoleFinding),
		post("/console/findings/{id}/resolve", (*page).consoleResolveFinding),
		post("/console/findings/{id}/suppress", (*page).consoleSuppressFinding),
		get("/console/blocks", (*page).consoleBlocks),
		post("/console/blocks/{id}/lift", (*page).consoleLiftBlock),
		get("/console/reviews", (*page).consoleReviews),
		get("/console/reviews/{id}", (*page).consoleReview),
		post("/console/reviews/{id}/approve", (*page).consoleApproveReview),
		post("/console/reviews/{id}/reject", (*page).consoleRejectReview),
		get("/console/audit", (*page).consoleAudit),
		get("/console/posture", (*page).consolePosture),
		get("/console/assurance", (*page).consoleAssurance),
		get("/console/encryption", (*page).consoleEncryption),
		get("/console/fraud-rules", (*page).consoleFraudRules),
	}
}

// securitySections are their entries in the console's menu, each with the
// permission its API calls need.
func securitySections() []consoleSection {
	return []consoleSection{
		{"Findings", "/console/findings", access.FindingsRead},
		{"Blocks", "/console/blocks", access.BlocksManage},
		{"Review queue", "/console/reviews", access.FraudReview},
		{"Fraud rules", "/console/fraud-rules", access.FraudRules},
		{"Audit log", "/console/audit", access.AuditRead},
		{"Posture", "/console/posture", access.AssuranceRead},
		{"Assurance", "/console/assurance", access.AssuranceRead},
		{"Encryption keys", "/console/encryption", access.AssuranceRead},
		// The settings' history is the audit log's: each start records the
		// settings in force and what changed since the last.
		{"Settings history", "/console/audit?action=settings.change", access.AuditRead},
	}
}

// secFinding is a threat finding as GET /api/v1/admin/findings answers it.
type secFinding struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Severity int    `json:"severity"`
	Status   string `json:"status"`
	Subject  struct {
		Kind string `json:"kind"`
		ID   string `json:"id"`
	} `json:"subject"`
	FirstSeen      string            `json:"first_seen"`
	LastSeen       string            `json:"last_seen"`
	Count          int64             `json:"count"`
	Evidence       map[string]string `json:"evidence"`
	Response       string            `json:"response"`
	DetectionPoint string            `json:"detection_point"`
}

// Level names the finding's severity as the API's severity_min does.
func (f secFinding) Level() string { return severityLevel(f.Severity) }

func severityLevel(s int) string {
	switch {
	case s >= 90:
		return "critical"
	case s >= 70:
		return "high"
	case s >= 40:
		return "medium"
	}
	return "low"
}

// secList is a page of a cursor-paged list.
type secList[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// findingsPage is the findings inbox: a page of findings, the filters that
// chose it and the query of the next page.
type findingsPage struct {
	Items  []secFinding
	Filter url.Values
	Next   string
	Types  []string
}

// findingFilters are the list's query parameters the API takes.
var findingFilters = []string{"status", "type", "severity_min", "subject"}

// consoleFindings lists findings through GET /api/v1/admin/findings with
// the filters the API supports; a filter it refuses shows its message.
func (p *page) consoleFindings() error {
	data := findingsPage{Filter: url.Values{}}
	for _, t := range finding.Types() {
		data.Types = append(data.Types, string(t))
	}
	qs := keep(p.r.URL.Query(), append(findingFilters, "cursor")...)
	for _, k := range findingFilters {
		if v := qs.Get(k); v != "" {
			data.Filter.Set(k, v)
		}
	}
	var list secList[secFinding]
	if err := p.call(http.MethodGet, "/api/v1/admin/findings?"+qs.Encode(), nil, &list); err != nil {
		return p.refuseQuery("console-findings.html", "Findings", data, err)
	}
	data.Items = list.Items
	if list.NextCursor != "" {
		next := keep(data.Filter, findingFilters...)
		next.Set("cursor", list.NextCursor)
		data.Next = next.Encode()
	}
	return p.show("console-findings.html", "Findings", data)
}

// refuseQuery draws a list page again with the API's refusal of its
// filters (400, 422); any other refusal (403 above all) is the error page,
// which shows nothing of the list.
func (p *page) refuseQuery(tmpl, title string, data any, err error) error {
	var e *apiError
	if errors.As(err, &e) && (e.Status == http.StatusBadRequest || e.Status == http.StatusUnprocessableEntity) {
		return p.refuse(tmpl, title, data, err)
	}
	return err
}

// keep returns the values of v named in names that are not empty.
func keep(v url.Values, names ...string) url.Values {
	out := url.Values{}
	for _, k := range names {
		if s := v.Get(k); s != "" {
			out.Set(k, s)
		}
	}
	return out
}

// consoleFinding shows one finding with its evidence, and the forms that
// resolve or suppress it.
func (p *page) consoleFinding() error {
	var f secFinding
	if err := p.call(http.MethodGet, "/api/v1/admin/findings/"+url.PathEscape(p.r.PathValue("id")), nil, &f); err != nil {
		return err
	}
	return p.show("console-finding.html", "Finding "+f.ID, f)
}

func (p *page) consoleResolveFinding() error {
	id := url.PathEscape(p.r.PathValue("id"))
	return p.secAct("/api/v1/admin/findings/"+id+"/resolve", "/console/findings/"+id, "resolved", "Resolve finding "+p.r.PathValue("id"))
}

func (p *page) consoleSuppressFinding() error {
	id := url.PathEscape(p.r.PathValue("id"))
	return p.secAct("/api/v1/admin/findings/"+id+"/suppress", "/console/findings/"+id, "suppressed", "Suppress finding "+p.r.PathValue("id"))
}

// secBlocks are the blocks in force, as GET /api/v1/admin/blocks answers.
type secBlocks struct {
	Items []struct {
		ID      string `json:"id"`
		Address string `json:"address"`
		Until   string `json:"until"`
		Reason  string `json:"reason"`
	} `json:"items"`
	Responses []struct {
		ID      string `json:"id"`
		Subject struct {
			Kind string `json:"kind"`
			ID   string `json:"id"`
		} `json:"subject"`
		Action    string `json:"action"`
		FindingID string `json:"finding_id"`
		CreatedAt string `json:"created_at"`
		ExpiresAt string `json:"expires_at"`
		Repeat    int    `json:"repeat"`
		LiftedAt  string `json:"lifted_at"`
	} `json:"responses"`
}

func (p *page) consoleBlocks() error {
	var b secBlocks
	if err := p.call(http.MethodGet, "/api/v1/admin/blocks", nil, &b); err != nil {
		return err
	}
	return p.show("console-blocks.html", "Active blocks", b)
}

// consoleLiftBlock lifts a block through POST /api/v1/admin/blocks/{id}/lift,
// which needs a sign-in from the last five minutes: the form asks for the
// password and code, which sign the staff member in again first.
func (p *page) consoleLiftBlock() error {
	id := url.PathEscape(p.r.PathValue("id"))
	return p.secAct("/api/v1/admin/blocks/"+id+"/lift", "/console/blocks", "lifted", "Lift block "+p.r.PathValue("id"))
}

// secRisk is an order's fraud risk (finance and admin see it).
type secRisk struct {
	Score        int                `json:"score"`
	Decision     string             `json:"decision"`
	Reasons      []string           `json:"reasons"`
	ModelVersion string             `json:"model_version"`
	RulesVersion string             `json:"rules_version"`
	Features     map[string]float64 `json:"features"`
	Shadow       string             `json:"shadow"`
}

// secOrder is an order as the staff order view shows it to the caller:
// what their roles may see, the rest absent.
type secOrder struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Items  []struct {
		Name     string `json:"name"`
		SKU      string `json:"sku"`
		Quantity int64  `json:"quantity"`
	} `json:"items"`
	Total   *money.Money `json:"total"`
	Payment *struct {
		Brand string `json:"brand"`
		Last4 string `json:"last4"`
	} `json:"payment"`
	Customer *struct {
		ID    string `json:"id"`
		Email string `json:"email"`
		Name  string `json:"name"`
		Guest bool   `json:"guest"`
	} `json:"customer"`
	CreatedAt string   `json:"created_at"`
	Risk      *secRisk `json:"risk"`
	Label     string   `json:"label"`
	Events    []struct {
		At        string `json:"at"`
		ActorKind string `json:"actor_kind"`
		Action    string `json:"action"`
		From      string `json:"from"`
		To        string `json:"to"`
	} `json:"events"`
}

// Features lists the risk's features in name order, for a table.
func (o secOrder) Features() []secFeature {
	if o.Risk == nil {
		return nil
	}
	var out []secFeature
	for k, v := range o.Risk.Features {
		out = append(out, secFeature{k, formatValue(v)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

type secFeature struct{ Name, Value string }

// reviewsPage is the queue: the held orders, the next page's cursor.
type reviewsPage struct {
	Items []secOrder
	Next  string
}

// consoleReviews lists the orders fraud scoring held, through GET
// /api/v1/admin/reviews (finance and admin).
func (p *page) consoleReviews() error {
	qs := keep(p.r.URL.Query(), "cursor")
	var list secList[secOrder]
	if err := p.call(http.MethodGet, "/api/v1/admin/reviews?"+qs.Encode(), nil, &list); err != nil {
		return err
	}
	data := reviewsPage{Items: list.Items}
	if list.NextCursor != "" {
		data.Next = url.Values{"cursor": {list.NextCursor}}.Encode()
	}
	return p.show("console-reviews.html", "Review queue", data)
}

// reviewPage is one held order with the customer's other orders, when the
// staff member's view of orders names the customer.
type reviewPage struct {
	Order   secOrder
	History []secOrder
	// HistoryShown says whether the history could be read at all.
	HistoryShown bool
}

// consoleReview shows one order of the queue: its risk, its history, and
// the customer's previous orders where the caller's order view names the
// customer (support and admin; finance sees amounts, not who).
func (p *page) consoleReview() error {
	var data reviewPage
	id := p.r.PathValue("id")
	if err := p.call(http.MethodGet, "/api/v1/admin/orders/"+url.PathEscape(id), nil, &data.Order); err != nil {
		// Finance reviews fraud without orders:read: the order as the
		// review queue shows it.
		if !refused(err) {
			return err
		}
		found, qerr := p.heldOrder(id)
		if qerr != nil {
			return qerr
		}
		if found == nil {
			return err
		}
		data.Order = *found
	}
	if c := data.Order.Customer; c != nil && c.Email != "" && !c.Guest {
		var list secList[secOrder]
		err := p.call(http.MethodGet, "/api/v1/admin/orders?"+url.Values{"email": {c.Email}, "limit": {"20"}}.Encode(), nil, &list)
		if err != nil && !refused(err) {
			return err
		}
		if err == nil {
			data.HistoryShown = true
			for _, o := range list.Items {
				if o.ID != data.Order.ID {
					data.History = append(data.History, o)
				}
			}
		}
	}
	return p.show("console-review.html", "Review "+data.Order.ID, data)
}

// reviewScan bounds how many pages of the review queue heldOrder reads.
const reviewScan = 10

// heldOrder finds the order id in the review queue (GET
// /api/v1/admin/reviews); nil when it is not there.
func (p *page) heldOrder(id string) (*secOrder, error) {
	q := url.Values{"limit": {"100"}}
	for range reviewScan {
		var list secList[secOrder]
		if err := p.call(http.MethodGet, "/api/v1/admin/reviews?"+q.Encode(), nil, &list); err != nil {
			return nil, err
		}
		for _, o := range list.Items {
			if o.ID == id {
				return &o, nil
			}
		}
		if list.NextCursor == "" {
			break
		}
		q.Set("cursor", list.NextCursor)
	}
	return nil, nil
}

func (p *page) consoleApproveReview() error {
	id := url.PathEscape(p.r.PathValue("id"))
	return p.secAct("/api/v1/admin/reviews/"+id+"/approve", "/console/reviews", "approved", "Approve order "+p.r.PathValue("id"))
}

func (p *page) consoleRejectReview() error {
	id := url.PathEscape(p.r.PathValue("id"))
	return p.secAct("/api/v1/admin/reviews/"+id+"/reject", "/console/reviews", "rejected", "Reject order "+p.r.PathValue("id"))
}

// refused says whether err is the API's 403 or 404: a part of a page the
// staff member may not read, or that does not exist yet, is left out.
func refused(err error) bool {
	var e *apiError
	return errors.As(err, &e) && (e.Status == http.StatusForbidden || e.Status == http.StatusNotFound)
}

// stepUpPage is the form that confirms a staff action with the password
// and code when the API asks for a recent sign-in.
type stepUpPage struct {
	What, Action, Back string
}

// secAct makes the staff action POST path (an empty JSON body) and goes
// back to back with the flash done. When the form carries the password
// (and code), the staff member is signed in again first through POST
// /api/v1/auth/login, the session that was replaced ended: the API's
// step-up rule (a sign-in within five minutes) is met its own way, never
// bypassed. When the API asks for that, or the sign-in is refused, the
// step-up form is drawn with the API's message.
func (p *page) secAct(path, back, done, what string) error {
	form := stepUpPage{What: what, Action: p.r.URL.Path, Back: back}
	if err := p.secStepUp(); err != nil {
		return p.stepUpForm(form, err)
	}
	if err := p.call(http.MethodPost, path, struct{}{}, nil); err != nil {
		return p.stepUpForm(form, err)
	}
	return p.redirect(back, done)
}

// secStepUp signs the staff member in again with the form's password and
// code, when it has them.
func (p *page) secStepUp() error {
	pw := p.r.PostFormValue("password")
	if pw == "" {
		return nil
	}
	me, err := p.account()
	if err != nil {
		return err
	}
	if me == nil {
		return &apiError{Status: http.StatusUnauthorized}
	}
	var sessions secList[struct {
		ID      string `json:"id"`
		Current bool   `json:"current"`
	}]
	if err := p.call(http.MethodGet, "/api/v1/me/sessions", nil, &sessions); err != nil {
		return err
	}
	var out struct {
		Status string `json:"status"`
	}
	if err := p.call(http.MethodPost, "/api/v1/auth/login", map[string]string{
		"email": me.Email, "password": pw, "otp": p.r.PostFormValue("otp")}, &out); err != nil {
		return err
	}
	if out.Status == "mfa_required" {
		return &apiError{Status: http.StatusUnauthorized, Code: "mfa_required", Detail: "Enter the code your authenticator app shows as well."}
	}
	// The session the new sign-in replaces ends now, not at its expiry.
	i := slices.IndexFunc(sessions.Items, func(s struct {
		ID      string `json:"id"`
		Current bool   `json:"current"`
	}) bool {
		return s.Current
	})
	if i >= 0 {
		if err := p.call(http.MethodDelete, "/api/v1/me/sessions/"+url.PathEscape(sessions.Items[i].ID), nil, nil); err != nil && !refused(err) {
			return err
		}
	}
	return nil
}

// stepUpCodes are the API's answers that the step-up form deals with: a
// sign-in too old for the action, and a refused re-sign-in.
var stepUpCodes = []string{"reauthentication_required", "invalid_credentials", "invalid_otp", "mfa_required"}

// stepUpForm draws the step-up form with the API's refusal err; any other
// refusal is the error page.
func (p *page) stepUpForm(form stepUpPage, err error) error {
	var e *apiError
	if !errors.As(err, &e) || !slices.Contains(stepUpCodes, e.Code) {
		return err
	}
	v, ferr := p.frame("Confirm it is you", form)
	if ferr != nil {
		return ferr
	}
	v.Error = e.Detail
	// 403: the session is good, the action is not allowed with it yet (a
	// 401 would send the visitor to the sign-in page).
	return p.s.views.render(p.w, http.StatusForbidden, "console-stepup.html", v)
}

// posturePage is the latest run and the history of its scores.
type posturePage struct {
	Report struct {
		RunAt     string          `json:"run_at"`
		Standards []postureScore  `json:"standards"`
		Checks    []postureResult `json:"checks"`
		Listeners []struct {
			Name         string `json:"name"`
			Addr         string `json:"addr"`
			TLS          bool   `json:"tls"`
			Serves       string `json:"serves"`
			RedirectOnly bool   `json:"redirect_only"`
		} `json:"listeners"`
	}
	Failing, NoData []postureResult
	Passed          int
	History         []postureSeries
}

type postureScore struct {
	ID         string  `json:"id"`
	Score      float64 `json:"score"`
	Passed     int     `json:"passed"`
	Applicable int     `json:"applicable"`
}

type postureResult struct {
	ID       string   `json:"id"`
	Title    string   `json:"title"`
	Severity int      `json:"severity"`
	MapsTo   []string `json:"maps_to"`
	Remedy   string   `json:"remedy"`
	Status   string   `json:"status"`
	Detail   string   `json:"detail"`
}

// postureSeries is one standard's score over the runs, oldest first.
type postureSeries struct {
	ID     string
	Values []float64
	Labels []string
}

// Latest is the newest score, as a percentage.
func (s postureSeries) Latest() string {
	if len(s.Values) == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f%%", s.Values[len(s.Values)-1])
}

type postureRun struct {
	RunAt     string         `json:"run_at"`
	Standards []postureScore `json:"standards"`
	Failed    int            `json:"failed"`
}

// postureHistory reads the score history and returns it as a series per
// standard, oldest first.
func (p *page) postureHistory(limit string) ([]postureSeries, error) {
	var hist struct {
		Items []postureRun `json:"items"`
	}
	if err := p.call(http.MethodGet, "/api/v1/admin/posture/history?limit="+limit, nil, &hist); err != nil {
		return nil, err
	}
	slices.Reverse(hist.Items) // the API answers newest first
	var out []postureSeries
	at := map[string]int{}
	for _, run := range hist.Items {
		for _, s := range run.Standards {
			i, ok := at[s.ID]
			if !ok {
				i = len(out)
				at[s.ID] = i
				out = append(out, postureSeries{ID: s.ID})
			}
			out[i].Values = append(out[i].Values, s.Score*100)
			out[i].Labels = append(out[i].Labels, formatDate(run.RunAt))
		}
	}
	return out, nil
}

// consolePosture shows the score per standard, the failing controls with
// their remedy and the score history.
func (p *page) consolePosture() error {
	var data posturePage
	if err := p.call(http.MethodGet, "/api/v1/admin/posture", nil, &data.Report); err != nil {
		return err
	}
	for _, c := range data.Report.Checks {
		switch c.Status {
		case "fail":
			data.Failing = append(data.Failing, c)
		case "no_data":
			data.NoData = append(data.NoData, c)
		default:
			data.Passed++
		}
	}
	sort.SliceStable(data.Failing, func(i, j int) bool { return data.Failing[i].Severity > data.Failing[j].Severity })
	var err error
	if data.History, err = p.postureHistory("100"); err != nil {
		return err
	}
	return p.show("console-posture.html", "Posture", data)
}

// assurancePage is file integrity, data discovery and backups; a part the
// API has nothing for yet (no run, not configured) is nil.
type assurancePage struct {
	FIM *struct {
		Status    string `json:"status"`
		Baseline  string `json:"baseline"`
		MadeAt    string `json:"made_at"`
		Entries   int    `json:"entries"`
		CheckedAt string `json:"checked_at"`
		Changes   []struct {
			Path   string `json:"path"`
			Kind   string `json:"kind"`
			Before string `json:"before"`
			After  string `json:"after"`
		} `json:"changes"`
		Error string `json:"error"`
	}
	Discovery *struct {
		RunAt     string   `json:"run_at"`
		Sources   []string `json:"sources"`
		Bytes     int64    `json:"bytes"`
		Truncated bool     `json:"truncated"`
		Findings  []struct {
			Location  string `json:"location"`
			Kind      string `json:"kind"`
			Count     int64  `json:"count"`
			TestOnly  bool   `json:"test_only"`
			Severity  int    `json:"severity"`
			Truncated bool   `json:"truncated"`
			Samples   []struct {
				Row    string `json:"row"`
				Offset int64  `json:"offset"`
				Masked string `json:"masked"`
			} `json:"samples"`
		} `json:"findings"`
		Errors []string `json:"errors"`
	}
	Backups *secBackups
}

// secBackups is GET /api/v1/admin/backups.
type secBackups struct {
	Configured bool     `json:"configured"`
	Targets    []string `json:"targets"`
	Backups    []struct {
		ID          string `json:"id"`
		CreatedAt   string `json:"created_at"`
		Size        int64  `json:"size"`
		PayloadSize int64  `json:"payload_size"`
		Checkpoint  *struct {
			Size uint64 `json:"size"`
		} `json:"checkpoint"`
		Targets []struct {
			Target string `json:"target"`
			Error  string `json:"error"`
		} `json:"targets"`
	} `json:"backups"`
	LastDrill     *secDrill `json:"last_drill"`
	LastGoodDrill *secDrill `json:"last_successful_drill"`
}

type secDrill struct {
	ID             string `json:"id"`
	At             string `json:"at"`
	OK             bool   `json:"ok"`
	Error          string `json:"error"`
	BackupID       string `json:"backup_id"`
	Target         string `json:"target"`
	RecoveryPoint  string `json:"recovery_point"`
	RecoveryTimeMS int64  `json:"recovery_time_ms"`
	Rows           int64  `json:"rows"`
	AuditRecords   int64  `json:"audit_records"`
}

// optional makes the call GET path into out, reporting whether the API
// had it: a 404 (no run yet, nothing configured) is "not yet", any other
// refusal is the page's error.
func (p *page) optional(path string, out any) (bool, error) {
	err := p.call(http.MethodGet, path, nil, out)
	var e *apiError
	if errors.As(err, &e) && e.Status == http.StatusNotFound {
		return false, nil
	}
	return err == nil, err
}

// consoleAssurance shows file integrity, the last data discovery run, and
// backups with their restore drills. (Key status has no API route: the
// command `bulwark keys status` shows it.)
func (p *page) consoleAssurance() error {
	var data assurancePage
	for path, into := range map[string]any{
		"/api/v1/admin/fim":       &data.FIM,
		"/api/v1/admin/discovery": &data.Discovery,
		"/api/v1/admin/backups":   &data.Backups,
	} {
		if _, err := p.optional(path, into); err != nil {
			return err
		}
	}
	return p.show("console-assurance.html", "Assurance", data)
}

// secRuleSet is a version of fraud scoring's rules.
type secRuleSet struct {
	Version string `json:"version"`
	Mode    string `json:"mode"`
	Rules   []struct {
		Name   string `json:"name"`
		Action string `json:"action"`
		Expr   string `json:"expr"`
	} `json:"rules"`
}

// consoleFraudRules shows the rule sets fraud scoring runs (GET
// /api/v1/admin/fraud/rules, admins): the enforced one, the one in shadow
// mode, and the models.
func (p *page) consoleFraudRules() error {
	var rules struct {
		Enforced    secRuleSet  `json:"enforced"`
		Shadow      *secRuleSet `json:"shadow"`
		Source      string      `json:"source"`
		Model       string      `json:"model"`
		ShadowModel string      `json:"shadow_model"`
	}
	if err := p.call(http.MethodGet, "/api/v1/admin/fraud/rules", nil, &rules); err != nil {
		return err
	}
	return p.show("console-fraud-rules.html", "Fraud rules", rules)
}
