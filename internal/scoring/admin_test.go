package scoring_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/checkout"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/scoring"
	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/testenv"
	"github.com/bulwark-shop/bulwark/internal/throttle"
)

// TestAdminSyncsInstances: a rule set stored through one instance's Admin
// runs on another's at its next Sync, enforced or in shadow; stopping the
// stored versions brings back the base set; a stale login may not store.
func TestAdminSyncsInstances(t *testing.T) {
	d := testenv.Databases(t)[0] // SQLite; the store's own tests cover both engines
	db, err := store.Open(context.Background(), store.Options{DatabaseURL: d.DatabaseURL, DataDir: d.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	instance := func() (*scoring.Scorer, *scoring.Admin) {
		s, err := scoring.New(throttle.NewMemory(clock, 0), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s, scoring.NewAdmin(scoring.AdminConfig{Scorer: s, Versions: db, History: db, Base: scoring.DefaultRules(),
			BaseFrom: scoring.SourceBuiltIn, Now: clock})
	}
	_, one := instance()
	otherScorer, other := instance()
	admin := access.WithPrincipal(context.Background(), &access.Principal{UserID: "usr_admin", Roles: []access.Role{access.Admin},
		MFAEnabled: true, AuthenticatedAt: now})

	rs := scoring.RuleSet{Version: "shop-1", Mode: scoring.Enforce, Rules: []scoring.Rule{{Name: "all", Action: scoring.Review, Expr: "amount >= 0"}}}
	if _, err := one.PutRules(admin, rs); err != nil {
		t.Fatal(err)
	}
	if err := other.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, err := other.Rules(admin)
	if err != nil || r.Enforced.Version != "shop-1" || r.Source != scoring.SourceStored {
		t.Fatalf("the other instance runs %+v (%v)", r, err)
	}
	risk, err := otherScorer.Score(context.Background(), checkout.Attempt{OrderID: "ord_x", CustomerID: "usr_x",
		Total: money.Money{Amount: 100, Currency: "EUR"}, At: now})
	if err != nil || risk.RulesVersion != "shop-1" || risk.Decision != "review" {
		t.Fatalf("the other instance scored %+v (%v)", risk, err)
	}

	// Stopped (made inactive): both go back to the base set.
	if err := db.ActivateVersion(context.Background(), scoring.KindRules, "shop-1", scoring.StateInactive, now,
		audit.New(admin, now, scoring.ActionVersionChanged, "shop-1", audit.Success, "stopped")); err != nil {
		t.Fatal(err)
	}
	if err := other.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r, _ := other.Rules(admin); r.Enforced.Version != "default-3" || r.Source != scoring.SourceBuiltIn {
		t.Fatalf("after the stored set stopped: %+v", r)
	}

	// A login of an hour ago may read, not store.
	stale := access.WithPrincipal(context.Background(), &access.Principal{UserID: "usr_admin", Roles: []access.Role{access.Admin},
		MFAEnabled: true, AuthenticatedAt: now.Add(-time.Hour)})
	rs.Version = "shop-2"
	var e *apperr.Error
	if _, err := one.PutRules(stale, rs); !errors.As(err, &e) {
		t.Fatalf("a stale login stored rules: %v", err)
	}
}
