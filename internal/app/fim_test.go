package app_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// File integrity: a signed baseline of the monitored files, made by an
// audited command; the running server sees a change to one, and a file
// dropped into the data directory, as findings and audit records within
// 2 s; an edited baseline is refused; re-baselining is explicit.
func TestFIM(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		watched := filepath.Join(t.TempDir(), "shop.conf")
		if err := os.WriteFile(watched, []byte("waf=block\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		adjust := func(c *config.Config) { c.FIMPaths = watched }
		cfg := testConfig(db)
		adjust(&cfg)
		env := map[string]string{"BULWARK_FIM_PATHS": watched}
		code, out, errOut := runCLIWith(t, cfg, env, "fim", "baseline")
		if code != 0 || !strings.Contains(out, watched) || !strings.Contains(out, "directory layout") {
			t.Fatalf("fim baseline: exit %d\n%s%s", code, out, errOut)
		}
		if code, out, errOut := runCLIWith(t, cfg, env, "fim", "check"); code != 0 || !strings.Contains(out, ": 0 changes") {
			t.Fatalf("fim check right after: exit %d\n%s%s", code, out, errOut)
		}

		s := startServer(t, db, adjust)
		admin := s.createAdmin("fim@example.com")
		time.Sleep(300 * time.Millisecond) // the watch is set up
		if err := os.WriteFile(watched, []byte("waf=off\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		dropped := filepath.Join(cfg.DataDir, "dropper.sh")
		if err := os.WriteFile(dropped, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		var found struct {
			Items []struct {
				Subject  struct{ Kind, ID string }
				Severity int
				Evidence map[string]string
			}
		}
		deadline := time.Now().Add(2 * time.Second)
		for {
			s.must(200, req{method: "GET", path: "/api/v1/admin/findings?type=Integrity:File/Changed", token: admin}).JSON(t, &found)
			got := map[string]string{}
			for _, f := range found.Items {
				got[f.Subject.ID] = f.Evidence["change"]
			}
			if got[watched] == "modified" && got[dropped] == "added" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("within 2 s of the changes, findings: %+v", found.Items)
			}
			time.Sleep(50 * time.Millisecond)
		}
		var audit struct {
			Items []struct{ Target, Detail string }
		}
		s.must(200, req{method: "GET", path: "/api/v1/admin/audit?action=fim.change", token: admin}).JSON(t, &audit)
		if len(audit.Items) < 2 {
			t.Fatalf("fim.change records: %+v", audit.Items)
		}
		var st struct {
			Status  string
			Entries int
			Changes []struct{ Path, Kind string }
		}
		s.must(200, req{method: "GET", path: "/api/v1/admin/fim", token: admin}).JSON(t, &st)
		if st.Status != "changed" || len(st.Changes) != 2 {
			r := s.must(200, req{method: "GET", path: "/api/v1/admin/fim", token: admin})
			t.Fatalf("GET /admin/fim: %+v\n%s", st, r.Body)
		}
		if code, out, _ := runCLIWith(t, cfg, env, "fim", "check"); code == 0 || !strings.Contains(out, "dropper.sh") {
			t.Fatalf("fim check after the changes: exit %d\n%s", code, out)
		}

		// An edited baseline does not verify: refused everywhere.
		path := filepath.Join(cfg.DataDir, "fim-baseline.json")
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(strings.Replace(string(raw), `"mode":"600"`, `"mode":"644"`, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, _, errOut := runCLIWith(t, cfg, env, "fim", "check"); code == 0 || !strings.Contains(errOut, "signature does not verify") {
			t.Fatalf("fim check of an edited baseline: exit %d\n%s", code, errOut)
		}
		s.must(200, req{method: "GET", path: "/api/v1/admin/fim", token: admin}).JSON(t, &st)
		if st.Status != "invalid" {
			t.Fatalf("GET /admin/fim with an edited baseline: %+v", st)
		}

		// Re-baselining is an explicit, audited act.
		os.Remove(dropped)
		if code, _, errOut := runCLIWith(t, cfg, env, "fim", "baseline"); code != 0 {
			t.Fatalf("fim baseline again: %s", errOut)
		}
		if code, out, errOut := runCLIWith(t, cfg, env, "fim", "check"); code != 0 {
			t.Fatalf("fim check after re-baselining: exit %d\n%s%s", code, out, errOut)
		}
		s.must(200, req{method: "GET", path: "/api/v1/admin/audit?action=fim.baseline", token: admin}).JSON(t, &audit)
		if len(audit.Items) != 2 {
			t.Fatalf("fim.baseline records: %+v", audit.Items)
		}
	})
}

// TestFIMWatchesTheTheme: the pages' theme (web-theme-dir) is in the
// baseline, content and all: an edited stylesheet is a change.
func TestFIMWatchesTheTheme(t *testing.T) {
	onEngine(t, "sqlite", func(t *testing.T, db testenv.Database) {
		theme := t.TempDir()
		css := filepath.Join(theme, "site.css")
		if err := os.WriteFile(css, []byte("body { color: #111; }\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := testConfig(db)
		cfg.WebThemeDir = theme
		env := map[string]string{"BULWARK_WEB_THEME_DIR": theme}
		if code, out, errOut := runCLIWith(t, cfg, env, "fim", "baseline"); code != 0 || !strings.Contains(out, theme) {
			t.Fatalf("fim baseline: exit %d\n%s%s", code, out, errOut)
		}
		if code, out, _ := runCLIWith(t, cfg, env, "fim", "check"); code != 0 {
			t.Fatalf("fim check right after: exit %d\n%s", code, out)
		}
		if err := os.WriteFile(css, []byte("body { background: url(https://evil.example/x); }\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if code, out, _ := runCLIWith(t, cfg, env, "fim", "check"); code == 0 || !strings.Contains(out, "site.css") {
			t.Fatalf("fim check after the stylesheet changed: exit %d\n%s", code, out)
		}
	})
}
