package app_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/keys"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// TestCommandsOnUnmigratedDatabase runs the maintenance commands on a data
// directory that does not exist and a database never migrated: each says the
// database is not initialised, exits non-zero and creates nothing (no
// directory, no database file, no KEK, no audit record). After `migrate`,
// `keys status` still makes no KEK: the first start does, audited.
func TestCommandsOnUnmigratedDatabase(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		cfg := testConfig(db)
		cfg.DataDir = filepath.Join(t.TempDir(), "never-used")
		for _, args := range [][]string{{"keys", "status"}, {"audit", "verify"}, {"keys", "rotate-kek"}} {
			code, out, errOut := runCLI(t, cfg, "", args...)
			if code == 0 || !strings.Contains(errOut, "database not initialised: run bulwark migrate or serve first") {
				t.Fatalf("%s on an unmigrated database: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
			}
			if strings.Contains(out+errOut, "NOT intact") || strings.Contains(errOut, "no such table") || strings.Contains(errOut, "SQLSTATE") {
				t.Fatalf("%s: a raw error instead of a clear one:\n%s", strings.Join(args, " "), errOut)
			}
			if _, err := os.Stat(cfg.DataDir); !os.IsNotExist(err) {
				t.Fatalf("%s created the data directory (%v)", strings.Join(args, " "), err)
			}
		}
		if code, out, errOut := runCLI(t, cfg, "", "migrate"); code != 0 {
			t.Fatalf("migrate: %d %s %s", code, out, errOut)
		}
		// Nothing was written to the database by the refused commands.
		if code, out, errOut := runCLI(t, cfg, "", "audit", "verify"); code != 0 || !strings.Contains(out, "audit trail intact: 0 records verified") {
			t.Fatalf("audit verify after migrate: %d %s %s", code, out, errOut)
		}
		code, out, errOut := runCLI(t, cfg, "", "keys", "status")
		if code != 0 || !strings.Contains(out, "key-encryption key: none yet") {
			t.Fatalf("keys status before the first start: %d %s %s", code, out, errOut)
		}
		if keys.KEKFileExists(cfg.DataDir) {
			t.Fatal("keys status made a KEK")
		}
	})
}

// TestServeMakesAMissingDataDirectory: serve on PostgreSQL with a data
// directory that does not exist makes it, private, and starts.
func TestServeMakesAMissingDataDirectory(t *testing.T) {
	dbs := testenv.Databases(t)
	if len(dbs) < 2 {
		t.Skip("needs PostgreSQL: " + testenv.DatabaseURLVar + " is not set")
	}
	dir := filepath.Join(t.TempDir(), "missing", "data")
	s := startServer(t, dbs[1], func(c *config.Config) { c.DataDir = dir })
	s.must(200, req{method: "GET", path: "/healthz"})
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("data directory: %v, mode %v; want it made with 0700", err, st)
	}
	if !keys.KEKFileExists(dir) {
		t.Fatal("no KEK in the data directory made at start")
	}
}
