package threat_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/detect"
	"github.com/bulwark-shop/bulwark/internal/finding"
	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/testenv"
	"github.com/bulwark-shop/bulwark/internal/threat"
	"github.com/bulwark-shop/bulwark/internal/throttle"
)

func TestParseQuery(t *testing.T) {
	good := []struct {
		status, typ, sev, subject string
		want                      finding.Query
	}{
		{"", "", "", "", finding.Query{Limit: 10}},
		{"active", "Recon:Ip/Scanning", "40", "ip:192.0.2.1", finding.Query{Status: finding.Active, Type: finding.Scanning, SeverityMin: 40,
			Subject: finding.Subject{Kind: finding.IP, ID: "192.0.2.1"}, Limit: 10}},
		{"", "", "high", "", finding.Query{SeverityMin: 70, Limit: 10}},
		{"", "", "", "ip:2001:db8::/64", finding.Query{Subject: finding.Subject{Kind: finding.IP, ID: "2001:db8::/64"}, Limit: 10}},
		{"", "", "", "usr_x", finding.Query{Subject: finding.Subject{ID: "usr_x"}, Limit: 10}},
	}
	for _, c := range good {
		q, err := threat.ParseQuery(c.status, c.typ, c.sev, c.subject, 10, "")
		if err != nil || q != c.want {
			t.Errorf("ParseQuery(%q, %q, %q, %q) = %+v, %v; want %+v", c.status, c.typ, c.sev, c.subject, q, err, c.want)
		}
	}
	bad := []struct {
		field                     string
		status, typ, sev, subject string
		limit                     int
		after                     string
	}{
		{"status", "open", "", "", "", 10, ""},
		{"type", "", "Recon:Ip/Nothing", "", "", 10, ""},
		{"severity_min", "", "", "101", "", 10, ""},
		{"severity_min", "", "", "-1", "", 10, ""},
		{"severity_min", "", "", "4O", "", 10, ""},
		{"severity_min", "", "", "040", "", 10, ""},
		{"limit", "", "", "", "", 0, ""},
		{"limit", "", "", "", "", 101, ""},
		{"cursor", "", "", "", "", 10, "ord_aaaaaaaaaaaaaaaaaaaaaaaaaa"},
	}
	for _, c := range bad {
		_, err := threat.ParseQuery(c.status, c.typ, c.sev, c.subject, c.limit, c.after)
		var e *apperr.Error
		if !errors.As(err, &e) || len(e.Fields) != 1 || e.Fields[0].Field != c.field {
			t.Errorf("%+v: err %v, want a field error on %s", c, err, c.field)
		}
	}
}

// failingCounter is a counter whose shared store (Redis) cannot answer.
type failingCounter struct{}

func (failingCounter) Incr(context.Context, string, time.Duration) (int64, error) {
	return 0, errors.New("redis: connection refused")
}

func (failingCounter) Count(context.Context, string) (int64, error) {
	return 0, errors.New("redis: connection refused")
}

func newIntake(t *testing.T, db *store.DB, c detect.Counter, raised ...func(context.Context, finding.Finding)) (*threat.Intake, *prometheus.Registry) {
	t.Helper()
	var hook func(context.Context, finding.Finding)
	if len(raised) > 0 {
		hook = raised[0]
	}
	engine, err := detect.New(c, detect.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	return threat.NewIntake(threat.IntakeConfig{Engine: engine, Store: db, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: reg, Now: time.Now, Raised: hook}), reg
}

func openDB(t *testing.T, d testenv.Database) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), store.Options{DatabaseURL: d.DatabaseURL, DataDir: d.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestIntake(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := openDB(t, d)
		ctx := context.Background()
		now := time.Now().UTC()

		t.Run("failed sign-ins to one account from several addresses raise one brute-force finding", func(t *testing.T) {
			var told []finding.Finding
			in, reg := newIntake(t, db, throttle.NewMemory(func() time.Time { return now }, 0),
				func(_ context.Context, f finding.Finding) { told = append(told, f) })
			ips := []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}
			for i := range 21 {
				if err := in.Process(ctx, detect.Signal{Kind: detect.LoginFailed, At: now, IP: ips[i%3], Account: "usr_victim"}); err != nil {
					t.Fatal(err)
				}
				fs, _, err := db.Findings(ctx, finding.Query{Type: finding.AccountBruteForce, Subject: finding.Subject{Kind: finding.Account, ID: "usr_victim"}, Limit: 10})
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case i+1 < 10 && len(fs) != 0:
					t.Fatalf("finding after %d failures, below the threshold of 10", i+1)
				case i+1 >= 10 && (len(fs) != 1 || fs[0].Count != int64((i+1)/10) || fs[0].Type.DetectionPoint() != "AE3"):
					t.Fatalf("after %d failures: %+v", i+1, fs)
				}
			}
			if got := counterValue(t, reg, "bulwark_findings_total", "severity", finding.Medium); got != 1 {
				t.Fatalf("bulwark_findings_total{type=brute force,severity=medium} = %v, want 1", got)
			}
			if len(told) != 1 || told[0].Type != finding.AccountBruteForce || told[0].Count != 1 {
				t.Fatalf("Raised was told %+v, want the one finding once", told)
			}
		})

		t.Run("Observed is told of every observation, raised or added to", func(t *testing.T) {
			engine, err := detect.New(throttle.NewMemory(func() time.Time { return now }, 0), detect.Defaults())
			if err != nil {
				t.Fatal(err)
			}
			var told []bool
			in := threat.NewIntake(threat.IntakeConfig{Engine: engine, Store: db, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
				Registry: prometheus.NewRegistry(), Now: time.Now,
				Observed: func(_ context.Context, f finding.Finding, raised bool) {
					if f.Subject.ID != "192.0.2.80" {
						t.Errorf("told of %s", f.Subject)
					}
					told = append(told, raised)
				}})
			for range 90 {
				if err := in.Process(ctx, detect.Signal{Kind: detect.NotFound, At: now, IP: "192.0.2.80"}); err != nil {
					t.Fatal(err)
				}
			}
			if len(told) != 3 || !told[0] || told[1] || told[2] {
				t.Fatalf("Observed told %v, want raised then two additions", told)
			}
		})

		t.Run("a counter that fails is counted and returned, never raised to the caller", func(t *testing.T) {
			in, reg := newIntake(t, db, failingCounter{})
			err := in.Process(ctx, detect.Signal{Kind: detect.LoginFailed, At: now, IP: "192.0.2.9", Account: "usr_x"})
			if err == nil {
				t.Fatal("a failing counter processed the signal")
			}
			if n := counterValue(t, reg, "bulwark_signals_total", "outcome", threat.OutcomeFailed); n != 1 {
				t.Fatalf("failed signals = %v, want 1", n)
			}
		})

		t.Run("Report never waits: a full queue drops and counts, and 404s leave room for sign-ins", func(t *testing.T) {
			in, reg := newIntake(t, db, throttle.NewMemory(func() time.Time { return now }, 0))
			start := time.Now()
			for range threat.QueueSize + 10 {
				in.Report(ctx, detect.Signal{Kind: detect.NotFound, At: now, IP: "192.0.2.10"})
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("reporting took %s with no worker running", d)
			}
			// 404s fill half the queue only: the other half waits for sign-ins.
			if n := counterValue(t, reg, "bulwark_signals_total", "outcome", threat.OutcomeDropped); n != threat.QueueSize/2+10 {
				t.Fatalf("dropped = %v, want %d", n, threat.QueueSize/2+10)
			}
			for range threat.QueueSize/2 + 10 {
				in.Report(ctx, detect.Signal{Kind: detect.LoginFailed, At: now, IP: "192.0.2.10", Account: "usr_x"})
			}
			if n := counterValue(t, reg, "bulwark_signals_total", "outcome", threat.OutcomeDropped); n != threat.QueueSize/2+20 {
				t.Fatalf("dropped = %v after the sign-ins, want %d: failed sign-ins were crowded out by 404s", n, threat.QueueSize/2+20)
			}
			var none *threat.Intake
			none.Report(ctx, detect.Signal{Kind: detect.NotFound}) // a nil intake reports nothing, and does not panic
		})
	})
}

func counterValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{%s=%q}", name, label, value)
	return 0
}

func TestService(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := openDB(t, d)
		now := time.Now().UTC()
		s := threat.NewService(db, func() time.Time { return now })
		f, _, err := db.ObserveFinding(context.Background(), finding.Observation{Type: finding.Scanning, Severity: 40,
			Subject: finding.Subject{Kind: finding.IP, ID: "192.0.2.20"}, At: now})
		if err != nil {
			t.Fatal(err)
		}
		as := func(p *access.Principal) context.Context { return access.WithPrincipal(context.Background(), p) }
		admin := as(&access.Principal{UserID: "usr_admin", Roles: []access.Role{access.Customer, access.Admin}, MFAEnabled: true, AuthenticatedAt: now})
		stale := as(&access.Principal{UserID: "usr_admin", Roles: []access.Role{access.Customer, access.Admin}, MFAEnabled: true, AuthenticatedAt: now.Add(-time.Hour)})
		for name, c := range map[string]struct {
			ctx  context.Context
			code string
		}{
			"anonymous":  {context.Background(), apperr.CodeUnauthenticated},
			"customer":   {as(&access.Principal{UserID: "usr_c", Roles: []access.Role{access.Customer}}), apperr.CodeForbidden},
			"finance":    {as(&access.Principal{UserID: "usr_f", Roles: []access.Role{access.Customer, access.Finance}, MFAEnabled: true}), apperr.CodeForbidden},
			"an API key": {as(&access.Principal{UserID: "usr_k", KeyID: "key_x", KeyPermissions: access.KeyGrantable()}), apperr.CodeForbidden},
		} {
			if _, _, err := s.List(c.ctx, finding.Query{Limit: 10}); apperr.Code(err) != c.code {
				t.Errorf("%s lists: %v, want %s", name, err, c.code)
			}
			if _, err := s.Resolve(c.ctx, f.ID); apperr.Code(err) != c.code {
				t.Errorf("%s resolves: %v, want %s", name, err, c.code)
			}
		}
		if _, err := s.Suppress(stale, f.ID); apperr.Code(err) != access.CodeReauthenticationNeeded {
			t.Fatalf("suppress with an old login: %v", err)
		}
		if got, err := s.Get(stale, f.ID); err != nil || got.ID != f.ID {
			t.Fatalf("read with an old login: %v", err)
		}
		if _, err := s.Get(admin, "fnd_bad"); !errors.Is(err, threat.ErrNotFound) {
			t.Fatalf("malformed id: %v", err)
		}
		if got, err := s.Resolve(admin, f.ID); err != nil || got.Status != finding.Resolved {
			t.Fatalf("resolve: %+v %v", got, err)
		}
		_, err = s.Suppress(admin, f.ID)
		if apperr.Code(err) != threat.CodeIllegalTransition {
			t.Fatalf("suppress a resolved finding: %v", err)
		}
	})
}
