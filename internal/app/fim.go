package app

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/fim"
	"github.com/bulwark-shop/bulwark/internal/finding"
	"github.com/bulwark-shop/bulwark/internal/keys"
)

// File integrity monitoring (issue 15, PCI DSS 11.5.2): the binary, the
// settings file, the TLS, vault and KEK files, the detection and fraud
// rule files, the baseline of settings, fim-paths, and the data
// directory's layout, against a baseline signed with the shop's audit key
// (the file is useless to whoever would edit it: it no longer verifies).
// The server watches them (inotify, and a full rescan every fim-rescan);
// a change is a finding and an audit record within a second or two.

// Audit actions of file integrity.
const (
	ActionFIMBaseline = "fim.baseline"
	ActionFIMChange   = "fim.change"
	ActionFIMInvalid  = "fim.baseline_invalid"
)

// fimSpecs lists what cfg's shop monitors.
func fimSpecs(cfg config.Config) []fim.Spec {
	var specs []fim.Spec
	seen := map[string]bool{}
	add := func(path string, s fim.Spec) {
		if path == "" {
			return
		}
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
		if seen[path] {
			return
		}
		seen[path] = true
		s.Path = path
		specs = append(specs, s)
	}
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		add(exe, fim.Spec{})
	}
	for _, f := range []string{cfg.ConfigFile, cfg.TLSCert, cfg.TLSKey, cfg.VaultClientCert, cfg.VaultClientKey, cfg.VaultCA,
		cfg.Detection, cfg.FraudRules, cfg.SettingsBaseline, cfg.ACMECAFile, cfg.SMTPCAFile} {
		add(f, fim.Spec{})
	}
	if cfg.KEK == "" && cfg.KEKPKCS11Module == "" {
		add(filepath.Join(cfg.DataDir, "kek-keyset.json"), fim.Spec{})
	}
	// A theme's templates and stylesheet are the pages' code: a change to
	// them is a change to what every visitor runs (the embedded ones are
	// in the binary, watched above).
	if cfg.Pages && cfg.WebThemeDir != "" {
		add(cfg.WebThemeDir, fim.Spec{Dir: true, Content: true})
	}
	for _, p := range strings.Split(cfg.FIMPaths, ",") {
		if p = strings.TrimSpace(p); p != "" {
			info, err := os.Stat(p)
			add(p, fim.Spec{Dir: err == nil && info.IsDir(), Content: true})
		}
	}
	// The data directory by layout: the database, its journal files and
	// the baseline itself change by design.
	add(cfg.DataDir, fim.Spec{Dir: true, Skip: []string{"-wal", "-shm", "-journal", filepath.Base(cfg.FIMBaselineFile())},
		SkipPrefix: []string{".keyset-", ".fim-baseline-", ".backup-"}})
	return specs
}

// fimKeys returns the signer and verifier of baselines: the audit
// keyset's Ed25519 key (the same that signs the log's checkpoints; the
// baseline's signature is domain-separated).
func fimKeys(ring *keys.Keyring) (fim.Signer, fim.Verifier, error) {
	s, err := ring.Signing(AuditKeyset)
	if err != nil {
		return nil, nil, fmt.Errorf("file integrity: the signing key: %w", err)
	}
	verify := func(msg, sig []byte) bool {
		for _, pub := range s.All {
			if len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, msg, sig) {
				return true
			}
		}
		return false
	}
	return s.Signer.Sign, verify, nil
}

// fimFresh is how long a comparison answers CheckFIM: hashing the
// monitored files (the binary alone is tens of megabytes) on every call
// would let a few requests a second keep a core busy. The watch and the
// rescan (runFIM) do not wait for it.
const fimFresh = 5 * time.Second

// fimCache holds the last comparison; its lock also makes concurrent callers
// wait for one comparison rather than each run their own.
type fimCache struct {
	mu  sync.Mutex
	at  time.Time
	st  fim.Status
	err error
	// baseline is what the baseline file was when st was made: a new or
	// edited baseline answers at once.
	baseline baselineStamp
}

// baselineStamp tells one baseline file from another without reading it.
type baselineStamp struct {
	size, modTime int64
	ok            bool
}

func stampOf(path string) baselineStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return baselineStamp{}
	}
	return baselineStamp{size: fi.Size(), modTime: fi.ModTime().UnixNano(), ok: true}
}

// CheckFIM compares the monitored files with the baseline: a comparison
// made in the last fimFresh, or one made now.
func (a *App) CheckFIM(ctx context.Context) (fim.Status, error) {
	c := &a.fimCache
	c.mu.Lock()
	defer c.mu.Unlock()
	stamp := stampOf(a.cfg.FIMBaselineFile())
	if !c.at.IsZero() && time.Since(c.at) < fimFresh && stamp == c.baseline {
		return c.st, c.err
	}
	st, err := a.checkFIM(ctx)
	if ctx.Err() != nil {
		return st, err // a caller that gave up: not an answer for the next
	}
	c.at, c.st, c.err, c.baseline = time.Now(), st, err, stamp
	return st, err
}

// forget drops the cached comparison: the watch saw a change, which the
// next CheckFIM must show.
func (c *fimCache) forget() {
	c.mu.Lock()
	c.at = time.Time{}
	c.mu.Unlock()
}

// checkFIM compares the monitored files with the baseline now.
func (a *App) checkFIM(ctx context.Context) (fim.Status, error) {
	st := fim.Status{Baseline: a.cfg.FIMBaselineFile(), CheckedAt: a.now().UTC(), Changes: []fim.Change{}}
	_, verify, err := fimKeys(a.keyring)
	if err != nil {
		return st, err
	}
	base, err := fim.Load(st.Baseline, verify)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		st.Status = "no_baseline"
		return st, nil
	case errors.Is(err, fim.ErrBadSignature) || errors.Is(err, fim.ErrCorrupt):
		st.Status, st.Error = "invalid", err.Error()
		return st, nil
	case err != nil:
		return st, err
	}
	st.MadeAt, st.Entries = &base.MadeAt, len(base.Entries)
	now, err := fim.Build(base.Specs, a.now())
	if err != nil {
		return st, err
	}
	if cs := fim.Compare(base, now); len(cs) > 0 {
		st.Status, st.Changes = "changed", cs
	} else {
		st.Status = "ok"
	}
	return st, nil
}

// runFIM watches the monitored files against the baseline until ctx ends.
func (a *App) runFIM(ctx context.Context) {
	path := a.cfg.FIMBaselineFile()
	_, verify, err := fimKeys(a.keyring)
	if err != nil {
		a.backgroundFailed("file integrity", err)
		return
	}
	base, err := fim.Load(path, verify)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		a.log.Info("file integrity monitoring has no baseline: make one with bulwark fim baseline", "baseline", path)
		return
	case err != nil:
		a.log.Error("file integrity: the baseline is refused", "baseline", path, "err", err)
		subject := finding.Subject{Kind: finding.File, ID: path}
		if e := a.observe(ctx, finding.Observation{Type: finding.FIMBaselineInvalid, Severity: 90, Subject: subject, At: a.now(),
			Evidence: map[string]string{"error": err.Error()}}); e != nil {
			a.backgroundFailed("file integrity: recording the refused baseline", e)
		}
		if e := a.Trail.Record(ctx, ActionFIMInvalid, a.instance, audit.Failure, path+": "+err.Error()); e != nil {
			a.backgroundFailed("file integrity: recording the refused baseline", e)
		}
		return
	}
	fim.Watch(ctx, base, fim.WatchOptions{Rescan: a.cfg.FIMRescan, Now: a.now,
		OnError: func(err error) { a.log.Warn("file integrity", "err", err) },
		OnChange: func(cs []fim.Change) {
			for _, c := range cs {
				a.fimChanged(ctx, c)
			}
		}})
}

// fimChanged records one change: an audit record and a finding about the
// file (each further change of it adds to the finding).
func (a *App) fimChanged(ctx context.Context, c fim.Change) {
	a.fimCache.forget()
	detail := fmt.Sprintf("%s: %s → %s", c.Kind, orDash(c.Before), orDash(c.After))
	a.log.Warn("file integrity: a monitored file changed", "path", c.Path, "change", detail)
	if err := a.Trail.Record(ctx, ActionFIMChange, a.instance, audit.Failure, c.Path+" "+detail); err != nil {
		a.backgroundFailed("file integrity: recording a change", err)
	}
	if err := a.observe(ctx, finding.Observation{Type: finding.FIMChanged, Severity: 80, Subject: finding.Subject{Kind: finding.File, ID: c.Path}, At: a.now(),
		Evidence: map[string]string{"change": c.Kind, "before": c.Before, "after": c.After}}); err != nil {
		a.backgroundFailed("file integrity: recording a change", err)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// fimCmd is `bulwark fim baseline|check`.
func fimCmd(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 || (args[0] != "baseline" && args[0] != "check") {
		return usageError{errors.New("fim needs baseline or check")}
	}
	sub := args[0]
	return withApp(ctx, "fim "+sub, args[1:], env, nil, nil, func(cfg config.Config, a *App) error { return fimRun(ctx, sub, cfg, a, env) })
}

// fimRun is fim baseline or check on a.
func fimRun(ctx context.Context, sub string, cfg config.Config, a *App, env Env) error {
	if sub == "check" {
		st, err := a.CheckFIM(ctx)
		if err != nil {
			return err
		}
		switch st.Status {
		case "no_baseline":
			return fmt.Errorf("no file integrity baseline at %s: make one with bulwark fim baseline", st.Baseline)
		case "invalid":
			return fmt.Errorf("the file integrity baseline is refused: %s", st.Error)
		}
		fmt.Fprintf(env.Stdout, "baseline of %s, %d entries: %d changes\n", st.MadeAt.Format(time.RFC3339), st.Entries, len(st.Changes))
		for _, c := range st.Changes {
			fmt.Fprintf(env.Stdout, "  %-8s %s  %s → %s\n", c.Kind, c.Path, orDash(c.Before), orDash(c.After))
		}
		if len(st.Changes) > 0 {
			return errors.New("monitored files differ from the baseline")
		}
		return nil
	}
	sign, _, err := fimKeys(a.keyring)
	if err != nil {
		return err
	}
	// The server makes the checkpoint directory at its first checkpoint:
	// made now, it is part of the layout rather than a change to it.
	if err := os.MkdirAll(cfg.AuditCheckpointDir(), 0o700); err != nil {
		return fmt.Errorf("make %s: %w", cfg.AuditCheckpointDir(), err)
	}
	b, err := fim.Build(fimSpecs(cfg), env.Now())
	if err != nil {
		return err
	}
	path := cfg.FIMBaselineFile()
	// Recorded first: a baseline nobody can account for is the one an
	// intruder made.
	if err := a.Trail.Record(ctx, ActionFIMBaseline, "", audit.Success, fmt.Sprintf("%s: %d entries of %d paths", path, len(b.Entries), len(b.Specs))); err != nil {
		return err
	}
	if err := fim.Save(path, b, sign); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "file integrity baseline written to %s: %d entries\n", path, len(b.Entries))
	for _, s := range b.Specs {
		what := "file"
		if s.Dir {
			what = "directory layout"
			if s.Content {
				what = "directory"
			}
		}
		fmt.Fprintf(env.Stdout, "  %-16s %s\n", what, s.Path)
	}
	return nil
}
