// Package access owns who may do what: the roles of the API, the permissions
// each grants, and the principal of the request in flight. Everything is denied
// unless a role below grants it; every route and every privileged service method
// names the permission it needs.
package access

import (
	"context"
	"slices"
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
)

// Role is a named set of permissions.
type Role string

// The roles of API.md. Every account has customer; staff roles are granted by an admin.
const (
	Customer    Role = "customer"
	Support     Role = "support"
	Catalog     Role = "catalog"
	Fulfillment Role = "fulfillment"
	Finance     Role = "finance"
	Admin       Role = "admin"
)

// Roles lists every role, in a stable order.
func Roles() []Role { return []Role{Customer, Support, Catalog, Fulfillment, Finance, Admin} }

// ParseRole returns the role named s, or false.
func ParseRole(s string) (Role, bool) {
	r := Role(s)
	return r, slices.Contains(Roles(), r)
}

// IsStaff reports whether any of roles is a staff role (anything but customer).
func IsStaff(roles []Role) bool {
	return slices.ContainsFunc(roles, func(r Role) bool { return r != Customer })
}

// Permission names an action. Public and Authenticated are the two that need
// no role; every other permission is granted only by the table in grants.
type Permission string

const (
	// Public needs no authentication at all.
	Public Permission = "public"
	// Authenticated needs any signed-in account and acts on the caller's own data.
	Authenticated Permission = "authenticated"
	// CatalogWrite creates and changes products and stock.
	CatalogWrite Permission = "catalog:write"
	// RolesManage grants and removes staff roles.
	RolesManage Permission = "roles:manage"
	// OrdersRead lists every customer's orders.
	OrdersRead Permission = "orders:read"
	// Refund gives money back on an order; it also captures, voids and
	// cancels orders (every change to an order's money).
	Refund Permission = "orders:refund"
	// Fulfil records shipments of orders.
	Fulfil Permission = "orders:fulfil"
	// KeysManage creates and revokes API keys.
	KeysManage Permission = "keys:manage"
	// UsersErase erases a person's account and personal data on their request.
	UsersErase Permission = "users:erase"
	// BlocksManage lists and lifts the edge's dynamic blocks of client addresses.
	BlocksManage Permission = "blocks:manage"
	// PricingManage creates and changes tax rates, shipping options and
	// discount codes (and reads the codes). No API key holds it: codes are
	// money, and an integration has no need to mint them.
	PricingManage Permission = "pricing:manage"
	// WebhooksManage registers, lists and deletes webhook endpoints, rotates
	// their secrets and resends deliveries: admins only, and no API key, as an
	// endpoint receives order data.
	WebhooksManage Permission = "webhooks:manage"
	// MailManage reads and changes the templates of the order mails: admins
	// only, and no API key, as a template writes to every customer.
	MailManage Permission = "mail:manage"
	// FindingsRead lists and reads the detectors' findings (attacks seen, with
	// their subjects: addresses and account ids). FindingsManage resolves and
	// suppresses them. Admins only (there is no security role yet), and no
	// API key: a finding tells what the detectors saw, and suppressing one
	// silences them.
	FindingsRead   Permission = "findings:read"
	FindingsManage Permission = "findings:manage"
	// FraudReview sees orders' fraud risk, decides the orders held for
	// review (approve captures, reject cancels) and labels orders for
	// training: finance and admin, no API key.
	FraudReview Permission = "fraud:review"
	// FraudRules reads, replaces and backtests fraud scoring's rules and
	// models: admins only, no API key, and a replacement needs a login
	// within minutes (rules decide which orders go through).
	FraudRules Permission = "fraud:rules"
	// AuditRead reads the audit log, its checkpoints and proofs (each read
	// is itself recorded in it).
	AuditRead Permission = "audit:read"
	// AssuranceRead reads the shop's assurance: posture, sensitive-data
	// discovery, file integrity (a map of its weak points: staff only).
	AssuranceRead Permission = "assurance:read"
)

// KeyGrantable lists the permissions an API key may carry. The most sensitive
// ones (roles, refunds, keys) need a person who logged in minutes ago, so no
// key holds them.
func KeyGrantable() []Permission { return []Permission{CatalogWrite, OrdersRead} }

// OrderView is how much of an order a caller may see (need to know; see
// docs/ACCESS.md).
type OrderView int

// The order views, from least to most.
const (
	// OrderFulfillment: status, items (no prices) and the shipping address.
	OrderFulfillment OrderView = iota + 1
	// OrderFinance: status, items, amounts, refunds and payment brand/last4; no
	// address, no contact data.
	OrderFinance
	// OrderOwner: everything about one's own order.
	OrderOwner
	// OrderSupport: everything, with the customer's contact data; payment never
	// beyond brand and last four digits (no role ever sees more).
	OrderSupport
)

// OrderViewFor returns the view of another customer's order that p's roles
// allow, the widest of them. Callers of customer routes see their own orders
// with OrderOwner.
func OrderViewFor(p *Principal) OrderView {
	if p == nil {
		return 0
	}
	if p.KeyID != "" {
		if slices.Contains(p.KeyPermissions, OrdersRead) {
			return OrderFulfillment // integrations ship orders; they see no contact data or money
		}
		return 0
	}
	var v OrderView
	for _, r := range p.Roles {
		switch r {
		case Admin, Support:
			v = max(v, OrderSupport)
		case Finance:
			v = max(v, OrderFinance)
		case Fulfillment:
			v = max(v, OrderFulfillment)
		}
	}
	return v
}

// grants is the one place that says which role holds which permission.
func grants(r Role) []Permission {
	switch r {
	case Admin:
		return []Permission{CatalogWrite, RolesManage, OrdersRead, Refund, Fulfil, KeysManage, UsersErase, BlocksManage, PricingManage, WebhooksManage, MailManage, FindingsRead, FindingsManage, FraudReview, FraudRules, AuditRead, AssuranceRead}
	case Catalog:
		return []Permission{CatalogWrite, PricingManage}
	case Support:
		return []Permission{OrdersRead}
	case Fulfillment:
		return []Permission{OrdersRead, Fulfil}
	case Finance:
		return []Permission{Refund, FraudReview}
	default:
		return nil
	}
}

// Principal is the authenticated caller.
type Principal struct {
	UserID    string
	SessionID string
	Roles     []Role
	// MFAEnabled says the account has a confirmed second factor; staff need one
	// for every permission a role grants.
	MFAEnabled bool
	// AuthenticatedAt is when the session's login happened, for step-up.
	AuthenticatedAt time.Time
	// KeyID is set when the caller is an API key; the key holds exactly
	// KeyPermissions, whatever its creator's roles, and no account routes.
	KeyID          string
	KeyPermissions []Permission
	// GuestCartID is set when the caller is a guest (guest checkout) who
	// showed the token of this cart: UserID is then the guest's id. A guest
	// holds no permission but Public; the cart and checkout services let it
	// act on this one cart (Principal.Shops).
	GuestCartID string
}

// Shops reports whether p may act on the cart cartID as its shopper: an
// account (not an API key), or the guest holding that cart's token. Whose
// cart it is, the store decides (carts are read by owner).
func (p *Principal) Shops(cartID string) bool {
	if p == nil {
		return false
	}
	if p.GuestCartID != "" {
		return p.GuestCartID == cartID
	}
	return p.Can(Authenticated)
}

// Can reports whether p holds perm. A nil principal holds only Public.
func (p *Principal) Can(perm Permission) bool {
	if perm == Public {
		return true
	}
	if p == nil || p.GuestCartID != "" {
		return false
	}
	if p.KeyID != "" {
		return perm != Authenticated && slices.Contains(p.KeyPermissions, perm)
	}
	if perm == Authenticated {
		return true
	}
	for _, r := range p.Roles {
		if slices.Contains(grants(r), perm) {
			return true
		}
	}
	return false
}

type key struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, key{}, p)
}

// PrincipalFrom returns the caller in ctx, or nil when the request is anonymous.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(key{}).(*Principal)
	return p
}

// Codes of refusals that ask the caller to do something first.
const (
	CodeMFAEnrollmentRequired  = "mfa_enrollment_required"
	CodeReauthenticationNeeded = "reauthentication_required"
)

// StepUpWindow is how recent a login must be for the most sensitive actions.
const StepUpWindow = 5 * time.Minute

// Require returns the caller when it holds perm, else an unauthenticated
// (no caller) or forbidden *apperr.Error. Staff without a confirmed second
// factor hold no role permission at all (PCI DSS 8.4.2): they get
// mfa_enrollment_required until they turn MFA on.
func Require(ctx context.Context, perm Permission) (*Principal, error) {
	p := PrincipalFrom(ctx)
	if p == nil && perm != Public {
		return nil, apperr.New(apperr.CodeUnauthenticated, "authentication required")
	}
	if !p.Can(perm) {
		return nil, apperr.New(apperr.CodeForbidden, "you do not have permission for this action")
	}
	if perm != Public && perm != Authenticated && p.KeyID == "" && IsStaff(p.Roles) && !p.MFAEnabled {
		return nil, apperr.New(CodeMFAEnrollmentRequired, "staff accounts need two-factor authentication: turn it on at /api/v1/me/mfa/totp with the enrolment code from your admin")
	}
	return p, nil
}

// RequireRecent is Require for the most sensitive actions (role changes,
// refunds, API keys, data export): the caller must also have logged in within
// StepUpWindow of now, else reauthentication_required.
func RequireRecent(ctx context.Context, perm Permission, now time.Time) (*Principal, error) {
	p, err := Require(ctx, perm)
	if err != nil {
		return nil, err
	}
	if now.Sub(p.AuthenticatedAt) > StepUpWindow {
		return nil, apperr.New(CodeReauthenticationNeeded, "log in again to confirm it is you; this action needs a login from the last five minutes")
	}
	return p, nil
}
