package app_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// writeVulnDB writes a vulnerability database (govulncheck's layout) with
// an entry affecting every version of golang.org/x/crypto's argon2, which
// the shop hashes passwords with, and one in its ssh package, which the
// shop does not compile in.
func writeVulnDB(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"index/db.json":      `{"modified":"2026-11-30T00:00:00Z"}`,
		"index/modules.json": `[{"path":"golang.org/x/crypto","vulns":[{"id":"GO-2099-0001","modified":"2026-11-30T00:00:00Z"},{"id":"GO-2099-0002","modified":"2026-11-30T00:00:00Z"}]}]`,
		"ID/GO-2099-0001.json": `{"id":"GO-2099-0001","modified":"2026-11-30T00:00:00Z","aliases":["CVE-2099-0001"],"summary":"A flaw in argon2",
			"affected":[{"package":{"name":"golang.org/x/crypto","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"99.0.0"}]}],
			"ecosystem_specific":{"imports":[{"path":"golang.org/x/crypto/argon2","symbols":["IDKey"]}]}}]}`,
		"ID/GO-2099-0002.json": `{"id":"GO-2099-0002","modified":"2026-11-30T00:00:00Z","summary":"A flaw in ssh",
			"affected":[{"package":{"name":"golang.org/x/crypto","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}],
			"ecosystem_specific":{"imports":[{"path":"golang.org/x/crypto/ssh","symbols":["Dial"]}]}}]}`,
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// bulwark vulns names a known vulnerability of a function compiled into
// the build, not one of a package it leaves out, and exits 1; posture
// fails its check, a finding; a database that is not one is refused.
func TestVulns(t *testing.T) {
	dir := writeVulnDB(t)
	// The real binary: a test binary's build information lists no modules.
	cmd := exec.Command(bulwarkBinary(t), "vulns", "--db", dir, "--json")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run() // exit status 1 is the answer
	code, out, errOut := cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
	if code != 1 {
		t.Fatalf("vulns: exit %d, want 1\n%s%s", code, out, errOut)
	}
	var rep struct {
		Vulns []struct{ ID, Module, Version string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(rep.Vulns) != 1 || rep.Vulns[0].ID != "GO-2099-0001" || rep.Vulns[0].Module != "golang.org/x/crypto" || rep.Vulns[0].Version == "" {
		t.Fatalf("vulns: %+v", rep.Vulns)
	}
	if code, _, errOut := runCLIWith(t, testConfig(testenv.Database{}), nil, "vulns", "--db", t.TempDir()); code == 0 || !strings.Contains(errOut, "not a Go vulnerability database") {
		t.Fatalf("an empty directory: exit %d, %s", code, errOut)
	}

	// The real binary's posture: the check fails naming the entry, and
	// the failure is a finding.
	data := t.TempDir()
	cmd = exec.Command(bulwarkBinary(t), "posture", "--json")
	cmd.Env = append(os.Environ(), "BULWARK_DATA_DIR="+data, "BULWARK_VULNS_DB="+dir, "BULWARK_LISTEN=127.0.0.1:1", "BULWARK_METRICS_LISTEN=")
	posture, err := cmd.Output()
	if err != nil {
		t.Fatalf("posture: %v\n%s", err, posture)
	}
	var real postureReport
	if err := json.Unmarshal(posture, &real); err != nil {
		t.Fatalf("%v\n%s", err, posture)
	}
	if st, detail := real.status(t, "build.vulnerabilities"); st != "fail" || !strings.Contains(detail, "GO-2099-0001") || strings.Contains(detail, "GO-2099-0002") {
		t.Fatalf("build.vulnerabilities of the real binary: %s %s", st, detail)
	}

	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		// Posture in the test's process (its build information lists no
		// modules, so only a corrupt database can fail the check here).
		cfg := testConfig(db)
		var r postureReport
		_, out, _ := runCLIWith(t, cfg, map[string]string{"BULWARK_VULNS_DB": t.TempDir()}, "posture", "--json")
		r = postureReport{}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		if st, detail := r.status(t, "build.vulnerabilities"); st != "fail" || !strings.Contains(detail, "not a Go vulnerability database") {
			t.Fatalf("a corrupt database: %s %s", st, detail)
		}
		code, out, _ = runCLI(t, cfg, "", "findings", "list", "--type", "Policy:Posture/CheckFailed")
		if code != 0 || !strings.Contains(out, "check:build.vulnerabilities") {
			t.Fatalf("findings:\n%s", out)
		}
	})
}
