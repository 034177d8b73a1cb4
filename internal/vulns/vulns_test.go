package vulns_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/vulns"
)

func open(t *testing.T) *vulns.DB {
	t.Helper()
	db, err := vulns.Open("testdata/vulndb")
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestCheck(t *testing.T) {
	db := open(t)
	if db.Modified().Year() != 2026 {
		t.Errorf("modified %s", db.Modified())
	}
	for _, c := range []struct {
		name, path, version, goVersion string
		want                           []string // ids
		fixed                          string
	}{
		{"below the first fix", "example.com/lib", "v1.1.9", "", []string{"GO-2024-0001"}, "1.2.0"},
		{"at the first fix", "example.com/lib", "v1.2.0", "", nil, ""},
		{"between the ranges", "example.com/lib", "v1.4.0", "", nil, ""},
		{"in the second range", "example.com/lib", "v1.5.2", "", []string{"GO-2024-0001"}, "1.5.3"},
		{"at the second fix", "example.com/lib", "v1.5.3", "", nil, ""},
		{"at last_affected", "example.com/lib", "v2.0.0", "", []string{"GO-2024-0002"}, ""},
		{"after last_affected", "example.com/lib", "v2.0.1", "", nil, ""},
		{"a pseudo-version", "example.com/lib", "v1.1.1-0.20240101000000-abcdefabcdef", "", []string{"GO-2024-0001"}, "1.2.0"},
		{"a module the database does not name", "example.com/safe", "v0.0.1", "", nil, ""},
		{"the standard library, affected", "", "", "go1.24.4", []string{"GO-2025-0100"}, "1.24.5"},
		{"the standard library, fixed", "", "", "go1.24.5", nil, ""},
		{"the standard library, older line fixed", "", "", "go1.23.11", nil, ""},
		{"the standard library, a release candidate", "", "", "go1.24rc1", []string{"GO-2025-0100"}, "1.24.5"},
		{"the standard library, an experiment named after the version", "", "", "go1.24.4 X:boringcrypto", []string{"GO-2025-0100"}, "1.24.5"},
		{"the standard library, a release candidate before the fixed one", "", "", "go1.25rc2", []string{"GO-2025-0101"}, "1.25.0-rc.3"},
		{"the standard library, the fixed release candidate", "", "", "go1.25rc3", nil, ""},
		{"the standard library, a later release candidate", "", "", "go1.25rc10", nil, ""},
		{"the standard library, a beta before it", "", "", "go1.25beta1", []string{"GO-2025-0101"}, "1.25.0-rc.3"},
		{"the standard library, the release after it", "", "", "go1.25.0", nil, ""},
		{"the standard library, a minor version without its .0", "", "", "go1.25", nil, ""},
		{"a development toolchain is not matched", "", "", "devel go1.27-abcdef", nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var mods []vulns.Module
			if c.path != "" {
				mods = append(mods, vulns.Module{Path: c.path, Version: c.version})
			}
			got, err := db.Check(mods, c.goVersion, nil)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, v := range got {
				ids = append(ids, v.ID)
			}
			if strings.Join(ids, ",") != strings.Join(c.want, ",") {
				t.Fatalf("%v, want %v", ids, c.want)
			}
			if len(got) == 1 && got[0].FixedIn != c.fixed {
				t.Fatalf("fixed in %q, want %q", got[0].FixedIn, c.fixed)
			}
		})
	}
	t.Run("a result says what it is", func(t *testing.T) {
		got, err := db.Check([]vulns.Module{{Path: "example.com/lib", Version: "v1.0.0"}}, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		want := vulns.Vuln{ID: "GO-2024-0001", Aliases: []string{"CVE-2024-0001"}, Summary: "Two ranges in example.com/lib",
			Module: "example.com/lib", Version: "v1.0.0", FixedIn: "1.2.0", Packages: []string{"example.com/lib/parse: Parse, Decoder.Decode"},
			Published: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), Modified: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)}
		if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
			t.Fatalf("%+v\nwant %+v", got, want)
		}
	})
	t.Run("results in order of id then module, each once", func(t *testing.T) {
		mods := []vulns.Module{
			{Path: "example.com/multi", Version: "v1.0.0"},
			{Path: "example.com/lib", Version: "v2.0.0"},
			{Path: "example.com/lib", Version: "v2.0.0"},
			{Path: "example.com/lib", Version: "v1.0.0"},
		}
		got, err := db.Check(mods, "go1.24.4", nil)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, v := range got {
			keys = append(keys, v.ID+" "+v.Module+"@"+v.Version)
		}
		want := []string{"GO-2024-0001 example.com/lib@v1.0.0", "GO-2024-0002 example.com/lib@v2.0.0", "GO-2024-0005 example.com/multi@v1.0.0", "GO-2025-0100 stdlib@v1.24.4"}
		if !slices.Equal(keys, want) {
			t.Fatalf("%q\nwant %q", keys, want)
		}
	})
}

// With the binary's symbols, an entry counts only when the binary holds
// code of a package it names (a function may have been inlined away).
func TestCheckBySymbols(t *testing.T) {
	db := open(t)
	mods := []vulns.Module{{Path: "example.com/lib", Version: "v1.0.0"}}
	for _, c := range []struct {
		name string
		syms []string
		want int
	}{
		{"the vulnerable method", []string{"example.com/lib/parse.(*Decoder).Decode"}, 1},
		{"another function of the package (the vulnerable one may be inlined)", []string{"example.com/lib/parse.Format"}, 1},
		{"a package whose path extends it", []string{"example.com/lib/parser.Parse"}, 0},
		{"the module, not the package", []string{"example.com/lib.Open"}, 0},
		{"nothing of it", []string{"main.main"}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := db.Check(mods, "", vulns.NewSymbols(c.syms))
			if err != nil || len(got) != c.want {
				t.Fatalf("%d found (%v), want %d", len(got), err, c.want)
			}
		})
	}
	// The test binary's own symbol table is read.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	syms, err := vulns.BinarySymbols(exe)
	if err != nil {
		t.Fatal(err)
	}
	if syms.Len() < 1000 {
		t.Fatalf("%d functions read from the test binary", syms.Len())
	}
	if goos, goarch := syms.Platform(); goos != runtime.GOOS || goarch != runtime.GOARCH {
		t.Fatalf("the test binary read as built for %s/%s", goos, goarch)
	}
	std := []vulns.Module{}
	got, err := db.Check(std, "go1.24.4", syms)
	if err != nil || len(got) != 0 {
		t.Fatalf("net/http's Server.Serve is not in this test binary, yet: %v %v", got, err)
	}
	if got, _ := db.Check(std, "go1.24.4", vulns.NewSymbols([]string{"net/http.(*conn).serve"})); len(got) != 1 {
		t.Fatalf("a binary serving HTTP: %v", got)
	}
	if _, err := vulns.BinarySymbols("testdata/vulndb/index/db.json"); err == nil {
		t.Fatal("a JSON file read as a binary")
	}
}

// An entry may name a module in several blocks, each with its ranges and
// packages: only the blocks whose ranges hold the version count, for the
// fixed version, the packages listed and the packages looked for.
func TestCheckAModuleNamedInSeveralBlocks(t *testing.T) {
	db := open(t)
	const client, extra = "example.com/multi/client.(*Client).Get", "example.com/multi/extra.Do"
	for _, c := range []struct {
		name, version string
		syms          []string // nil: by module version alone
		goos          string
		want          bool
		fixed         string
		packages      []string
	}{
		{"in the first block only", "v1.0.0", nil, "", true, "1.3.4", []string{"example.com/multi/client: Client.Get"}},
		{"in both: fixed past both", "v1.2.5", nil, "", true, "1.4.2", []string{"example.com/multi/client: Client.Get", "example.com/multi/extra (on windows): Do"}},
		{"in the second block only", "v1.4.0", nil, "", true, "1.4.2", []string{"example.com/multi/extra (on windows): Do"}},
		{"past both", "v1.4.2", nil, "", false, "", nil},
		{"the first block's package compiled in", "v1.0.0", []string{client}, "", true, "1.3.4", nil},
		{"only another block's package compiled in", "v1.0.0", []string{extra}, "", false, "", nil},
		{"a Windows-only flaw in a binary of unknown platform", "v1.4.0", []string{extra}, "", true, "1.4.2", nil},
		{"a Windows-only flaw in a Windows binary", "v1.4.0", []string{extra}, "windows", true, "1.4.2", nil},
		{"a Windows-only flaw in a Linux binary", "v1.4.0", []string{extra}, "linux", false, "", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var syms *vulns.Symbols
			if c.syms != nil {
				syms = vulns.NewSymbols(c.syms)
				syms.SetPlatform(c.goos, "amd64")
			}
			got, err := db.Check([]vulns.Module{{Path: "example.com/multi", Version: c.version}}, "", syms)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) > 1 || (len(got) == 1) != c.want {
				t.Fatalf("%+v, want it found: %v", got, c.want)
			}
			if !c.want {
				return
			}
			if got[0].FixedIn != c.fixed {
				t.Errorf("fixed in %q, want %q", got[0].FixedIn, c.fixed)
			}
			if c.packages != nil && !slices.Equal(got[0].Packages, c.packages) {
				t.Errorf("packages %q, want %q", got[0].Packages, c.packages)
			}
		})
	}
}

// A database whose file names another id than its own is refused when read.
func TestCheckRefusesAMismatchedEntry(t *testing.T) {
	_, err := open(t).Check([]vulns.Module{{Path: "example.com/other", Version: "v0.1.0"}}, "", nil)
	if !errors.Is(err, vulns.ErrEntry) {
		t.Fatalf("err %v", err)
	}
}

// mustWriteDB writes files (name → body; a nil body makes a FIFO) into a
// new directory and returns it.
func mustWriteDB(tb testing.TB, files map[string]*string) string {
	tb.Helper()
	dir := tb.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			tb.Fatal(err)
		}
		var err error
		if body == nil {
			err = syscall.Mkfifo(p, 0o600)
		} else {
			err = os.WriteFile(p, []byte(*body), 0o600)
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

func ptr(s string) *string { return &s }

const dbJSON = `{"modified":"2026-01-01T00:00:00Z"}`

func TestOpenRefusesWhatIsNotADatabase(t *testing.T) {
	manyIDs := func(n int) string {
		var b strings.Builder
		b.WriteString(`[{"path":"x","vulns":[`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"id":"GO-2024-%07d"}`, i)
		}
		b.WriteString(`]}]`)
		return b.String()
	}
	for _, c := range []struct {
		name  string
		files map[string]*string
	}{
		{"empty directory", nil},
		{"no modules index", map[string]*string{"index/db.json": ptr(dbJSON)}},
		{"db.json not JSON", map[string]*string{"index/db.json": ptr("garbage"), "index/modules.json": ptr("[]")}},
		{"db.json without a time", map[string]*string{"index/db.json": ptr("{}"), "index/modules.json": ptr("[]")}},
		{"modules not a list", map[string]*string{"index/db.json": ptr(dbJSON), "index/modules.json": ptr(`{"a":1}`)}},
		{"an entry id that is a path", map[string]*string{"index/db.json": ptr(dbJSON), "index/modules.json": ptr(`[{"path":"x","vulns":[{"id":"../../etc/passwd"}]}]`)}},
		{"an entry id with a path after it", map[string]*string{"index/db.json": ptr(dbJSON), "index/modules.json": ptr(`[{"path":"x","vulns":[{"id":"GO-2024-0001/../../x"}]}]`)}},
		{"an oversized index", map[string]*string{"index/db.json": ptr(dbJSON), "index/modules.json": ptr("[" + strings.Repeat(" ", 16<<20) + "]")}},
		{"an index naming too many entries", map[string]*string{"index/db.json": ptr(dbJSON), "index/modules.json": ptr(manyIDs(200_001))}},
		{"a FIFO for the index (would block a plain open)", map[string]*string{"index/db.json": ptr(dbJSON), "index/modules.json": nil}},
		{"a FIFO for db.json", map[string]*string{"index/db.json": nil, "index/modules.json": ptr("[]")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := vulns.Open(mustWriteDB(t, c.files)); !errors.Is(err, vulns.ErrNotVulnDB) {
				t.Fatalf("err %v", err)
			}
		})
	}
	t.Run("a module naming the most entries allowed is read in linear time", func(t *testing.T) {
		// A ratio, not a wall-clock bound (the machine may be busy): four
		// times the entries must take well under the sixteen times a
		// quadratic read would (a search on each insert took minutes).
		open := func(n int) time.Duration {
			dir := mustWriteDB(t, map[string]*string{"index/db.json": ptr(dbJSON), "index/modules.json": ptr(manyIDs(n))})
			best := time.Duration(1<<63 - 1)
			for range 2 {
				start := time.Now()
				if _, err := vulns.Open(dir); err != nil {
					t.Fatal(err)
				}
				best = min(best, time.Since(start))
			}
			return best
		}
		small, large := open(50_000), open(200_000)
		t.Logf("50,000 entries in %s, 200,000 in %s (%.1f×)", small, large, float64(large)/float64(small))
		if large > 10*small {
			t.Fatalf("4× the entries took %.1f× the time: not linear", float64(large)/float64(small))
		}
	})
}

// An entry file that is not what the index promises is refused when
// Check reads it, with ErrEntry.
func TestCheckRefusesABadEntry(t *testing.T) {
	index := `[{"path":"example.com/lib","vulns":[{"id":"GO-2024-0001"}]}]`
	for _, c := range []struct {
		name   string
		entry  *string // nil: a FIFO
		absent bool
	}{
		{"missing", nil, true},
		{"not JSON", ptr("{"), false},
		{"oversized", ptr(`{"id":"GO-2024-0001","summary":"` + strings.Repeat("a", 4<<20) + `"}`), false},
		{"a FIFO (would block a plain open)", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			files := map[string]*string{"index/db.json": ptr(dbJSON), "index/modules.json": &index, "ID/GO-2024-0001.json": c.entry}
			if c.absent {
				delete(files, "ID/GO-2024-0001.json")
			}
			db, err := vulns.Open(mustWriteDB(t, files))
			if err != nil {
				t.Fatal(err)
			}
			_, err = db.Check([]vulns.Module{{Path: "example.com/lib", Version: "v1.0.0"}}, "", nil)
			if !errors.Is(err, vulns.ErrEntry) {
				t.Fatalf("err %v", err)
			}
		})
	}
}

func FuzzVulnsEntry(f *testing.F) {
	b, _ := os.ReadFile("testdata/vulndb/ID/GO-2024-0001.json")
	f.Add(b)
	f.Add([]byte(`{"affected":[{"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"x"}]}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = vulns.ParseEntry(b) // never panics, whatever it is given
	})
}

func FuzzVulnsIndex(f *testing.F) {
	b, _ := os.ReadFile("testdata/vulndb/index/modules.json")
	f.Add(b)
	f.Add([]byte(`[{"path":"x","vulns":[{"id":"../../etc/passwd"}]}]`))
	f.Add([]byte(`[{"path":"x","vulns":[{"id":"GO-2024-0001"},{"id":"GO-2024-0001"},{"id":"GO-2023-0001"}]}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		index, err := vulns.ParseIndex(b)
		if err != nil {
			return
		}
		// Whatever it accepts names entries by id alone, never a path.
		for _, ids := range index {
			for _, id := range ids {
				if !regexp.MustCompile(`^GO-[0-9]{4}-[0-9]{4,}$`).MatchString(id) || filepath.Base(id) != id {
					t.Fatalf("accepted the entry %q", id)
				}
			}
		}
	})
}
