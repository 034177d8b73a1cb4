// Package access owns who may do what: the roles of the API, the permissions
// each grants, and the principal of the request in flight. Everything is denied
// unless a role below grants it; every route and every privileged service method
// names the permission it needs.
package access

import (
	"context"
	"slices"

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
	// Refund gives money back on an order.
	Refund Permission = "orders:refund"
)

// grants is the one place that says which role holds which permission.
func grants(r Role) []Permission {
	switch r {
	case Admin:
		return []Permission{CatalogWrite, RolesManage, OrdersRead, Refund}
	case Catalog:
		return []Permission{CatalogWrite}
	case Support, Fulfillment:
		return []Permission{OrdersRead}
	case Finance:
		return []Permission{Refund}
	default:
		return nil
	}
}

// Principal is the authenticated caller.
type Principal struct {
	UserID    string
	SessionID string
	Roles     []Role
}

// Can reports whether p holds perm. A nil principal holds only Public.
func (p *Principal) Can(perm Permission) bool {
	if perm == Public {
		return true
	}
	if p == nil {
		return false
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

// Require returns the caller when it holds perm, else an unauthenticated
// (no caller) or forbidden *apperr.Error.
func Require(ctx context.Context, perm Permission) (*Principal, error) {
	p := PrincipalFrom(ctx)
	if p == nil && perm != Public {
		return nil, apperr.New(apperr.CodeUnauthenticated, "authentication required")
	}
	if !p.Can(perm) {
		return nil, apperr.New(apperr.CodeForbidden, "you do not have permission for this action")
	}
	return p, nil
}
