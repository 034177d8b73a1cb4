// Package httpapi is Bulwark's HTTP layer: the /api/v1 routes of API.md, strict
// JSON decoding, problem+json errors, request ids, security headers, logging and
// metrics. It turns requests into service calls and errors into responses; it
// holds no business rules. Every route declares the permission it needs, and the
// route table is the single list that the OpenAPI document and the role matrix
// test are checked against.
package httpapi

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/addressbook"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/cart"
	"github.com/bulwark-shop/bulwark/internal/catalog"
	"github.com/bulwark-shop/bulwark/internal/checkout"
	"github.com/bulwark-shop/bulwark/internal/dependency"
	"github.com/bulwark-shop/bulwark/internal/detect"
	"github.com/bulwark-shop/bulwark/internal/edge"
	"github.com/bulwark-shop/bulwark/internal/guest"
	"github.com/bulwark-shop/bulwark/internal/identity"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/ordermail"
	"github.com/bulwark-shop/bulwark/internal/pages"
	"github.com/bulwark-shop/bulwark/internal/payment"
	"github.com/bulwark-shop/bulwark/internal/pricing"
	"github.com/bulwark-shop/bulwark/internal/privacy"
	"github.com/bulwark-shop/bulwark/internal/reqinfo"
	"github.com/bulwark-shop/bulwark/internal/response"
	"github.com/bulwark-shop/bulwark/internal/scoring"
	"github.com/bulwark-shop/bulwark/internal/threat"
	"github.com/bulwark-shop/bulwark/internal/waf"
	"github.com/bulwark-shop/bulwark/internal/webhook"
)

//go:embed openapi.json
var openAPIDocument []byte

// OpenAPIDocument returns the OpenAPI 3.1 document the server serves.
func OpenAPIDocument() []byte { return openAPIDocument }

// SessionCookie is the browser session cookie. The __Host- prefix makes browsers
// insist on Secure, Path=/ and no Domain, so no sibling host can set or read it.
// The pages pass it on with their calls (pages.SessionCookie is the one name).
const SessionCookie = pages.SessionCookie

// Deps are the services the API calls.
type Deps struct {
	Identity *identity.Service
	MFA      *identity.MFA
	Keys     *identity.Keys
	Resets   *identity.Resets
	Passkeys *identity.Passkeys
	// Emails is registration with a verified email and PATCH /me.
	Emails  *identity.Emails
	Privacy *privacy.Service
	// OIDC is nil when no identity provider is configured.
	OIDC         *identity.OIDC
	Catalog      *catalog.Service
	Carts        *cart.Service
	Methods      *payment.Methods
	Addresses    *addressbook.Service // the customers' address books
	Checkout     *checkout.Service
	Orders       *order.Service
	Log          *slog.Logger
	Metrics      *Metrics
	MaxBodyBytes int64
	// MaxInFlight caps the requests served at once (503 overloaded past it).
	MaxInFlight int
	// Passwords, when set, turns away a request that needs a password hash
	// while the hashing pool is full, before any other work (hashGate).
	Passwords HashPool
	// Delayed, when set, reports whether requests from an address key are
	// under a delay response (response.Checker.Delayed): its requests that
	// need a password hash take only the pool's spare capacity.
	Delayed func(addressKey string) bool
	// Health tracks the dependencies (database, disk, vault, Redis): outages
	// met by requests are reported to it, and /readyz reads it. Nil tracks none.
	Health *dependency.Tracker
	// Degraded names the dependencies the instance serves safely without
	// (Redis): /readyz lists them as down but stays ready.
	Degraded map[string]bool
	// LocalRateLimiter decides rate limits on this instance alone while
	// RateLimiter's shared store (Redis) cannot answer; nil lets requests through.
	LocalRateLimiter *edge.Limiter
	// Now is the clock (security.txt's Expires).
	Now func() time.Time
	// TLS says the API is served over TLS (HSTS).
	TLS bool
	// CORSOrigins are the exact origins allowed cross-origin calls; none denies CORS.
	CORSOrigins []string
	// SecurityContact and SecurityPolicy fill security.txt; no contact, no file.
	SecurityContact, SecurityPolicy string
	// Edge admits or refuses client addresses; nil admits every address.
	Edge *edge.Guard
	// Trap blocks clients that fetch the bot trap; nil turns the trap off.
	Trap *edge.Trap
	// Blocks lists and lifts the dynamic blocks; nil lists none.
	Blocks *edge.Blocklist
	// RateLimiter decides the rate limits of RateLimits; nil turns them off.
	RateLimiter *edge.Limiter
	RateLimits  edge.Limits
	// TrustedProxies are the peers whose X-Forwarded-For names the client.
	TrustedProxies []netip.Prefix
	// WAF is the web application firewall; nil when the waf setting is off.
	WAF *waf.WAF
	// WAFAudit samples the audit records of the firewall's blocks, and
	// RefusedAudit those of requests refused for want of credentials or
	// permission; nil records none.
	WAFAudit, RefusedAudit *SampledAudit
	// Pricing is the staff administration of tax rates, shipping options and
	// discounts, and the public shipping list.
	Pricing *pricing.Service
	// Webhooks is the staff administration of webhook endpoints.
	Webhooks *webhook.Service
	// Guests is guest checkout; nil or off answers its routes 404.
	Guests *guest.Service
	// StripeEvents verifies, and ProcessorEvents records, the events Stripe
	// posts; nil (the default) when payment-gateway is not stripe or no
	// stripe-webhook-secret is set: the route then answers 404.
	StripeEvents    EventVerifier
	ProcessorEvents *order.ProcessorEvents
	// MailTemplates is the staff administration of the order mail templates.
	MailTemplates *ordermail.Service
	// Signals takes what the edge sees for threat detection (404s of
	// unknown paths, WAF refusals); nil reports nothing.
	Signals Signals
	// Findings is the staff administration of threat findings.
	Findings *threat.Service
	// ResponseBlocks lists and lifts the blocks responses to findings
	// raised; nil lists none.
	ResponseBlocks *response.Admin
	// Fraud reads and replaces fraud scoring's rules and backtests them
	// (nil: the routes answer 404).
	Fraud *scoring.Admin
	// AuditLog serves the audit log, its checkpoints and proofs (nil: the
	// routes answer 404).
	AuditLog *audit.Reader
	// Posture serves the posture checks' runs (nil: the routes answer 404).
	Posture Posture
	// SelfScan, when set, reports the posture self-scan's own requests,
	// which are not reported to threat detection.
	SelfScan func(*http.Request) bool
	// Discovery serves sensitive-data discovery's last run (nil: 404).
	Discovery Discovery
	// FIM serves file integrity's state (nil: 404).
	FIM FIM
	// Backups lists the backups and the drills (nil: not served).
	Backups Backups
	// KeyStatus reports the key hierarchy's state (nil: not served).
	KeyStatus KeyStatus
	// Staff lists the staff accounts (nil: not served).
	Staff Staff
	// Pages are the storefront and the console (nil: the JSON API alone).
	// They call the API's routes in process, as the visitor.
	Pages *pages.Site
}

// Signals takes security signals (threat.Intake): it neither fails nor
// waits, so no answer depends on it.
type Signals interface {
	Report(ctx context.Context, s detect.Signal)
}

// signal reports a signal about the request's client (its address key: an
// IPv6 /64), when anything takes signals.
func (a *API) signal(r *http.Request, kind detect.Kind, detail map[string]string) {
	if a.Signals == nil || (a.SelfScan != nil && a.SelfScan(r)) {
		return
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		// The browser says another site's page sent this (an <img>, a
		// form): a third party can make any visitor's browser ask for a
		// missing path or a WAF-bait query. It is still counted — a
		// scanner could send the header to go unseen — but marked, so
		// that staff, and the responses to come, never take it for the
		// visitor's own doing.
		marked := map[string]string{"site": "cross-site"}
		for k, v := range detail {
			marked[k] = v
		}
		detail = marked
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	a.Signals.Report(r.Context(), detect.Signal{Kind: kind, At: now().UTC(), IP: reqinfo.AddressKey(reqinfo.From(r.Context()).IP), Detail: detail})
}

// refused reports a request authorization refused (401 or 403) as a
// signal: many from one client is probing for what it may not do (AppSensor
// ACE1-3).
func (a *API) refused(r *http.Request, pattern string, err error) {
	var e *apperr.Error
	if !errors.As(err, &e) {
		return
	}
	switch e.Kind() {
	case apperr.KindUnauthenticated, apperr.KindForbidden:
		status := strconv.Itoa(statusOf(e.Kind()))
		a.signal(r, detect.AccessRefused, map[string]string{"status": status, "code": e.Code, "route": pattern})
		// PCI DSS 10.2.1.2 and 10.2.1.4: refused access is in the audit log,
		// sampled (SampledAudit) so that a flood of refusals cannot fill it.
		ip := reqinfo.From(r.Context()).IP
		if _, err := a.RefusedAudit.record(r.Context(), ActionRefused, ip, audit.Failure, "status="+status+" code="+e.Code+" route="+pattern); err != nil {
			a.Log.WarnContext(r.Context(), "audit: recording a refused request failed", "err", err)
		}
	}
}

// ActionRefused is the audit action of a request refused for want of
// credentials (401) or permission (403); the target is the client address.
const ActionRefused = "http.refused"

// API is the HTTP handler of the public listener.
type API struct {
	Deps
	cop *http.CrossOriginProtection
	// pages serves the page routes (nil without Deps.Pages).
	pages http.Handler
}

// Route is one entry of the route table: "METHOD /path", its permission and
// its body limit.
type Route struct {
	Pattern    string
	Permission access.Permission
	// MaxBody is the largest body the route takes, in bytes (never more than
	// the max-body-bytes setting): 0 for the default of its method and class
	// (bodyLimitOf).
	MaxBody int64
	// Unlisted routes are left out of the OpenAPI document on purpose.
	Unlisted bool
	// Guest routes act on the cart {id}, and take a guest's Cart-Token
	// header for it instead of an account's credentials.
	Guest bool
}

type route struct {
	Route
	handle func(http.ResponseWriter, *http.Request) error
	// signed, on a public route, proves the sender by the body's signature
	// (r.Body holds the whole body); admit asks it before the firewall reads
	// a body larger than a stranger's.
	signed func(*API, *http.Request) error
}

// routes is the route table. A route cannot be added without a permission.
func (a *API) routes() []route {
	r := func(pattern string, perm access.Permission, h func(http.ResponseWriter, *http.Request) error) route {
		return route{Route: Route{Pattern: pattern, Permission: perm}, handle: h}
	}
	// unlisted is a route the OpenAPI document leaves out by design: the
	// bot trap, which a client walking the document must never call.
	unlisted := func(rt route) route { rt.Unlisted = true; return rt }
	// sized gives a route a body limit of its own (see bodyLimitOf for the default).
	sized := func(n int64, rt route) route { rt.MaxBody = n; return rt }
	// guest is a route a guest reaches with its cart's token (Cart-Token).
	guestToo := func(rt route) route { rt.Guest = true; return rt }
	signedBy := func(f func(*API, *http.Request) error, rt route) route { rt.signed = f; return rt }
	return []route{
		r("GET /{$}", access.Public, a.root),
		r("GET /healthz", access.Public, a.healthz),
		r("GET /readyz", access.Public, a.readyz),
		r("GET /api/v1/openapi.json", access.Public, a.openapi),
		r("GET /.well-known/security.txt", access.Public, a.securityTxt),
		r("GET /robots.txt", access.Public, a.robotsTxt),
		unlisted(r("GET "+edge.TrapPath, access.Public, a.botTrap)),

		r("POST /api/v1/auth/register", access.Public, a.register),
		r("POST /api/v1/auth/verify-email", access.Public, a.verifyEmail),
		r("POST /api/v1/auth/login", access.Public, a.login),
		r("POST /api/v1/auth/logout", access.Authenticated, a.logout),
		r("GET /api/v1/auth/oidc/begin", access.Public, a.beginOIDC),
		r("GET /api/v1/auth/oidc/callback", access.Public, a.finishOIDC),
		r("POST /api/v1/auth/mfa", access.Public, a.completeMFA),
		r("POST /api/v1/auth/mfa/passkey/begin", access.Public, a.beginMFAPasskey),
		r("POST /api/v1/auth/passkey/begin", access.Public, a.beginPasskeyLogin),
		r("POST /api/v1/auth/passkey/finish", access.Public, a.finishPasskeyLogin),
		r("POST /api/v1/auth/password-reset", access.Public, a.requestReset),
		r("POST /api/v1/auth/password-reset/confirm", access.Public, a.confirmReset),
		r("GET /api/v1/me", access.Authenticated, a.me),
		r("PATCH /api/v1/me", access.Authenticated, a.updateMe),
		r("DELETE /api/v1/me", access.Authenticated, a.eraseMine),
		r("PUT /api/v1/me/password", access.Authenticated, a.changePassword),
		r("GET /api/v1/me/export", access.Authenticated, a.exportMine),
		r("GET /api/v1/me/sessions", access.Authenticated, a.listSessions),
		r("DELETE /api/v1/me/sessions/{id}", access.Authenticated, a.revokeSession),
		r("POST /api/v1/me/passkeys/begin", access.Authenticated, a.beginPasskeyRegistration),
		r("POST /api/v1/me/passkeys/finish", access.Authenticated, a.finishPasskeyRegistration),
		r("GET /api/v1/me/passkeys", access.Authenticated, a.listPasskeys),
		r("DELETE /api/v1/me/passkeys/{id}", access.Authenticated, a.removePasskey),
		r("POST /api/v1/me/mfa/recovery-codes", access.Authenticated, a.regenerateRecoveryCodes),
		r("POST /api/v1/me/mfa/totp", access.Authenticated, a.enrollTOTP),
		r("POST /api/v1/me/mfa/totp/confirm", access.Authenticated, a.confirmTOTP),
		r("DELETE /api/v1/me/mfa/totp", access.Authenticated, a.disableTOTP),
		r("GET /api/v1/me/addresses", access.Authenticated, a.listAddresses),
		r("POST /api/v1/me/addresses", access.Authenticated, a.createAddress),
		r("DELETE /api/v1/me/addresses/{id}", access.Authenticated, a.deleteAddress),

		r("GET /api/v1/products", access.Public, a.listProducts),
		r("GET /api/v1/products/{id}", access.Public, a.getProduct),
		sized(bodyLimitCatalog, r("POST /api/v1/admin/products", access.CatalogWrite, a.createProduct)),
		sized(bodyLimitCatalog, r("PATCH /api/v1/admin/products/{id}", access.CatalogWrite, a.updateProduct)),
		r("POST /api/v1/admin/products/{id}/stock", access.CatalogWrite, a.adjustStock),
		r("GET /api/v1/admin/products", access.CatalogWrite, a.adminListProducts),
		r("GET /api/v1/admin/products/{id}", access.CatalogWrite, a.adminGetProduct),
		r("POST /api/v1/admin/products/{id}/variants", access.CatalogWrite, a.addVariant),
		r("PATCH /api/v1/admin/variants/{id}", access.CatalogWrite, a.updateVariant),
		r("POST /api/v1/admin/variants/{id}/stock", access.CatalogWrite, a.adjustStock),
		r("GET /api/v1/categories", access.Public, a.listCategories),
		r("GET /api/v1/admin/categories", access.CatalogWrite, a.adminListCategories),
		r("POST /api/v1/admin/categories", access.CatalogWrite, a.createCategory),
		r("PATCH /api/v1/admin/categories/{id}", access.CatalogWrite, a.updateCategory),
		r("DELETE /api/v1/admin/categories/{id}", access.CatalogWrite, a.deleteCategory),

		r("GET /api/v1/shipping-options", access.Public, a.shippingOptionsFor),
		r("GET /api/v1/admin/tax-rates", access.PricingManage, a.listTaxRates),
		r("POST /api/v1/admin/tax-rates", access.PricingManage, a.createTaxRate),
		r("PATCH /api/v1/admin/tax-rates/{id}", access.PricingManage, a.updateTaxRate),
		r("DELETE /api/v1/admin/tax-rates/{id}", access.PricingManage, a.deleteTaxRate),
		r("GET /api/v1/admin/shipping-options", access.PricingManage, a.listShippingOptions),
		sized(bodyLimitCatalog, r("POST /api/v1/admin/shipping-options", access.PricingManage, a.createShippingOption)),
		sized(bodyLimitCatalog, r("PATCH /api/v1/admin/shipping-options/{id}", access.PricingManage, a.updateShippingOption)),
		r("DELETE /api/v1/admin/shipping-options/{id}", access.PricingManage, a.deleteShippingOption),
		r("GET /api/v1/admin/discounts", access.PricingManage, a.listDiscounts),
		sized(bodyLimitCatalog, r("POST /api/v1/admin/discounts", access.PricingManage, a.createDiscount)),
		sized(bodyLimitCatalog, r("PATCH /api/v1/admin/discounts/{id}", access.PricingManage, a.updateDiscount)),
		r("DELETE /api/v1/admin/discounts/{id}", access.PricingManage, a.deleteDiscount),

		r("GET /api/v1/admin/staff", access.RolesManage, a.listStaff),
		r("POST /api/v1/admin/users/{id}/roles", access.RolesManage, a.setRoles),
		r("DELETE /api/v1/admin/users/{id}", access.UsersErase, a.eraseUser),
		r("POST /api/v1/admin/api-keys", access.KeysManage, a.createKey),
		r("GET /api/v1/admin/api-keys", access.KeysManage, a.listKeys),
		r("DELETE /api/v1/admin/api-keys/{id}", access.KeysManage, a.revokeKey),
		r("GET /api/v1/admin/blocks", access.BlocksManage, a.listBlocks),
		r("DELETE /api/v1/admin/blocks/{id}", access.BlocksManage, a.liftBlock),
		r("POST /api/v1/admin/blocks/{id}/lift", access.BlocksManage, a.liftBlockStepUp),
		r("POST /api/v1/admin/webhooks", access.WebhooksManage, a.createWebhook),
		r("GET /api/v1/admin/webhooks", access.WebhooksManage, a.listWebhooks),
		r("DELETE /api/v1/admin/webhooks/{id}", access.WebhooksManage, a.deleteWebhook),
		r("POST /api/v1/admin/webhooks/{id}/rotate-secret", access.WebhooksManage, a.rotateWebhookSecret),
		r("GET /api/v1/admin/webhooks/{id}/deliveries", access.WebhooksManage, a.listWebhookDeliveries),
		r("POST /api/v1/admin/webhook-deliveries/{id}/retry", access.WebhooksManage, a.retryWebhookDelivery),
		r("GET /api/v1/admin/audit", access.AuditRead, a.listAudit),
		r("GET /api/v1/admin/audit/checkpoint", access.AuditRead, a.auditCheckpoint),
		r("GET /api/v1/admin/audit/records/{seq}/proof", access.AuditRead, a.auditProof),
		r("GET /api/v1/admin/audit/consistency", access.AuditRead, a.auditConsistency),
		r("GET /api/v1/admin/posture", access.AssuranceRead, a.getPosture),
		r("GET /api/v1/admin/posture/history", access.AssuranceRead, a.postureHistory),
		r("GET /api/v1/admin/discovery", access.AssuranceRead, a.getDiscovery),
		r("GET /api/v1/admin/fim", access.AssuranceRead, a.getFIM),
		r("GET /api/v1/admin/backups", access.AssuranceRead, a.getBackups),
		r("GET /api/v1/admin/keys", access.AssuranceRead, a.getKeyStatus),
		r("GET /api/v1/admin/findings", access.FindingsRead, a.listFindings),
		r("GET /api/v1/admin/findings/{id}", access.FindingsRead, a.getFinding),
		r("POST /api/v1/admin/findings/{id}/resolve", access.FindingsManage, a.resolveFinding),
		r("POST /api/v1/admin/findings/{id}/suppress", access.FindingsManage, a.suppressFinding),
		r("GET /api/v1/admin/mail-templates", access.MailManage, a.listMailTemplates),
		sized(bodyLimitCatalog, r("PUT /api/v1/admin/mail-templates/{name}", access.MailManage, a.putMailTemplate)),
		r("DELETE /api/v1/admin/mail-templates/{name}", access.MailManage, a.resetMailTemplate),

		r("POST /api/v1/carts", access.Authenticated, a.createCart),
		guestToo(r("GET /api/v1/carts/{id}", access.Authenticated, a.getCart)),
		guestToo(r("PUT /api/v1/carts/{id}/items/{item_id}", access.Authenticated, a.setCartItem)),
		guestToo(r("PUT /api/v1/carts/{id}/discount", access.Authenticated, a.setCartDiscount)),
		guestToo(r("DELETE /api/v1/carts/{id}/discount", access.Authenticated, a.removeCartDiscount)),
		guestToo(r("PUT /api/v1/carts/{id}/shipping", access.Authenticated, a.setCartShipping)),
		r("POST /api/v1/guest/carts", access.Public, a.createGuestCart),
		guestToo(r("POST /api/v1/guest/carts/{id}/checkout", access.Public, a.guestCheckout)),
		r("GET /api/v1/guest/orders/{id}", access.Public, a.guestOrder),

		r("POST /api/v1/payment-methods", access.Authenticated, a.createMethod),
		r("GET /api/v1/payment-methods", access.Authenticated, a.listMethods),
		r("DELETE /api/v1/payment-methods/{id}", access.Authenticated, a.deleteMethod),

		r("POST /api/v1/checkout", access.Authenticated, a.checkout),
		r("GET /api/v1/orders", access.Authenticated, a.myOrders),
		r("GET /api/v1/orders/{id}", access.Authenticated, a.myOrder),
		r("GET /api/v1/admin/orders", access.OrdersRead, a.allOrders),
		r("POST /api/v1/admin/orders/{id}/refund", access.Refund, a.refund),
		r("GET /api/v1/admin/orders/{id}", access.OrdersRead, a.staffOrder),
		r("POST /api/v1/admin/orders/{id}/capture", access.Refund, a.captureOrder),
		r("POST /api/v1/admin/orders/{id}/void", access.Refund, a.voidOrder),
		r("POST /api/v1/admin/orders/{id}/cancel", access.Refund, a.cancelOrder),
		r("POST /api/v1/admin/orders/{id}/fulfillments", access.Fulfil, a.fulfilOrder),
		r("POST /api/v1/admin/orders/{id}/label", access.FraudReview, a.labelOrder),
		r("GET /api/v1/admin/reviews", access.FraudReview, a.listReviews),
		r("POST /api/v1/admin/reviews/{id}/approve", access.FraudReview, a.approveReview),
		r("POST /api/v1/admin/reviews/{id}/reject", access.FraudReview, a.rejectReview),
		r("GET /api/v1/admin/fraud/rules", access.FraudRules, a.fraudRules),
		r("PUT /api/v1/admin/fraud/rules", access.FraudRules, a.putFraudRules),
		r("POST /api/v1/admin/fraud/backtest", access.FraudRules, a.fraudBacktest),
		r("POST /api/v1/orders/{id}/returns", access.Authenticated, a.requestReturn),
		r("POST /api/v1/admin/returns/{id}/accept", access.Refund, a.acceptReturn),
		r("POST /api/v1/admin/returns/{id}/reject", access.Refund, a.rejectReturn),
		r("POST /api/v1/admin/returns/{id}/receive", access.Refund, a.receiveReturn),

		signedBy((*API).verifyStripeBody, sized(bodyLimitProcessorEvent, r("POST /api/v1/payment-events/stripe", access.Public, a.stripeEvent))),
	}
}

// Routes lists the route table.
func Routes() []Route {
	var a *API // only the method values are taken; none is called
	var out []Route
	for _, rt := range a.routes() {
		out = append(out, rt.Route)
	}
	return out
}

// New returns the handler of the public listener.
func New(d Deps) http.Handler {
	a := &API{Deps: d, cop: http.NewCrossOriginProtection()}
	for _, o := range d.CORSOrigins {
		// Validated by config as exact origins; a browser on one may write with the cookie.
		if err := a.cop.AddTrustedOrigin(o); err != nil {
			panic(fmt.Sprintf("httpapi: CORS origin %q: %v", o, err))
		}
	}
	mux := http.NewServeMux()
	for _, rt := range a.routes() {
		mux.Handle(rt.Pattern, a.guard(rt))
	}
	if d.Pages != nil {
		// The pages call the API's router (mux) past the edge: their own
		// request has been through it. GET / is the API's root, which hands
		// a browser over to the storefront (root).
		a.pages = d.Pages.Handler(mux)
		for _, p := range pages.Routes() {
			if p.Pattern != "GET /{$}" {
				mux.Handle(p.Pattern, a.pages)
			}
		}
	}
	return withHealth(d.Health, observe(refuseAmbiguousFraming(shed(a.ipGuard(probesFirst(mux, a.hashGate(a.admit(a.firewall(cors(a.routeMux(mux), d.CORSOrigins)), mux)))), d.MaxInFlight, d.Metrics)), d.Log, d.Metrics, d.TLS, d.TrustedProxies))
}

// probesFirst answers a load balancer's probes — GET or HEAD /healthz and
// /readyz, with no query and no body — ahead of the firewall (the address
// lists still apply). They read nothing from the request; and a balancer
// whose checks a rule refused (a plain HTTP/1.0 check has no Host: CRS
// 920280) would take every instance out of service, its refused checks
// counted as probing from its address.
func probesFirst(mux, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && r.URL.RawQuery == "" && r.ContentLength <= 0 &&
			len(r.TransferEncoding) == 0 && (r.URL.Path == "/healthz" || r.URL.Path == "/readyz") {
			mux.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// guard (after admit has applied the route class's rate limit to the client
// address) authenticates the caller of a non-public route, refuses one without the
// route's permission (deny by default), refuses cross-origin browser writes,
// applies the per-account rate limit, and turns the handler's error into
// problem+json.
func (a *API) guard(rt route) http.Handler {
	class := edge.ClassOf(rt.Pattern)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var err error
		if rt.Guest && r.Header.Get(CartTokenHeader) != "" {
			r, err = a.authorizeGuest(r)
		} else {
			r, err = a.authorize(w, r, rt.Permission)
		}
		if err != nil {
			a.refused(r, rt.Pattern, err)
			writeError(w, r, a.Log, err)
			return
		}
		if err := a.limitAccount(w, r, class); err != nil {
			writeError(w, r, a.Log, err)
			return
		}
		if err := rt.handle(w, r); err != nil {
			writeError(w, r, a.Log, err)
		}
	})
}

// authorize returns r with the caller's principal in its context.
func (a *API) authorize(w http.ResponseWriter, r *http.Request, perm access.Permission) (*http.Request, error) {
	// Bearer tokens cannot be sent by a forged cross-site form; cookies can. Every
	// unsafe request without an Authorization header must come from our own origin
	// (Sec-Fetch-Site / Origin), which also stops login CSRF.
	if r.Header.Get("Authorization") == "" {
		if err := a.cop.Check(r); err != nil {
			return r, apperr.New(apperr.CodeCrossOrigin, "cross-origin requests that change data are refused")
		}
		// The session cookie (SameSite=Lax) rides along on a top-level
		// navigation from any site, reads included: a third-party page
		// could make a staff member's browser run staff reads, some of them
		// costly (hashing the monitored files) and each one audited. Staff
		// routes answer no navigation that a browser says came from another
		// site; storefront reads (a customer's link from a mail) still do.
		if perm != access.Public && perm != access.Authenticated && r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			return r, apperr.New(apperr.CodeCrossOrigin, "staff routes refuse requests a browser sent from another site")
		}
	}
	if perm == access.Public {
		return r, nil
	}
	token, ok := credentials(r)
	if !ok {
		return r, apperr.New(apperr.CodeUnauthenticated, "authentication required")
	}
	authenticate := a.Identity.Authenticate
	if strings.HasPrefix(token, identity.KeyPrefix) {
		authenticate = a.Keys.Authenticate
	}
	p, err := authenticate(r.Context(), token)
	if err != nil {
		if apperr.Code(err) == apperr.CodeUnauthenticated {
			clearSessionCookie(w)
		}
		return r, err
	}
	r = r.WithContext(access.WithPrincipal(r.Context(), p))
	if _, err := access.Require(r.Context(), perm); err != nil {
		return r, err
	}
	return r, nil
}

// credentials returns the bearer token, or else the session cookie's.
func credentials(r *http.Request) (string, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		return token, ok && strings.EqualFold(scheme, "Bearer") && token != ""
	}
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		return c.Value, true
	}
	return "", false
}

// rootAnswer is what GET / says: where a newcomer who opens the server's
// address finds the API's description (issue 11: it answered a bare 404).
type rootAnswer struct {
	Service string `json:"service"`
	API     string `json:"api"`
	OpenAPI string `json:"openapi"`
	Health  string `json:"health"`
	Docs    string `json:"docs"`
}

func (a *API) root(w http.ResponseWriter, r *http.Request) error {
	if a.pages != nil && acceptsHTML(r) {
		a.pages.ServeHTTP(w, r)
		return nil
	}
	writeJSON(w, http.StatusOK, rootAnswer{
		Service: "Bulwark, a headless e-commerce API",
		API:     "/api/v1/",
		OpenAPI: "/api/v1/openapi.json",
		Health:  "/healthz",
		Docs:    "the OpenAPI document describes every route; README.md and docs/API.md in the source explain how to use them",
	})
	return nil
}

// acceptsHTML says whether the client asks for a page (a browser's
// Accept: text/html, ...) rather than the API's JSON (curl's */*).
func acceptsHTML(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		media, _, _ := strings.Cut(part, ";")
		if strings.TrimSpace(media) == "text/html" {
			return true
		}
	}
	return false
}

func (a *API) healthz(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// readyz tells a load balancer whether this instance can take orders: every
// dependency it cannot serve without (database, disk, card vault) answers its
// probe. A dependency the instance serves safely without (Redis: see
// docs/OPERATIONS.md, "Without Redis") is listed as down but keeps the
// instance in the pool, or a Redis outage would empty the pool at once. The
// body names each dependency's state, never an error text (that is in the log).
// A stopping instance answers 503 draining at once, without probing: it is
// leaving the pool whatever its dependencies say (docs/OPERATIONS.md,
// "Several instances").
func (a *API) readyz(w http.ResponseWriter, r *http.Request) error {
	if a.Health != nil && a.Health.Draining() {
		w.Header().Set("Retry-After", strconv.Itoa(int(apperr.UnavailableRetry.Seconds())))
		writeJSON(w, http.StatusServiceUnavailable, readiness{Status: "draining", Code: apperr.CodeNotReady, Dependencies: map[string]string{}})
		return nil
	}
	states := map[string]string{}
	ready := true
	if a.Health != nil {
		for name, err := range a.Health.Check(r.Context()) {
			switch {
			case err == nil:
				states[name] = "up"
			case a.Degraded[name]:
				states[name] = "down"
			default:
				states[name] = "down"
				ready = false
			}
		}
	}
	if !ready {
		w.Header().Set("Retry-After", strconv.Itoa(int(apperr.UnavailableRetry.Seconds())))
		writeJSON(w, http.StatusServiceUnavailable, readiness{Status: "not_ready", Code: apperr.CodeNotReady, Dependencies: states})
		return nil
	}
	writeJSON(w, http.StatusOK, readiness{Status: "ready", Dependencies: states})
	return nil
}

// readiness is /readyz's answer.
type readiness struct {
	Status string `json:"status"`
	// Code is not_ready on a 503, as in a problem document.
	Code         string            `json:"code,omitempty"`
	Dependencies map[string]string `json:"dependencies"`
}

func (a *API) openapi(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openAPIDocument)
	return nil
}
