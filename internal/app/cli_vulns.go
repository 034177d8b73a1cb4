package app

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/inventory"
	"github.com/bulwark-shop/bulwark/internal/vulns"
)

// buildVulns checks the running build's modules and Go version against
// the vulnerability database in dir.
func buildVulns(dir string) ([]vulns.Vuln, *vulns.DB, error) {
	in, err := inventory.Read()
	if err != nil {
		return nil, nil, err
	}
	db, err := vulns.Open(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("vulns-db: %w", err)
	}
	mods := make([]vulns.Module, 0, len(in.Modules))
	for _, m := range in.Modules {
		mods = append(mods, vulns.Module{Path: m.Path, Version: m.Version})
	}
	// The packages compiled in decide (see vulns.Symbols); a binary whose
	// symbol table cannot be read is matched by module version alone
	// (more reports, none missed).
	var syms *vulns.Symbols
	if exe, err := os.Executable(); err == nil {
		syms, _ = vulns.BinarySymbols(exe)
	}
	found, err := db.Check(mods, in.Go, syms)
	if err != nil {
		return nil, db, fmt.Errorf("vulns-db: %w", err)
	}
	return found, db, nil
}

func orNone(s string) string {
	if s == "" {
		return "no release yet"
	}
	return s
}

// vulnsCmd matches the build's modules against an offline vulnerability
// database. It exits 1 when the build has known vulnerabilities, so a
// deployment pipeline can stop on it.
func vulnsCmd(args []string, env Env) error {
	fs := flag.NewFlagSet("bulwark vulns", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	dir := fs.String("db", env.Getenv("BULWARK_VULNS_DB"), "directory of the Go vulnerability database (govulncheck's layout); default: $BULWARK_VULNS_DB")
	asJSON := fs.Bool("json", false, "print the findings as JSON")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 || *dir == "" {
		return usageError{errors.New("vulns needs --db DIR (or BULWARK_VULNS_DB)")}
	}
	found, db, err := buildVulns(*dir)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if found == nil {
			found = []vulns.Vuln{}
		}
		if err := enc.Encode(struct {
			Database time.Time    `json:"database_modified"`
			Vulns    []vulns.Vuln `json:"vulns"`
		}{db.Modified(), found}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(env.Stdout, "vulnerability database of %s (a clean result is only as current as that)\n", db.Modified().Format(time.DateOnly))
		if len(found) == 0 {
			fmt.Fprintln(env.Stdout, "no known vulnerability in this build's modules")
		}
		for _, v := range found {
			fmt.Fprintf(env.Stdout, "\n%s %s\n  %s %s, fixed in %s\n  %s\n", v.ID, strings.Join(v.Aliases, " "), v.Module, v.Version, orNone(v.FixedIn), v.Summary)
			for _, p := range v.Packages {
				fmt.Fprintf(env.Stdout, "  affects %s\n", p)
			}
		}
		fmt.Fprintln(env.Stdout, "\n(matched by module version and by the vulnerable packages compiled into this binary; govulncheck on the source also tells whether the vulnerable functions are reachable)")
	}
	if len(found) > 0 {
		return errVulnerable
	}
	return nil
}

// errVulnerable is a build with known vulnerabilities: exit status 1,
// after the report.
var errVulnerable = errors.New("the build has known vulnerabilities")
