// Package vulns checks a build's modules against an offline copy of the Go
// vulnerability database (issue 15, "Inventory"): the layout govulncheck
// reads (index/db.json, index/modules.json, ID/GO-YYYY-NNNN.json in OSV
// format), so an operator points it at the same copy they give govulncheck.
//
// The match is by module and version, narrowed when the binary's symbol
// table is given to the vulnerable packages compiled in for its platform;
// never by function: govulncheck also asks whether the vulnerable
// functions are reachable from the program, which needs the source. This
// match over-reports; it is what an instance can know about itself at run
// time, and each result lists the vulnerable packages and symbols
// (ecosystem_specific.imports) so that an operator can judge it.
//
// The database is operator input and treated as hostile: every file is
// read with a size bound, entry ids are checked before they name a file,
// and a directory that is not a vulnerability database is refused with a
// clear error.
package vulns

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/mod/semver"

	"github.com/bulwark-shop/bulwark/internal/inventory"
)

// Module is one module of the build as the inventory reads it: path and
// version ("v1.2.3"; Sum is not looked at).
type Module = inventory.Module

// Vuln is one known vulnerability of one module of the build.
type Vuln struct {
	ID       string   `json:"id"`
	Aliases  []string `json:"aliases"`
	Summary  string   `json:"summary"`
	Module   string   `json:"module"`
	Version  string   `json:"version"`
	FixedIn  string   `json:"fixed_in"` // "" when no fixed version is known
	Packages []string `json:"packages"` // "pkg: Sym1, Sym2", "pkg (on windows): Sym"
	// When the entry was published and last changed (a result that is new
	// to an operator may be an old entry newly matched).
	Published time.Time `json:"published"`
	Modified  time.Time `json:"modified"`
}

// Errors of Open and Check.
var (
	ErrNotVulnDB = errors.New("not a Go vulnerability database")
	ErrEntry     = errors.New("bad vulnerability entry")
)

// Bounds on what a database may make the reader hold. The 2026 database
// has a 0.5 MB index naming some 6,000 entries, the largest of them 8 KB:
// the bounds leave it thirty times the room and keep a hostile copy to
// tens of megabytes.
const (
	maxIndex = 16 << 20 // index/modules.json
	maxEntry = 4 << 20  // one ID/*.json
	maxRefs  = 200_000  // (module, entry) pairs in the index
)

// DB is an opened database.
type DB struct {
	dir      string
	modified time.Time
	modules  map[string][]string // module path → entry ids, sorted
}

var idShape = regexp.MustCompile(`^GO-[0-9]{4}-[0-9]{4,}$`)

// Open reads the database's index in dir. A directory that is not a Go
// vulnerability database, or whose index is over its bounds or names an
// entry by anything but an id (GO-YYYY-NNNN), is refused with an error
// that wraps ErrNotVulnDB.
func Open(dir string) (*DB, error) {
	var meta struct {
		Modified time.Time `json:"modified"`
	}
	b, err := readFile(filepath.Join(dir, "index", "db.json"), 1<<10)
	if err == nil {
		err = json.Unmarshal(b, &meta)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: index/db.json: %w", ErrNotVulnDB, dir, err)
	}
	if meta.Modified.IsZero() {
		return nil, fmt.Errorf("%w: %s: index/db.json names no modified time", ErrNotVulnDB, dir)
	}
	b, err = readFile(filepath.Join(dir, "index", "modules.json"), maxIndex)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: index/modules.json: %w", ErrNotVulnDB, dir, err)
	}
	modules, err := parseIndex(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: index/modules.json: %w", ErrNotVulnDB, dir, err)
	}
	return &DB{dir: dir, modified: meta.Modified, modules: modules}, nil
}

// parseIndex reads index/modules.json into module path → entry ids.
func parseIndex(b []byte) (map[string][]string, error) {
	var mods []struct {
		Path  string `json:"path"`
		Vulns []struct {
			ID string `json:"id"`
		} `json:"vulns"`
	}
	if err := json.Unmarshal(b, &mods); err != nil {
		return nil, err
	}
	refs := 0
	for _, m := range mods {
		refs += len(m.Vulns)
	}
	if refs > maxRefs {
		return nil, fmt.Errorf("%d entries named, more than %d", refs, maxRefs)
	}
	index := make(map[string][]string, len(mods))
	for _, m := range mods {
		for _, v := range m.Vulns {
			if !idShape.MatchString(v.ID) {
				return nil, fmt.Errorf("an entry named %q", v.ID)
			}
			index[m.Path] = append(index[m.Path], v.ID)
		}
	}
	// The real index names an entry once per range of a module; sorted
	// and compacted here rather than searched on each insert, which a
	// module naming a million ids would make quadratic.
	for p, ids := range index {
		slices.Sort(ids)
		index[p] = slices.Compact(ids)
	}
	return index, nil
}

// Modified is when the database was last changed: a clean check is only
// as current as this.
func (db *DB) Modified() time.Time { return db.modified }

// entry is the part of an OSV entry the check reads.
type entry struct {
	ID        string     `json:"id"`
	Published time.Time  `json:"published"`
	Modified  time.Time  `json:"modified"`
	Withdrawn time.Time  `json:"withdrawn"`
	Aliases   []string   `json:"aliases"`
	Summary   string     `json:"summary"`
	Affected  []affected `json:"affected"`
}

// affected is one block of an entry's "affected": a module, the version
// ranges it is vulnerable in and the packages that hold the flaw. An entry
// may name a module more than once, each time with other ranges and
// packages.
type affected struct {
	Package struct {
		Name      string `json:"name"`
		Ecosystem string `json:"ecosystem"`
	} `json:"package"`
	Ranges []struct {
		Type   string              `json:"type"`
		Events []map[string]string `json:"events"`
	} `json:"ranges"`
	EcosystemSpecific struct {
		Imports []vulnImport `json:"imports"`
	} `json:"ecosystem_specific"`
}

// vulnImport is a vulnerable package, its vulnerable functions and, when
// the flaw is only on some platforms, which.
type vulnImport struct {
	Path    string   `json:"path"`
	GOOS    []string `json:"goos"`
	GOARCH  []string `json:"goarch"`
	Symbols []string `json:"symbols"`
}

// String is how a result names it: "net/http: Server.Serve, Transport.RoundTrip",
// "path/filepath (on windows): Join", "golang.org/x/crypto/openpgp" (all of it).
func (imp vulnImport) String() string {
	s := imp.Path
	if len(imp.GOOS)+len(imp.GOARCH) > 0 {
		on := strings.Join(imp.GOOS, ", ")
		if len(imp.GOOS) > 0 && len(imp.GOARCH) > 0 {
			on += "; "
		}
		s += " (on " + on + strings.Join(imp.GOARCH, ", ") + ")"
	}
	if len(imp.Symbols) > 0 {
		s += ": " + strings.Join(imp.Symbols, ", ")
	}
	return s
}

// Check returns the vulnerabilities of mods and of the standard library
// of goVersion ("go1.26.8", matched as the database's module "stdlib" at
// "1.26.8"; "" leaves it out), sorted by id then module. Withdrawn entries
// do not count. The database's "toolchain" module is not looked at: its
// flaws are the go command's, on the machine that built the binary, not
// the binary's.
//
// With syms (the functions compiled into the binary, BinarySymbols), an
// entry that names its vulnerable packages counts only when the binary
// holds code of one of them and is built for a platform the flaw is on;
// nil syms matches by module version alone.
//
// Only the entries the index names for these modules are read; one that
// is missing, over its size bound, not JSON or not the entry its name
// says is an error wrapping ErrEntry, and no result is returned: a check
// that skipped it would report clean.
func (db *DB) Check(mods []Module, goVersion string, syms *Symbols) ([]Vuln, error) {
	all := slices.Clone(mods)
	if v := goSemver(goVersion); v != "" {
		all = append(all, Module{Path: "stdlib", Version: v})
	}
	var out []Vuln
	read := map[string]entry{} // an entry may name several modules of the build
	seen := map[Module]bool{}
	for _, m := range all {
		m = Module{Path: m.Path, Version: m.Version}
		if seen[m] {
			continue
		}
		seen[m] = true
		for _, id := range db.modules[m.Path] {
			e, ok := read[id]
			if !ok {
				var err error
				if e, err = db.entry(id); err != nil {
					return nil, err
				}
				read[id] = e
			}
			if v, imps, ok := e.affects(m); ok && syms.holdsAny(imps) {
				out = append(out, v)
			}
		}
	}
	slices.SortFunc(out, func(a, b Vuln) int {
		if c := strings.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		return strings.Compare(a.Module, b.Module)
	})
	return out, nil
}

func (db *DB) entry(id string) (entry, error) {
	if !idShape.MatchString(id) {
		return entry{}, fmt.Errorf("%w: id %q", ErrEntry, id)
	}
	b, err := readFile(filepath.Join(db.dir, "ID", id+".json"), maxEntry)
	if err != nil {
		return entry{}, fmt.Errorf("%w: %s: %w", ErrEntry, id, err)
	}
	var e entry
	if err := json.Unmarshal(b, &e); err != nil {
		return entry{}, fmt.Errorf("%w: %s: %w", ErrEntry, id, err)
	}
	if e.ID != id {
		return entry{}, fmt.Errorf("%w: %s.json holds %q", ErrEntry, id, e.ID)
	}
	return e, nil
}

// parseEntry parses one OSV entry as Check reads it and evaluates it for
// each package it names at every version its events name, on one platform
// (the fuzz target's way in).
func parseEntry(b []byte) error {
	var e entry
	if err := json.Unmarshal(b, &e); err != nil {
		return err
	}
	onLinux := &Symbols{goos: "linux", goarch: "amd64"}
	for _, a := range e.Affected {
		for _, r := range a.Ranges {
			for _, ev := range r.Events {
				for _, at := range ev {
					_, imps, _ := e.affects(Module{Path: a.Package.Name, Version: "v" + strings.TrimPrefix(at, "v")})
					onLinux.holdsAny(imps)
				}
			}
		}
	}
	return nil
}

// affects reports whether e affects m and how, with the vulnerable
// packages of the blocks whose ranges hold m's version (nil: the whole
// module): a block of other versions neither decides nor names what to
// look at.
func (e entry) affects(m Module) (Vuln, []vulnImport, bool) {
	if !e.Withdrawn.IsZero() {
		return Vuln{}, nil, false
	}
	var imps []vulnImport
	in, whole, fixes := false, false, []string{}
	for _, a := range e.Affected {
		if a.Package.Name != m.Path {
			continue
		}
		for _, r := range a.Ranges {
			if r.Type != "SEMVER" {
				continue
			}
			if ok, fixed := inRange(m.Version, r.Events); ok {
				in, fixes = true, append(fixes, fixed)
				imps = append(imps, a.EcosystemSpecific.Imports...)
				whole = whole || len(a.EcosystemSpecific.Imports) == 0
				break
			}
		}
	}
	if !in {
		return Vuln{}, nil, false
	}
	v := Vuln{ID: e.ID, Aliases: e.Aliases, Summary: e.Summary, Module: m.Path, Version: m.Version, Published: e.Published, Modified: e.Modified}
	// Fixed only in a version past every range that holds it; not at all
	// while one of them has no fix.
	if !slices.Contains(fixes, "") {
		v.FixedIn = slices.MaxFunc(fixes, func(a, b string) int { return semver.Compare("v"+a, "v"+b) })
	}
	for _, imp := range imps {
		if s := imp.String(); !slices.Contains(v.Packages, s) {
			v.Packages = append(v.Packages, s)
		}
	}
	if whole {
		imps = nil // a block naming no package: the whole module is vulnerable
	}
	return v, imps, true
}

// inRange evaluates OSV SEMVER events (sorted by version as the spec
// requires; sorted again here, as input is not trusted): version is
// affected from an "introduced" until the next "fixed" (excluded) or
// "last_affected" (included). A range that says where it ends but not
// where it starts is taken to start at "0": the spec requires an
// "introduced", and reading its absence as "from the first version"
// reports more rather than less. Events that are not versions are
// ignored. fixed is the fixed version of the range that holds it.
func inRange(version string, events []map[string]string) (bool, string) {
	v := canonical(version)
	if v == "" {
		return false, ""
	}
	type ev struct{ kind, at string }
	var evs []ev
	for _, e := range events {
		// In a fixed order, not the map's: an event naming two kinds at one
		// version must evaluate the same way every time.
		for _, kind := range []string{"introduced", "fixed", "last_affected"} {
			at, ok := e[kind]
			if !ok {
				continue
			}
			if kind == "introduced" && at == "0" {
				// Below every version, pseudo-versions (v0.0.0-2020…) too.
				evs = append(evs, ev{kind, "v0.0.0-0"})
				continue
			}
			if c := canonical(at); c != "" {
				evs = append(evs, ev{kind, c})
			}
		}
	}
	if len(evs) > 0 && !slices.ContainsFunc(evs, func(e ev) bool { return e.kind == "introduced" }) {
		evs = append(evs, ev{"introduced", "v0.0.0-0"})
	}
	slices.SortStableFunc(evs, func(a, b ev) int { return semver.Compare(a.at, b.at) })
	affected := false
	for _, e := range evs {
		switch e.kind {
		case "introduced":
			if semver.Compare(v, e.at) >= 0 {
				affected = true
			}
		case "fixed":
			if semver.Compare(v, e.at) >= 0 {
				affected = false
			} else if affected {
				return true, strings.TrimPrefix(e.at, "v")
			}
		case "last_affected":
			if semver.Compare(v, e.at) > 0 {
				affected = false
			} else if affected {
				return true, ""
			}
		}
	}
	return affected, ""
}

// Symbols is the set of functions a binary holds, by package, and the
// platform it was built for when known.
type Symbols struct {
	funcs        map[string]map[string]bool // package path → function names ("T.M", "F")
	goos, goarch string                     // "" when not known
}

// NewSymbols makes a set from qualified names as the symbol table writes
// them: "net/http.(*Server).Serve", "encoding/json.Unmarshal".
func NewSymbols(names []string) *Symbols {
	s := &Symbols{funcs: map[string]map[string]bool{}}
	for _, n := range names {
		pkg, fn := splitSymbol(n)
		if pkg == "" {
			continue
		}
		if s.funcs[pkg] == nil {
			s.funcs[pkg] = map[string]bool{}
		}
		s.funcs[pkg][fn] = true
	}
	return s
}

// Len is how many functions the set holds.
func (s *Symbols) Len() int {
	n := 0
	for _, fns := range s.funcs {
		n += len(fns)
	}
	return n
}

// splitSymbol splits "a/b.c.(*T).M" into "a/b.c" and "T.M": the package is
// up to the first dot after the last slash.
func splitSymbol(n string) (pkg, fn string) {
	slash := strings.LastIndexByte(n, '/')
	dot := strings.IndexByte(n[slash+1:], '.')
	if dot < 0 {
		return "", ""
	}
	pkg, fn = n[:slash+1+dot], n[slash+1+dot+1:]
	fn = strings.NewReplacer("(*", "", "(", "", ")", "").Replace(fn)
	// Generic instantiations and closures: "F[...]" and "F.func1" count as F.
	if i := strings.IndexByte(fn, '['); i >= 0 {
		fn = fn[:i]
	}
	return pkg, fn
}

// holdsAny reports whether the binary holds code of one of the vulnerable
// packages imps for its platform (true without a symbol set, or when imps
// is empty: the module as a whole). The package decides, not the
// function: the compiler inlines small functions into their callers, and
// the symbol table lists only what was not inlined, so a vulnerable
// function missing from it may still be in the binary. A package with no
// code at all in the binary cannot be, nor can a flaw of another platform.
func (s *Symbols) holdsAny(imps []vulnImport) bool {
	if s == nil || len(imps) == 0 {
		return true
	}
	for _, imp := range imps {
		if s.runsOn(imp) && len(s.funcs[imp.Path]) > 0 {
			return true
		}
	}
	return false
}

// runsOn reports whether the binary is built for a platform imp's flaw is
// on (true when either side does not say).
func (s *Symbols) runsOn(imp vulnImport) bool {
	return (s.goos == "" || len(imp.GOOS) == 0 || slices.Contains(imp.GOOS, s.goos)) &&
		(s.goarch == "" || len(imp.GOARCH) == 0 || slices.Contains(imp.GOARCH, s.goarch))
}

// canonical turns an OSV version ("1.2.3", no "v") into a Go semantic
// version, "" when it is not one.
func canonical(s string) string {
	if !strings.HasPrefix(s, "v") {
		s = "v" + s
	}
	if !semver.IsValid(s) {
		return ""
	}
	return s
}

// goSemver turns a Go version ("go1.26.8", "go1.27rc2") into the
// database's stdlib version ("v1.26.8", "v1.27.0-rc.2": the database
// writes pre-releases as "1.27.0-rc.3", and "rc2" would sort after
// "rc.3"), "" when it is not one.
func goSemver(g string) string {
	g = strings.TrimPrefix(g, "go")
	if i := strings.IndexAny(g, " -+"); i >= 0 {
		g = g[:i] // "go1.26.8 X:boringcrypto", "go1.26.8-bigcorp"
	}
	pre := ""
	for _, p := range []string{"rc", "beta"} {
		if i := strings.Index(g, p); i > 0 {
			pre = "-" + p
			if n := g[i+len(p):]; n != "" {
				pre += "." + n
			}
			g = g[:i]
		}
	}
	if strings.Count(g, ".") == 1 {
		g += ".0"
	}
	return canonical(g + pre)
}

// readFile reads the regular file at path, refusing one larger than limit.
// It opens without blocking and checks what it opened: a FIFO in the
// database's place would otherwise hang the check on open or read.
func readFile(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}
