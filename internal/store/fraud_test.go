package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/scoring"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// TestFraudVersions: versions of rules are kept; at most one of a kind is
// enforced and one in shadow, also when activations race; a taken version
// name with other contents is refused and the same one again changes
// nothing; on both engines.
func TestFraudVersions(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := mustOpen(t, d)
		ctx := context.Background()
		at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
		put := func(version, state, body string) error {
			at = at.Add(time.Second)
			return db.PutVersion(ctx, scoring.Version{Kind: scoring.KindRules, Version: version, State: state, Body: []byte(body),
				CreatedAt: at, CreatedBy: "usr_admin"}, rec(scoring.ActionRulesSet, version))
		}
		states := func() map[string]string {
			t.Helper()
			vs, err := db.ListVersions(ctx, scoring.KindRules)
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]string{}
			for _, v := range vs {
				out[v.Version] = v.State
			}
			return out
		}
		for _, v := range []struct{ version, state string }{{"r1", "enforce"}, {"r2", "shadow"}, {"r3", "enforce"}} {
			if err := put(v.version, v.state, `{"version":"`+v.version+`"}`); err != nil {
				t.Fatal(err)
			}
		}
		if got := fmt.Sprint(states()); got != "map[r1:inactive r2:shadow r3:enforce]" {
			t.Fatalf("states %s", got)
		}
		if err := put("r3", "enforce", `{"version":"r3"}`); err != nil {
			t.Fatalf("the same version again: %v", err)
		}
		if err := put("r3", "enforce", `{"version":"r3","other":1}`); !errors.Is(err, scoring.ErrVersionTaken) {
			t.Fatalf("a taken version with other contents: %v", err)
		}
		running, err := db.RunningVersions(ctx)
		if err != nil || len(running) != 2 || string(running[0].Body) == "" {
			t.Fatalf("running %+v (%v)", running, err)
		}
		if err := db.ActivateVersion(ctx, scoring.KindRules, "nope", "enforce", at, rec(scoring.ActionVersionChanged, "nope")); !errors.Is(err, scoring.ErrNoVersion) {
			t.Fatalf("activating an unknown version: %v", err)
		}

		// Eight activations at once, of four versions: one is enforced.
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				v := []string{"r1", "r2", "r3", "r1"}[i%4]
				if err := db.ActivateVersion(ctx, scoring.KindRules, v, "enforce", at, rec(scoring.ActionVersionChanged, v)); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		enforced := 0
		for _, s := range states() {
			if s == "enforce" {
				enforced++
			}
		}
		if enforced != 1 {
			t.Fatalf("%d versions enforced after racing activations: %v", enforced, states())
		}
	})
}
