package access_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
)

func TestRequire(t *testing.T) {
	ctx := context.Background()
	as := func(roles ...access.Role) context.Context {
		return access.WithPrincipal(ctx, &access.Principal{UserID: "usr_x", Roles: roles, MFAEnabled: true})
	}
	noMFA := func(roles ...access.Role) context.Context {
		return access.WithPrincipal(ctx, &access.Principal{UserID: "usr_x", Roles: roles})
	}
	key := func(perms ...access.Permission) context.Context {
		return access.WithPrincipal(ctx, &access.Principal{UserID: "key_x", KeyID: "key_x", KeyPermissions: perms})
	}
	tests := []struct {
		name string
		ctx  context.Context
		perm access.Permission
		want string // apperr code, "" for allowed
	}{
		{"anonymous may read public", ctx, access.Public, ""},
		{"anonymous is unauthenticated for account routes", ctx, access.Authenticated, apperr.CodeUnauthenticated},
		{"anonymous is unauthenticated for admin routes", ctx, access.CatalogWrite, apperr.CodeUnauthenticated},
		{"customer is signed in", as(access.Customer), access.Authenticated, ""},
		{"customer may not write the catalog", as(access.Customer), access.CatalogWrite, apperr.CodeForbidden},
		{"catalog staff may write the catalog", as(access.Customer, access.Catalog), access.CatalogWrite, ""},
		{"catalog staff may not manage roles", as(access.Catalog), access.RolesManage, apperr.CodeForbidden},
		{"catalog staff may manage pricing", as(access.Catalog), access.PricingManage, ""},
		{"support may not manage pricing", as(access.Support), access.PricingManage, apperr.CodeForbidden},
		{"finance may not manage pricing", as(access.Finance), access.PricingManage, apperr.CodeForbidden},
		{"a catalog key may not manage pricing", key(access.CatalogWrite), access.PricingManage, apperr.CodeForbidden},
		{"fulfillment staff may fulfil orders", as(access.Fulfillment), access.Fulfil, ""},
		{"support may not fulfil orders", as(access.Support), access.Fulfil, apperr.CodeForbidden},
		{"finance may not fulfil orders", as(access.Finance), access.Fulfil, apperr.CodeForbidden},
		{"fulfillment staff may not capture or refund", as(access.Fulfillment), access.Refund, apperr.CodeForbidden},
		{"an orders:read key may not fulfil", key(access.OrdersRead), access.Fulfil, apperr.CodeForbidden},
		{"support may not write the catalog", as(access.Support), access.CatalogWrite, apperr.CodeForbidden},
		{"admin may manage roles", as(access.Admin), access.RolesManage, ""},
		{"an unknown permission is denied even to admin", as(access.Admin), access.Permission("orders:delete"), apperr.CodeForbidden},
		{"staff without MFA hold no role permission", noMFA(access.Customer, access.Admin), access.RolesManage, access.CodeMFAEnrollmentRequired},
		{"staff without MFA still use their own account", noMFA(access.Customer, access.Admin), access.Authenticated, ""},
		{"a customer needs no MFA", noMFA(access.Customer), access.Authenticated, ""},
		{"a key holds its permission", key(access.CatalogWrite), access.CatalogWrite, ""},
		{"a key holds nothing else", key(access.CatalogWrite), access.OrdersRead, apperr.CodeForbidden},
		{"a key is no account", key(access.CatalogWrite), access.Authenticated, apperr.CodeForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := access.Require(tt.ctx, tt.perm)
			got := ""
			if err != nil {
				got = apperr.Code(err)
			}
			if got != tt.want {
				t.Fatalf("Require(%s) = %q, want %q", tt.perm, got, tt.want)
			}
		})
	}
}

func TestIsStaff(t *testing.T) {
	if access.IsStaff([]access.Role{access.Customer}) {
		t.Fatal("a customer is not staff")
	}
	if !access.IsStaff([]access.Role{access.Customer, access.Support}) {
		t.Fatal("support is staff")
	}
}

func TestRequireRecent(t *testing.T) {
	now := time.Now()
	at := func(loggedIn time.Time) context.Context {
		return access.WithPrincipal(context.Background(), &access.Principal{UserID: "usr_x", Roles: []access.Role{access.Admin}, MFAEnabled: true, AuthenticatedAt: loggedIn})
	}
	if _, err := access.RequireRecent(at(now.Add(-4*time.Minute)), access.RolesManage, now); err != nil {
		t.Fatalf("login four minutes ago: %v", err)
	}
	if _, err := access.RequireRecent(at(now.Add(-6*time.Minute)), access.RolesManage, now); apperr.Code(err) != access.CodeReauthenticationNeeded {
		t.Fatalf("login six minutes ago: %v", err)
	}
}

func TestGuestPrincipal(t *testing.T) {
	guest := &access.Principal{UserID: "usr_guest", GuestCartID: "cart_a"}
	t.Run("a guest holds no permission but public", func(t *testing.T) {
		for _, perm := range []access.Permission{access.Authenticated, access.OrdersRead, access.CatalogWrite, access.Refund} {
			if guest.Can(perm) {
				t.Errorf("a guest holds %s", perm)
			}
		}
		if !guest.Can(access.Public) {
			t.Error("a guest may not read public routes")
		}
		ctx := access.WithPrincipal(context.Background(), guest)
		if _, err := access.Require(ctx, access.Authenticated); apperr.Code(err) != apperr.CodeForbidden {
			t.Errorf("Require(authenticated) for a guest = %v", err)
		}
	})
	t.Run("a guest shops its own cart only; an account any of its own; an API key none", func(t *testing.T) {
		if !guest.Shops("cart_a") || guest.Shops("cart_b") {
			t.Error("a guest shops the wrong carts")
		}
		account := &access.Principal{UserID: "usr_x", Roles: []access.Role{access.Customer}}
		key := &access.Principal{UserID: "usr_x", KeyID: "key_x", KeyPermissions: []access.Permission{access.OrdersRead}}
		var nobody *access.Principal
		if !account.Shops("cart_b") || key.Shops("cart_b") || nobody.Shops("cart_a") {
			t.Error("Shops is wrong for an account, a key or nobody")
		}
	})
}
