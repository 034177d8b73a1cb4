package pages

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
)

// adminRoutes are the administration pages: staff roles and erasure, API
// keys, webhooks and the order mail templates. Secrets (a key, a webhook's
// signing secret, an enrolment code) are shown once, on the page that
// answers the form that made them, and never stored by a cache.
func adminRoutes() []pageRoute {
	return []pageRoute{
		get("/console/users", (*page).consoleUsers),
		post("/console/users/roles", (*page).consoleSetRoles),
		post("/console/users/erase", (*page).consoleEraseUser),
		get("/console/keys", (*page).consoleKeys),
		post("/console/keys", (*page).consoleCreateKey),
		post("/console/keys/{id}/revoke", (*page).consoleRevokeKey),
		get("/console/webhooks", (*page).consoleWebhooks),
		post("/console/webhooks", (*page).consoleCreateWebhook),
		post("/console/webhooks/{id}/delete", (*page).consoleDeleteWebhook),
		post("/console/webhooks/{id}/rotate", (*page).consoleRotateWebhook),
		get("/console/webhooks/{id}/deliveries", (*page).consoleDeliveries),
		post("/console/webhooks/{id}/deliveries/{did}/retry", (*page).consoleRetryDelivery),
		get("/console/mail", (*page).consoleMail),
		get("/console/mail/{name}", (*page).consoleMailTemplate),
		bigForm("/console/mail/{name}", (*page).consolePutMailTemplate),
		post("/console/mail/{name}/reset", (*page).consoleResetMailTemplate),
	}
}

// usersPage is the users page's data: the roles to choose from, and the
// answer of a role change (with the enrolment code, shown once).
type usersPage struct {
	Roles []string
	// Staff are the accounts holding a staff role (GET /api/v1/admin/staff).
	Staff   []staffAccount
	Changed *struct {
		ID             string   `json:"id"`
		Email          string   `json:"email"`
		Roles          []string `json:"roles"`
		EnrollmentCode string   `json:"enrollment_code"`
	}
}

func newUsersPage() usersPage {
	var roles []string
	for _, r := range access.Roles() {
		if r != access.Customer {
			roles = append(roles, string(r))
		}
	}
	return usersPage{Roles: roles}
}

func (p *page) drawUsers() (string, string, any, error) {
	data := newUsersPage()
	if err := p.staffInto(&data); err != nil {
		return "", "", nil, err
	}
	return "console-users.html", "Users and roles", data, nil
}

// staffAccount is an account holding a staff role.
type staffAccount struct {
	ID           string   `json:"id"`
	Roles        []string `json:"roles"`
	MFA          bool     `json:"mfa"`
	LastActiveAt string   `json:"last_active_at"`
}

// staffInto reads the staff accounts into data.
func (p *page) staffInto(data *usersPage) error {
	var staff list[staffAccount]
	if err := p.call(http.MethodGet, "/api/v1/admin/staff", nil, &staff); err != nil {
		return err
	}
	data.Staff = staff.Items
	return nil
}

// consoleUsers draws the staff accounts and the role and erasure forms
// (which take an account's id: customers are not listed).
func (p *page) consoleUsers() error {
	if _, err := p.staffMember(); err != nil {
		return err
	}
	return p.draw(p.drawUsers)
}

func (p *page) consoleSetRoles() error {
	data := newUsersPage()
	roles := nonNil(p.r.PostForm["role"])
	data.Changed = &struct {
		ID             string   `json:"id"`
		Email          string   `json:"email"`
		Roles          []string `json:"roles"`
		EnrollmentCode string   `json:"enrollment_code"`
	}{}
	id := strings.TrimSpace(p.r.PostFormValue("user"))
	err := p.call(http.MethodPost, "/api/v1/admin/users/"+esc(id)+"/roles", map[string]any{"roles": roles}, data.Changed)
	if err != nil {
		return p.refused(err, "/console/users", p.drawUsers)
	}
	if err := p.staffInto(&data); err != nil {
		return err
	}
	return p.showSecret("console-users.html", "Users and roles", data)
}

func (p *page) consoleEraseUser() error {
	id := strings.TrimSpace(p.r.PostFormValue("user"))
	if p.r.PostFormValue("confirm") != id || id == "" {
		return p.refused(formError("confirm", "type the account's id again to confirm"), "/console/users", p.drawUsers)
	}
	if err := p.call(http.MethodDelete, "/api/v1/admin/users/"+esc(id), nil, nil); err != nil {
		return p.refused(err, "/console/users", p.drawUsers)
	}
	return p.redirect("/console/users", "user-erased")
}

// keysPage is the API keys page's data; Secret is a key just made.
type keysPage struct {
	Keys        []apiKey
	Permissions []string
	Secret      string
	Expires     string // the form's default expiry date
}

type apiKey struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Permissions []string `json:"permissions"`
	CreatedAt   string   `json:"created_at"`
	ExpiresAt   string   `json:"expires_at"`
	LastUsedAt  string   `json:"last_used_at"`
	RevokedAt   string   `json:"revoked_at"`
	Key         string   `json:"key"`
}

func (p *page) drawKeys() (string, string, any, error) {
	var out list[apiKey]
	if err := p.call(http.MethodGet, "/api/v1/admin/api-keys", nil, &out); err != nil {
		return "", "", nil, err
	}
	data := keysPage{Keys: out.Items, Expires: p.s.opts.Now().UTC().AddDate(0, 3, 0).Format(time.DateOnly)}
	for _, perm := range access.KeyGrantable() {
		data.Permissions = append(data.Permissions, string(perm))
	}
	return "console-keys.html", "API keys", data, nil
}

func (p *page) consoleKeys() error { return p.draw(p.drawKeys) }

func (p *page) consoleCreateKey() error {
	expires, err := time.Parse(time.DateOnly, p.r.PostFormValue("expires"))
	if err != nil {
		return p.refused(formError("expires", "a date such as 2027-01-31"), "/console/keys", p.drawKeys)
	}
	var created apiKey
	err = p.call(http.MethodPost, "/api/v1/admin/api-keys", map[string]any{"name": p.r.PostFormValue("name"),
		"permissions": nonNil(p.r.PostForm["permission"]), "expires_at": expires.Add(24*time.Hour - time.Second)}, &created)
	if err != nil {
		return p.refused(err, "/console/keys", p.drawKeys)
	}
	tmpl, title, data, err := p.drawKeys()
	if err != nil {
		return err
	}
	d := data.(keysPage)
	d.Secret = created.Key
	return p.showSecret(tmpl, title, d)
}

func (p *page) consoleRevokeKey() error {
	if err := p.call(http.MethodDelete, "/api/v1/admin/api-keys/"+esc(p.r.PathValue("id")), nil, nil); err != nil {
		return p.refused(err, "/console/keys", p.drawKeys)
	}
	return p.redirect("/console/keys", "key-revoked")
}

// webhookEvents are the event types an endpoint may subscribe to
// (docs/API.md, "Webhooks").
var webhookEvents = []string{"order.created", "order.authorized", "order.paid", "order.fulfilled", "order.cancelled",
	"refund.created", "return.requested", "product.updated", "finding.raised", "audit.checkpoint"}

// webhooksPage is the webhooks page's data; Secret is a secret just made
// (for SecretOf), Until when a rotated one's predecessor stops signing.
type webhooksPage struct {
	Webhooks []webhookEndpoint
	Events   []string
	Secret   string
	SecretOf string
	Until    string
}

type webhookEndpoint struct {
	ID        string   `json:"id"`
	URL       string   `json:"url"`
	Events    []string `json:"events"`
	CreatedAt string   `json:"created_at"`
	Secret    string   `json:"secret"`
}

func (p *page) drawWebhooks() (string, string, any, error) {
	var out list[webhookEndpoint]
	if err := p.call(http.MethodGet, "/api/v1/admin/webhooks", nil, &out); err != nil {
		return "", "", nil, err
	}
	return "console-webhooks.html", "Webhooks", webhooksPage{Webhooks: out.Items, Events: webhookEvents}, nil
}

func (p *page) consoleWebhooks() error { return p.draw(p.drawWebhooks) }

// showWebhookSecret draws the webhooks page with a secret just made.
func (p *page) showWebhookSecret(of, secret, until string) error {
	tmpl, title, data, err := p.drawWebhooks()
	if err != nil {
		return err
	}
	d := data.(webhooksPage)
	d.Secret, d.SecretOf, d.Until = secret, of, until
	return p.showSecret(tmpl, title, d)
}

func (p *page) consoleCreateWebhook() error {
	var created webhookEndpoint
	err := p.call(http.MethodPost, "/api/v1/admin/webhooks", map[string]any{"url": strings.TrimSpace(p.r.PostFormValue("url")),
		"events": nonNil(p.r.PostForm["event"])}, &created)
	if err != nil {
		return p.refused(err, "/console/webhooks", p.drawWebhooks)
	}
	return p.showWebhookSecret(created.ID, created.Secret, "")
}

func (p *page) consoleDeleteWebhook() error {
	if err := p.call(http.MethodDelete, "/api/v1/admin/webhooks/"+esc(p.r.PathValue("id")), nil, nil); err != nil {
		return p.refused(err, "/console/webhooks", p.drawWebhooks)
	}
	return p.redirect("/console/webhooks", "deleted")
}

func (p *page) consoleRotateWebhook() error {
	var out struct {
		Secret string `json:"secret"`
		Until  string `json:"previous_signs_until"`
	}
	if err := p.call(http.MethodPost, "/api/v1/admin/webhooks/"+esc(p.r.PathValue("id"))+"/rotate-secret", nil, &out); err != nil {
		return p.refused(err, "/console/webhooks", p.drawWebhooks)
	}
	return p.showWebhookSecret(p.r.PathValue("id"), out.Secret, out.Until)
}

// delivery is one event's delivery to an endpoint.
type delivery struct {
	ID            string `json:"id"`
	EventID       string `json:"event_id"`
	EventType     string `json:"event_type"`
	Status        string `json:"status"`
	Attempts      int    `json:"attempts"`
	NextAttemptAt string `json:"next_attempt_at"`
	LastStatus    int    `json:"last_status_code"`
	LastError     string `json:"last_error"`
	CreatedAt     string `json:"created_at"`
}

// deliveriesPage is one endpoint's deliveries.
type deliveriesPage struct {
	WebhookID  string
	Status     string
	Statuses   []string
	Deliveries []delivery
}

func (p *page) drawDeliveries() (string, string, any, error) {
	data := deliveriesPage{WebhookID: p.r.PathValue("id"), Status: p.r.URL.Query().Get("status"),
		Statuses: []string{"pending", "succeeded", "dead", "cancelled"}}
	qs := url.Values{"limit": {"100"}}
	if data.Status != "" {
		qs.Set("status", data.Status)
	}
	var out list[delivery]
	if err := p.call(http.MethodGet, "/api/v1/admin/webhooks/"+esc(data.WebhookID)+"/deliveries?"+qs.Encode(), nil, &out); err != nil {
		return "", "", nil, err
	}
	data.Deliveries = out.Items
	return "console-webhooks-deliveries.html", "Deliveries", data, nil
}

func (p *page) consoleDeliveries() error { return p.draw(p.drawDeliveries) }

func (p *page) consoleRetryDelivery() error {
	back := "/console/webhooks/" + url.PathEscape(p.r.PathValue("id")) + "/deliveries"
	if err := p.call(http.MethodPost, "/api/v1/admin/webhook-deliveries/"+esc(p.r.PathValue("did"))+"/retry", nil, nil); err != nil {
		return p.refused(err, back, p.drawDeliveries)
	}
	return p.redirect(back, "retried")
}

// mailTemplate is an order mail's template.
type mailTemplate struct {
	Name      string `json:"name"`
	Subject   string `json:"subject"`
	Body      string `json:"body"`
	Custom    bool   `json:"custom"`
	UpdatedAt string `json:"updated_at"`
}

// mailPage is the mail pages' data: the list, or the one being edited.
type mailPage struct {
	Templates []mailTemplate
	Edit      *mailTemplate
}

func (p *page) drawMail() (string, string, any, error) {
	var out list[mailTemplate]
	if err := p.call(http.MethodGet, "/api/v1/admin/mail-templates", nil, &out); err != nil {
		return "", "", nil, err
	}
	data := mailPage{Templates: out.Items}
	name := p.r.PathValue("name")
	if name == "" {
		return "console-mail.html", "Order mail", data, nil
	}
	for i := range out.Items {
		if out.Items[i].Name == name {
			data.Edit = &out.Items[i]
		}
	}
	if data.Edit == nil {
		return "", "", nil, errNotFound
	}
	return "console-mail-template.html", "Mail: " + name, data, nil
}

func (p *page) consoleMail() error         { return p.draw(p.drawMail) }
func (p *page) consoleMailTemplate() error { return p.draw(p.drawMail) }

func (p *page) consolePutMailTemplate() error {
	back := "/console/mail/" + url.PathEscape(p.r.PathValue("name"))
	err := p.call(http.MethodPut, "/api/v1/admin/mail-templates/"+esc(p.r.PathValue("name")), map[string]string{
		"subject": p.r.PostFormValue("subject"), "body": strings.ReplaceAll(p.r.PostFormValue("body"), "\r\n", "\n")}, nil)
	if err != nil {
		return p.refused(err, back, p.drawMail)
	}
	return p.redirect(back, "updated")
}

func (p *page) consoleResetMailTemplate() error {
	back := "/console/mail/" + url.PathEscape(p.r.PathValue("name"))
	if err := p.call(http.MethodDelete, "/api/v1/admin/mail-templates/"+esc(p.r.PathValue("name")), nil, nil); err != nil {
		return p.refused(err, back, p.drawMail)
	}
	return p.redirect(back, "mail-reset")
}
