package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/finding"
	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/testenv"
	"github.com/bulwark-shop/bulwark/internal/threat"
)

func observation(typ finding.Type, kind finding.SubjectKind, subject string, at time.Time, severity int) finding.Observation {
	return finding.Observation{Type: typ, Severity: severity, Subject: finding.Subject{Kind: kind, ID: subject}, At: at,
		Evidence: map[string]string{"count": "10"}, Response: "log"}
}

func TestFindings(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := mustOpen(t, d)
		ctx := context.Background()
		t0 := time.Now().UTC().Truncate(time.Second)

		t.Run("concurrent observations give one open finding with every one counted", func(t *testing.T) {
			const n = 40
			var wg sync.WaitGroup
			raised := make(chan string, n)
			errs := make(chan error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					f, r, err := db.ObserveFinding(ctx, observation(finding.AccountBruteForce, finding.Account, "usr_race", t0.Add(time.Duration(i)*time.Second), 60+i%3))
					if err != nil {
						errs <- err
						return
					}
					if r {
						raised <- f.ID
					}
				}()
			}
			wg.Wait()
			close(errs)
			close(raised)
			for err := range errs {
				t.Fatal(err)
			}
			var ids []string
			for id := range raised {
				ids = append(ids, id)
			}
			if len(ids) != 1 {
				t.Fatalf("%d findings raised, want 1: %v", len(ids), ids)
			}
			fs, _, err := db.Findings(ctx, finding.Query{Subject: finding.Subject{Kind: finding.Account, ID: "usr_race"}, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(fs) != 1 || fs[0].Count != n || fs[0].Severity != 62 || fs[0].Status != finding.Active {
				t.Fatalf("findings %+v, want one active with count %d and severity 62", fs, n)
			}
			if !fs[0].FirstSeen.Equal(t0) || !fs[0].LastSeen.Equal(t0.Add((n-1)*time.Second)) {
				t.Fatalf("seen %s to %s", fs[0].FirstSeen, fs[0].LastSeen)
			}
		})

		t.Run("resolve is checked by the lifecycle, audited, and a recurrence raises a new finding", func(t *testing.T) {
			f, raised, err := db.ObserveFinding(ctx, observation(finding.Scanning, finding.IP, "192.0.2.7", t0, 40))
			if err != nil || !raised {
				t.Fatalf("raise: %v %v", raised, err)
			}
			if _, err := db.SetFindingStatus(ctx, f.ID, finding.Active, t0, rec(threat.ActionResolve, f.ID)); !errors.Is(err, finding.ErrIllegalTransition) {
				t.Fatalf("active -> active: %v", err)
			}
			got, err := db.SetFindingStatus(ctx, f.ID, finding.Resolved, t0, rec(threat.ActionResolve, f.ID))
			if err != nil || got.Status != finding.Resolved {
				t.Fatalf("resolve: %+v %v", got, err)
			}
			again, err := db.SetFindingStatus(ctx, f.ID, finding.Resolved, t0, rec(threat.ActionResolve, f.ID))
			if err != nil || again.Status != finding.Resolved {
				t.Fatalf("resolve again: %+v %v", again, err)
			}
			got, err = db.SetFindingStatus(ctx, f.ID, finding.Suppressed, t0, rec(threat.ActionSuppress, f.ID))
			if !errors.Is(err, finding.ErrIllegalTransition) || got.Status != finding.Resolved {
				t.Fatalf("resolved -> suppressed: %+v %v", got, err)
			}
			var resolves int
			if _, err := db.ScanAudit(ctx, func(r audit.Record) error {
				if r.Action == threat.ActionResolve && r.Target == f.ID {
					resolves++
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if resolves != 1 {
				t.Fatalf("%d resolve records, want 1 (the second resolve changed nothing)", resolves)
			}
			next, raised, err := db.ObserveFinding(ctx, observation(finding.Scanning, finding.IP, "192.0.2.7", t0.Add(time.Minute), 40))
			if err != nil || !raised || next.ID == f.ID || next.Count != 1 {
				t.Fatalf("recurrence: %+v raised=%v %v", next, raised, err)
			}
		})

		t.Run("a suppressed finding takes recurrences silently", func(t *testing.T) {
			f, _, err := db.ObserveFinding(ctx, observation(finding.WAFProbe, finding.IP, "192.0.2.8", t0, 60))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.SetFindingStatus(ctx, f.ID, finding.Suppressed, t0, rec(threat.ActionSuppress, f.ID)); err != nil {
				t.Fatal(err)
			}
			g, raised, err := db.ObserveFinding(ctx, observation(finding.WAFProbe, finding.IP, "192.0.2.8", t0.Add(time.Second), 60))
			if err != nil || raised || g.ID != f.ID || g.Count != 2 || g.Status != finding.Suppressed {
				t.Fatalf("recurrence on suppressed: %+v raised=%v %v", g, raised, err)
			}
		})

		t.Run("lists filter and page", func(t *testing.T) {
			for i := range 5 {
				if _, _, err := db.ObserveFinding(ctx, observation(finding.CredentialStuffing, finding.IP, fmt.Sprintf("198.51.100.%d", i), t0.Add(time.Duration(i)*time.Hour), 70)); err != nil {
					t.Fatal(err)
				}
			}
			var seen []finding.Finding
			after := ""
			for {
				page, more, err := db.Findings(ctx, finding.Query{Type: finding.CredentialStuffing, Status: finding.Active, SeverityMin: 70, Limit: 2, After: after})
				if err != nil {
					t.Fatal(err)
				}
				seen = append(seen, page...)
				if !more {
					break
				}
				after = page[len(page)-1].ID
			}
			if len(seen) != 5 {
				t.Fatalf("paged %d findings, want 5", len(seen))
			}
			for i := 1; i < len(seen); i++ {
				if seen[i].FirstSeen.After(seen[i-1].FirstSeen) {
					t.Fatalf("not newest first: %v", seen)
				}
			}
			none, _, err := db.Findings(ctx, finding.Query{Type: finding.CredentialStuffing, SeverityMin: 71, Limit: 10})
			if err != nil || len(none) != 0 {
				t.Fatalf("severity_min 71: %d findings, %v", len(none), err)
			}
			one, _, err := db.Findings(ctx, finding.Query{Subject: finding.Subject{ID: "198.51.100.3"}, Limit: 10})
			if err != nil || len(one) != 1 || one[0].Subject.Kind != finding.IP {
				t.Fatalf("by bare subject id: %+v, %v", one, err)
			}
		})

		t.Run("the retention purge deletes findings not seen for a quarter, whatever their status", func(t *testing.T) {
			old := t0.Add(-store.FindingRetention - time.Hour)
			stale, _, err := db.ObserveFinding(ctx, observation(finding.Scanning, finding.IP, "198.51.100.200", old, 40))
			if err != nil {
				t.Fatal(err)
			}
			fresh, _, err := db.ObserveFinding(ctx, observation(finding.Scanning, finding.IP, "198.51.100.201", t0.Add(-store.FindingRetention+time.Hour), 40))
			if err != nil {
				t.Fatal(err)
			}
			p, err := db.Purge(ctx, t0, store.Retention{IdempotencyKeys: 24 * time.Hour, AbandonedCarts: 24 * time.Hour, SentMail: 24 * time.Hour})
			if err != nil || p.Findings < 1 {
				t.Fatalf("purged %+v, %v", p, err)
			}
			if _, err := db.Finding(ctx, stale.ID); !errors.Is(err, threat.ErrNotFound) {
				t.Fatalf("a finding last seen %s ago is kept: %v", t0.Sub(old), err)
			}
			if _, err := db.Finding(ctx, fresh.ID); err != nil {
				t.Fatalf("a finding seen within the retention was purged: %v", err)
			}
		})

		t.Run("an unknown finding is not found", func(t *testing.T) {
			if _, err := db.Finding(ctx, "fnd_aaaaaaaaaaaaaaaaaaaaaaaaaa"); !errors.Is(err, threat.ErrNotFound) {
				t.Fatalf("err %v", err)
			}
			if _, err := db.SetFindingStatus(ctx, "fnd_aaaaaaaaaaaaaaaaaaaaaaaaaa", finding.Resolved, t0, rec(threat.ActionResolve, "x")); !errors.Is(err, threat.ErrNotFound) {
				t.Fatalf("err %v", err)
			}
		})
	})
}
