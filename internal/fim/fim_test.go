package fim_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/fim"
)

func keys(t *testing.T) (fim.Signer, fim.Verifier) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return func(m []byte) ([]byte, error) { return ed25519.Sign(priv, m), nil },
		func(m, sig []byte) bool { return ed25519.Verify(pub, m, sig) }
}

// layout makes a binary, a settings file and a data directory.
func layout(t *testing.T) (dir string, specs []fim.Spec) {
	t.Helper()
	dir = t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "bulwark"), []byte("\x7fELF binary"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"waf":"block"}`), 0o600))
	must(os.Mkdir(filepath.Join(dir, "data"), 0o700))
	must(os.WriteFile(filepath.Join(dir, "data", "shop.db"), []byte("db"), 0o600))
	must(os.WriteFile(filepath.Join(dir, "data", "shop.db-wal"), []byte("wal"), 0o600))
	return dir, []fim.Spec{
		{Path: filepath.Join(dir, "bulwark")},
		{Path: filepath.Join(dir, "config.json")},
		{Path: filepath.Join(dir, "data"), Dir: true, Skip: []string{"-wal", "-shm"}},
	}
}

func TestBuildSaveLoad(t *testing.T) {
	dir, specs := layout(t)
	sign, verify := keys(t)
	b, err := fim.Build(specs, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Entries) != 4 { // bulwark, config.json, data, data/shop.db (the -wal skipped)
		t.Fatalf("%d entries: %+v", len(b.Entries), b.Entries)
	}
	path := filepath.Join(dir, "baseline.json")
	if err := fim.Save(path, b, sign); err != nil {
		t.Fatal(err)
	}
	got, err := fim.Load(path, verify)
	if err != nil || len(got.Entries) != 4 || len(fim.Compare(got, b)) != 0 {
		t.Fatalf("loaded %+v, %v", got, err)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Fatalf("baseline mode %s", info.Mode().Perm())
	}

	// Edited: a hash changed, the signature kept.
	raw, _ := os.ReadFile(path)
	edited := strings.Replace(string(raw), `"mode":"755"`, `"mode":"700"`, 1)
	if edited == string(raw) {
		t.Fatal("the test's edit matched nothing")
	}
	if _, err := fim.Parse([]byte(edited), verify); !errors.Is(err, fim.ErrBadSignature) {
		t.Fatalf("an edited baseline: %v", err)
	}
	// Another shop's key.
	_, other := keys(t)
	if _, err := fim.Load(path, other); !errors.Is(err, fim.ErrBadSignature) {
		t.Fatalf("another key: %v", err)
	}
	for _, bad := range []string{"", "{}", "not json", `{"baseline":{},"signature":"AA==","extra":1}`, strings.Repeat(" ", 17<<20)} {
		if _, err := fim.Parse([]byte(bad), verify); !errors.Is(err, fim.ErrCorrupt) {
			t.Fatalf("%.20q: %v", bad, err)
		}
	}
}

func TestCompare(t *testing.T) {
	dir, specs := layout(t)
	base, err := fim.Build(specs, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "bulwark"), []byte("\x7fELF other binary"), 0o755)
	os.Chmod(filepath.Join(dir, "config.json"), 0o644)
	os.Chown(filepath.Join(dir, "config.json"), 1234, 1234)
	os.WriteFile(filepath.Join(dir, "data", "dropper.sh"), []byte("#!/bin/sh"), 0o755)
	os.WriteFile(filepath.Join(dir, "data", "shop.db"), []byte("the database changes all the time"), 0o600)
	os.WriteFile(filepath.Join(dir, "data", "shop.db-shm"), []byte("shm"), 0o600)
	os.WriteFile(filepath.Join(dir, "data", ".hidden"), []byte("a dot is no hiding place"), 0o600)
	now, err := fim.Build(specs, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range fim.Compare(base, now) {
		got = append(got, filepath.Base(c.Path)+" "+c.Kind)
	}
	want := []string{"bulwark modified", "config.json mode", ".hidden added", "dropper.sh added"}
	if os.Geteuid() == 0 {
		want = []string{"bulwark modified", "config.json mode", "config.json owner", ".hidden added", "dropper.sh added"}
	}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Fatalf("changes %v, want %v", got, want)
	}
	os.Remove(filepath.Join(dir, "config.json"))
	now, _ = fim.Build(specs, time.Now())
	if cs := fim.Compare(base, now); !strings.Contains(fmtChanges(cs), "config.json deleted") {
		t.Fatalf("deletion: %v", fmtChanges(cs))
	}
}

func fmtChanges(cs []fim.Change) string {
	var out []string
	for _, c := range cs {
		out = append(out, filepath.Base(c.Path)+" "+c.Kind)
	}
	return strings.Join(out, ", ")
}

// The watch sees a modification, an atomic replacement, a deletion and a
// permission change within 2 s, each once.
func TestWatch(t *testing.T) {
	dir, specs := layout(t)
	base, err := fim.Build(specs, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan fim.Change, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		fim.Watch(ctx, base, fim.WatchOptions{Rescan: time.Hour, OnChange: func(cs []fim.Change) {
			for _, c := range cs {
				ch <- c
			}
		}, OnError: func(err error) { t.Log(err) }})
		close(done)
	}()
	defer func() { cancel(); <-done }()
	time.Sleep(100 * time.Millisecond) // the watch is set up
	expect := func(what, name, kind string) {
		t.Helper()
		deadline := time.After(2 * time.Second)
		for {
			select {
			case c := <-ch:
				if filepath.Base(c.Path) == name && c.Kind == kind {
					return
				}
				t.Fatalf("%s: got %s %s first", what, filepath.Base(c.Path), c.Kind)
			case <-deadline:
				t.Fatalf("%s: no %s %s within 2 s", what, name, kind)
			}
		}
	}
	os.WriteFile(filepath.Join(dir, "bulwark"), []byte("\x7fELF patched"), 0o755)
	expect("a write", "bulwark", "modified")
	tmp := filepath.Join(dir, "config.json.new")
	os.WriteFile(tmp, []byte(`{"waf":"off"}`), 0o600)
	os.Rename(tmp, filepath.Join(dir, "config.json"))
	expect("an atomic replacement", "config.json", "modified")
	os.Chmod(filepath.Join(dir, "data"), 0o755)
	expect("a chmod", "data", "mode")
	os.Remove(filepath.Join(dir, "data", "shop.db"))
	expect("a deletion", "shop.db", "deleted")
	// The database's own churn and its -wal file are not changes.
	os.WriteFile(filepath.Join(dir, "data", "shop.db-wal"), []byte("more wal"), 0o600)
	select {
	case c := <-ch:
		t.Fatalf("reported again or spuriously: %+v", c)
	case <-time.After(700 * time.Millisecond):
	}
}

func FuzzFIMParse(f *testing.F) {
	sign, verify := func(m []byte) ([]byte, error) { return []byte("sig"), nil }, func(m, sig []byte) bool { return string(sig) == "sig" }
	dir := f.TempDir()
	os.WriteFile(filepath.Join(dir, "x"), []byte("x"), 0o600)
	b, _ := fim.Build([]fim.Spec{{Path: filepath.Join(dir, "x")}}, time.Now())
	fim.Save(filepath.Join(dir, "b.json"), b, sign)
	raw, _ := os.ReadFile(filepath.Join(dir, "b.json"))
	f.Add(raw)
	f.Add([]byte(`{"baseline":{"version":1},"signature":"c2ln"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if b, err := fim.Parse(raw, verify); err == nil {
			fim.Compare(b, b)
		}
	})
}

// A FIFO put where a monitored file was neither hangs a scan nor passes
// for the file.
func TestFIFOInPlaceOfAFile(t *testing.T) {
	dir, specs := layout(t)
	base, err := fim.Build(specs, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.json")
	os.Remove(cfg)
	if err := syscall.Mkfifo(cfg, 0o600); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	done := make(chan []fim.Change, 1)
	go func() {
		now, err := fim.Build(specs, time.Now())
		if err != nil {
			t.Error(err)
		}
		done <- fim.Compare(base, now)
	}()
	select {
	case cs := <-done:
		if !strings.Contains(fmtChanges(cs), "config.json modified") {
			t.Fatalf("changes: %s", fmtChanges(cs))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a FIFO hung the scan")
	}
}
