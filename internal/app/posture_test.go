package app_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/identity"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

type postureReport struct {
	RunAt     time.Time `json:"run_at"`
	Standards []struct {
		ID                 string
		Score              float64
		Passed, Applicable int
	}
	Checks []struct {
		ID, Title, Status, Detail, Remedy string
		Severity                          int
		MapsTo                            []string `json:"maps_to"`
	}
	Listeners []struct {
		Name, Addr, Serves string
		TLS                bool
	}
}

func (r postureReport) status(t *testing.T, id string) (string, string) {
	t.Helper()
	for _, c := range r.Checks {
		if c.ID == id {
			return c.Status, c.Detail
		}
	}
	t.Fatalf("no check %s in the report", id)
	return "", ""
}

func (r postureReport) score(t *testing.T, id string) (float64, int, int) {
	t.Helper()
	for _, s := range r.Standards {
		if s.ID == id {
			return s.Score, s.Passed, s.Applicable
		}
	}
	t.Fatalf("no standard %s in the report", id)
	return 0, 0, 0
}

// The posture checks run against the live server on a schedule: its
// listener is dialled, its WAF replayed attacks against, its staff and
// keys read; failing checks become findings with their remedy, and the
// self-scan's attacks are not taken for an attack on the shop.
func TestPosture(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db, func(c *config.Config) { c.PostureInterval = time.Second })
		if err := os.Chmod(s.Config.DataDir, 0o700); err != nil {
			t.Fatal(err)
		}
		admin := s.createAdmin("posture@example.com")
		finance := s.staff(admin, "posture-finance@example.com", "finance")
		// The server's clock stands still unless moved: a run stamped
		// after this saw the staff with their second factors.
		s.Clock.Advance(time.Second)
		ready := s.now()
		for _, path := range []string{"/api/v1/admin/posture", "/api/v1/admin/posture/history"} {
			s.must(401, req{method: "GET", path: path})
			s.must(403, req{method: "GET", path: path, token: finance})
		}

		// Two scheduled runs: sixteen attacks from the loopback, more than
		// the WAF-probe detector's ten.
		var history struct {
			Items []struct {
				RunAt     time.Time `json:"run_at"`
				Failed    int
				Standards []struct{ ID string }
			}
		}
		deadline := time.Now().Add(60 * time.Second)
		for len(history.Items) < 2 {
			if time.Now().After(deadline) {
				t.Fatalf("%d scheduled posture runs in 60 s, want 2", len(history.Items))
			}
			time.Sleep(200 * time.Millisecond)
			s.must(200, req{method: "GET", path: "/api/v1/admin/posture/history", token: admin}).JSON(t, &history)
		}
		s.must(422, req{method: "GET", path: "/api/v1/admin/posture/history?limit=0", token: admin})

		// A run that saw the staff with their second factors.
		var rep postureReport
		for rep.RunAt.IsZero() || rep.RunAt.Before(ready) {
			if time.Now().After(deadline) {
				t.Fatalf("no posture run after the staff were made (latest %s)", rep.RunAt)
			}
			time.Sleep(200 * time.Millisecond)
			s.must(200, req{method: "GET", path: "/api/v1/admin/posture", token: admin}).JSON(t, &rep)
		}
		if len(rep.Checks) < 40 || len(rep.Standards) != 2 {
			t.Fatalf("%d checks and %d standards", len(rep.Checks), len(rep.Standards))
		}
		for id, want := range map[string]string{
			"tls.api": "pass", "http.self-scan": "pass", "http.admin-auth": "pass", "http.headers": "pass", "http.trace": "pass",
			"http.cors": "pass", "waf.mode": "pass", "staff.mfa": "pass", "staff.mfa-enforced": "pass", "staff.admins": "pass", "audit.verify": "pass",
			"listeners.inventory": "pass", "listeners.metrics": "pass", "data-dir.permissions": "pass", "build.inventory": "pass",
			"kek.hsm": "fail", "log.level": "fail", "audit.checkpoint-dir": "fail", "alerts.channel": "fail",
			"tls.version": "no_data", "backups.recent": "fail", "backups.drill": "fail", "backups.3-2-1": "fail",
		} {
			if got, detail := rep.status(t, id); got != want {
				t.Errorf("%s: %s (%s), want %s", id, got, detail, want)
			}
		}
		for _, std := range []string{"pci-dss-4.0.1", "owasp-asvs-5.0"} {
			score, passed, applicable := rep.score(t, std)
			if applicable < 15 || score != float64(passed)/float64(applicable) {
				t.Errorf("%s: %v (%d of %d)", std, score, passed, applicable)
			}
		}
		if len(rep.Listeners) != 2 || rep.Listeners[0].Name != "api" || rep.Listeners[1].Name != "metrics" {
			t.Errorf("listeners: %+v", rep.Listeners)
		}

		// The live probe of the staff gate made an account, was refused
		// with it, and deleted it: none is left, and the steps are audited.
		var trail struct {
			Items []struct{ Action, Target, Detail string }
		}
		s.must(200, req{method: "GET", path: "/api/v1/admin/audit?action=posture.probe_account&limit=100", token: admin}).JSON(t, &trail)
		created, deleted := map[string]bool{}, map[string]bool{}
		for _, r := range trail.Items {
			if !identity.IsProbeUser(r.Target) {
				t.Errorf("probe record on %s", r.Target)
			}
			if strings.HasPrefix(r.Detail, "created") {
				created[r.Target] = true
			} else if r.Detail == "deleted" {
				deleted[r.Target] = true
			}
		}
		if len(created) < 2 || len(deleted) < 2 {
			t.Fatalf("probe accounts audited: %+v", trail.Items)
		}

		// A failing check is a finding that names its remedy.
		var found struct {
			Items []struct {
				Type     string
				Severity int
				Count    int
				Evidence map[string]string
			}
		}
		s.must(200, req{method: "GET", path: "/api/v1/admin/findings?type=Policy:Posture/CheckFailed&subject=check:kek.hsm", token: admin}).JSON(t, &found)
		if len(found.Items) != 1 || !strings.Contains(found.Items[0].Evidence["remedy"], "kek-pkcs11-module") || found.Items[0].Count < 2 {
			t.Fatalf("the kek.hsm finding: %+v", found.Items)
		}
		// The self-scan's attacks were refused, and not reported as an
		// attack from the loopback.
		s.must(200, req{method: "GET", path: "/api/v1/admin/findings?type=Recon:Ip/WafProbe", token: admin}).JSON(t, &found)
		if len(found.Items) != 0 {
			t.Fatalf("the self-scan raised %+v", found.Items)
		}
		// The same attacks from a client on the loopback without the
		// self-scan's token are an attack, seen as one.
		for i := range 10 {
			s.must(403, req{method: "GET", path: fmt.Sprintf("/api/v1/products?q=%%3Cscript%%3Ealert(%d)%%3C%%2Fscript%%3E", i)})
		}
		for deadline := time.Now().Add(10 * time.Second); len(found.Items) == 0; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("ten XSS attempts from the loopback raised no WAF probe finding")
			}
			s.must(200, req{method: "GET", path: "/api/v1/admin/findings?type=Recon:Ip/WafProbe", token: admin}).JSON(t, &found)
		}
	})
}

// Breaking exactly K of the N checks that apply to a standard moves its
// score by exactly K/N, and the drop raises a finding of its own.
func TestPostureScoreMovesByKOverN(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		cfg := testConfig(db)
		run := func(more map[string]string) postureReport {
			t.Helper()
			code, out, errOut := runCLIWith(t, cfg, more, "posture", "--json")
			if code != 0 {
				t.Fatalf("posture: exit %d\n%s%s", code, out, errOut)
			}
			var r postureReport
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("posture --json: %v\n%s", err, out)
			}
			return r
		}
		base := run(map[string]string{"BULWARK_LOG_LEVEL": "info"})
		// log.level maps to ASVS only; session.staff-idle to both.
		broken := run(map[string]string{"BULWARK_LOG_LEVEL": "debug", "BULWARK_STAFF_SESSION_IDLE_TIMEOUT": "30m"})
		for _, c := range []struct {
			std string
			k   int
		}{{"pci-dss-4.0.1", 1}, {"owasp-asvs-5.0", 2}} {
			s0, p0, n0 := base.score(t, c.std)
			s1, p1, n1 := broken.score(t, c.std)
			want := float64(c.k) / float64(n0)
			if n1 != n0 || p1 != p0-c.k || math.Abs((s0-s1)-want) > 1e-12 {
				t.Errorf("%s: %d of %d → %d of %d (%v → %v), want exactly %d/%d = %v lower", c.std, p0, n0, p1, n1, s0, s1, c.k, n0, want)
			}
		}
		for _, id := range []string{"log.level", "session.staff-idle"} {
			if st, _ := base.status(t, id); st != "pass" {
				t.Errorf("%s before: %s", id, st)
			}
			if st, _ := broken.status(t, id); st != "fail" {
				t.Errorf("%s after: %s", id, st)
			}
		}
		code, out, errOut := runCLI(t, cfg, "", "findings", "list", "--type", "Policy:Posture/ScoreDropped")
		if code != 0 || !strings.Contains(out, "standard:pci-dss-4.0.1") || !strings.Contains(out, "standard:owasp-asvs-5.0") {
			t.Fatalf("findings after the drop: exit %d\n%s%s", code, out, errOut)
		}
		// Fixed again: the check's finding is resolved by the next run.
		run(map[string]string{"BULWARK_LOG_LEVEL": "info"})
		_, out, _ = runCLI(t, cfg, "", "findings", "list", "--type", "Policy:Posture/CheckFailed", "--status", "active")
		if strings.Contains(out, "check:log.level") || strings.Contains(out, "check:session.staff-idle") {
			t.Fatalf("the findings of the fixed checks are still active:\n%s", out)
		}
		// A declared baseline turns drift into a failing check; one that
		// does not parse is refused with a clear error.
		dir := t.TempDir()
		baseline := dir + "/baseline.json"
		if err := os.WriteFile(baseline, []byte(`{"waf": "block", "log-level": "info", "redis-url": ""}`), 0o600); err != nil {
			t.Fatal(err)
		}
		drifted := run(map[string]string{"BULWARK_SETTINGS_BASELINE": baseline, "BULWARK_WAF": "detect", "BULWARK_LOG_LEVEL": "info"})
		if st, detail := drifted.status(t, "settings.baseline"); st != "fail" || !strings.Contains(detail, `waf: baseline "block", running "detect"`) || strings.Contains(detail, "log-level") {
			t.Fatalf("settings.baseline with waf=detect: %s %s", st, detail)
		}
		if err := os.WriteFile(baseline, []byte(`{"waf": "block", "no-such-setting": 1}`), 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, errOut = runCLIWith(t, cfg, map[string]string{"BULWARK_SETTINGS_BASELINE": baseline}, "posture")
		if code == 0 || !strings.Contains(errOut, `settings-baseline`) || !strings.Contains(errOut, `unknown setting "no-such-setting"`) {
			t.Fatalf("a bad baseline: exit %d\n%s", code, errOut)
		}
		_, text, _ := runCLIWith(t, cfg, nil, "posture")
		if !strings.Contains(text, "remedy: ") || !strings.Contains(text, fmt.Sprintf("%-16s", "pci-dss-4.0.1")) {
			t.Fatalf("posture's text:\n%s", text)
		}
	})
}
