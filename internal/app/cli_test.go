package app_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/app"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

func TestMigrateCommand(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		cfg := testConfig(db)
		code, out, errOut := runCLI(t, cfg, "", "migrate")
		if code != 0 || !strings.Contains(out, "0001_foundation.sql") {
			t.Fatalf("first migrate: exit %d %q %q", code, out, errOut)
		}
		code, out, _ = runCLI(t, cfg, "", "migrate")
		if code != 0 || !strings.Contains(out, "applied 0 migrations") {
			t.Fatalf("second migrate: exit %d %q", code, out)
		}
	})
}

func TestAdminCreateCommand(t *testing.T) {
	db := testenv.Databases(t)[0]
	cfg := testConfig(db)
	t.Run("reads the password from stdin only", func(t *testing.T) {
		code, _, errOut := runCLI(t, cfg, "", "admin", "create", "--email", "a@example.com", "--password", testPassword)
		if code != 2 {
			t.Fatalf("--password accepted: exit %d %s", code, errOut)
		}
		code, _, errOut = runCLI(t, cfg, testPassword, "admin", "create", "--email", "a@example.com")
		if code != 2 || !strings.Contains(errOut, "--password-stdin") {
			t.Fatalf("without --password-stdin: exit %d %s", code, errOut)
		}
	})
	t.Run("refuses a weak password", func(t *testing.T) {
		code, _, errOut := runCLI(t, cfg, "short\n", "admin", "create", "--email", "weak@example.com", "--password-stdin")
		if code != 1 || !strings.Contains(errOut, "weak_password") {
			t.Fatalf("exit %d %s", code, errOut)
		}
	})
	t.Run("creates an admin who can sign in", func(t *testing.T) {
		code, out, errOut := runCLI(t, cfg, testPassword+"\n", "admin", "create", "--email", "Boss@Example.com", "--password-stdin")
		if code != 0 || !strings.Contains(out, "boss@example.com") {
			t.Fatalf("exit %d %q %q", code, out, errOut)
		}
		s := startServer(t, db)
		var me user
		s.must(200, req{method: "GET", path: "/api/v1/me", token: s.login("boss@example.com", testPassword)}).JSON(t, &me)
		if strings.Join(me.Roles, ",") != "customer,admin" {
			t.Fatalf("roles = %v", me.Roles)
		}
	})
}

// TestServeCommand runs `bulwark serve --demo` as the README's first command
// does, in a fresh directory with no settings but the port, and checks the demo
// catalog is served from ./data.
func TestServeCommand(t *testing.T) {
	t.Chdir(t.TempDir())
	dir := "data"
	started := make(chan app.Listeners, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var logs testenv.SyncBuffer
	env := map[string]string{"BULWARK_LISTEN": "127.0.0.1:0"}
	go func() {
		done <- app.Main(ctx, []string{"serve", "--demo", "--metrics-listen", "127.0.0.1:0"}, app.Env{
			Stdin: strings.NewReader(""), Stdout: &logs, Stderr: &logs,
			Getenv: func(k string) string { return env[k] }, Started: func(l app.Listeners) { started <- l },
		})
	}()
	var ls app.Listeners
	select {
	case ls = <-started:
	case code := <-done:
		t.Fatalf("serve exited %d: %s", code, logs.String())
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not start")
	}
	res, err := http.Get("http://" + ls.API.Addr().String() + "/api/v1/products")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("products = %d", res.StatusCode)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d after shutdown: %s", code, logs.String())
	}
	if info, err := os.Stat(filepath.Join(dir, "bulwark.db")); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("database file: %v, mode %v; want 0600", err, info.Mode().Perm())
	}
	// The KEK and eight keysets made at first start, the settings, the
	// start, four demo products and the stop.
	if code, out, _ := runCLI(t, config.Config{DataDir: dir}, "", "audit", "verify"); code != 0 || !strings.Contains(out, "16 records") {
		t.Fatalf("audit verify after demo: %d %s", code, out)
	}
}

func TestServeRefusesPlainHTTPBeyondLoopback(t *testing.T) {
	code, _, errOut := runCLI(t, config.Config{DataDir: t.TempDir()}, "", "serve", "--listen", "0.0.0.0:0")
	if code != 2 || !strings.Contains(errOut, "insecure-http") {
		t.Fatalf("exit %d %s", code, errOut)
	}
}

func TestInsecureHTTPIsLoggedAtStart(t *testing.T) {
	s := startServer(t, testenv.Databases(t)[0], func(c *config.Config) {
		c.Listen, c.InsecureHTTP = "0.0.0.0:0", true
	})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(s.URL, "http://"))
	s.URL = "http://127.0.0.1:" + port
	s.must(200, req{method: "GET", path: "/healthz"})
	if !strings.Contains(s.Logs.String(), `"level":"WARN","msg":"serving plain HTTP on a non-loopback address`) {
		t.Fatalf("no warning in the log:\n%s", s.Logs.String())
	}
}

func TestSecretsNeverFromArguments(t *testing.T) {
	code, _, errOut := runCLI(t, config.Config{DataDir: t.TempDir()}, "", "migrate", "--database-url", "postgres://shop:hunter2hunter2@127.0.0.1/shop")
	if code != 2 || strings.Contains(errOut, "hunter2hunter2") || !strings.Contains(errOut, "BULWARK_DATABASE_URL") {
		t.Fatalf("exit %d %q", code, errOut)
	}
}

func TestREADMESettingsTableIsCurrent(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), config.Markdown()) {
		t.Fatalf("README.md's settings table is stale; replace it with the output of `go run ./cmd/bulwark settings --markdown`:\n%s", config.Markdown())
	}
}

func TestKeysStatusCommand(t *testing.T) {
	s := startServer(t, testenv.Databases(t)[0])
	code, out, errOut := runCLI(t, s.Config, "", "keys", "status")
	if code != 0 || !strings.Contains(out, "key-encryption key: file kek-keyset.json") ||
		!strings.Contains(out, "vault  1 key(s)") || !strings.Contains(out, "mfa    1 key(s)") || strings.Contains(out, "IN THE CLEAR") {
		t.Fatalf("keys status: exit %d\n%s%s", code, out, errOut)
	}
}

// TestVersionAndSBOM: the real binary names its build and lists the
// modules compiled in, as JSON and as a CycloneDX SBOM, and a server's start
// record names the build (issue 15, "Inventory").
func TestVersionAndSBOM(t *testing.T) {
	bin := bulwarkBinary(t)
	out, err := exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var in struct {
		Path, Version, Go string
		Modules           []struct{ Path, Version, Sum string }
	}
	if err := json.Unmarshal(out, &in); err != nil || in.Path != "github.com/bulwark-shop/bulwark" || !strings.HasPrefix(in.Go, "go1.") {
		t.Fatalf("version --json: %v %s", err, out)
	}
	found := false
	for _, m := range in.Modules {
		found = found || (m.Path == "github.com/transparency-dev/merkle" && m.Version == "v0.0.2" && strings.HasPrefix(m.Sum, "h1:"))
	}
	if !found {
		t.Fatalf("the modules compiled in do not list transparency-dev/merkle v0.0.2: %s", out)
	}
	out, err = exec.Command(bin, "sbom").Output()
	if err != nil {
		t.Fatal(err)
	}
	var bom struct {
		BOMFormat, SpecVersion string
		Components             []struct{ PURL string }
	}
	if err := json.Unmarshal(out, &bom); err != nil || bom.BOMFormat != "CycloneDX" || len(bom.Components) != len(in.Modules) {
		t.Fatalf("sbom: %v %.400s", err, out)
	}
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		var detail string
		if err := rawDB(t, s.Config).QueryRow("SELECT detail FROM audit_records WHERE action = $1", app.ActionServerStart).Scan(&detail); err != nil || !strings.Contains(detail, "version=") || !strings.Contains(detail, "modules=") {
			t.Fatalf("the start record: %q %v", detail, err)
		}
		// Which build runs on how many instances: this one, once.
		code, out, errOut := runCLI(t, s.Config, "", "instances", "--json")
		var fleet []struct {
			Version, Modules string
			Instances        []string
		}
		if err := json.Unmarshal([]byte(out), &fleet); code != 0 || err != nil || len(fleet) != 1 || len(fleet[0].Instances) != 1 ||
			fleet[0].Modules == "unknown" || !strings.Contains(detail, "modules="+fleet[0].Modules) {
			t.Fatalf("instances: exit %d %v\n%s%s", code, err, out, errOut)
		}
	})
}
