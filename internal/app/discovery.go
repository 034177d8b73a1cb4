package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/discover"
	"github.com/bulwark-shop/bulwark/internal/finding"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/store"
)

// Sensitive-data discovery (issue 15): the shop database's text and JSON
// columns, the mail outbox and any path given are scanned for card
// numbers, IBANs, contact data, private keys and secrets, at most
// discovery-rate megabytes a second (the scan sleeps to keep to it, so it
// takes a fraction of a core and never competes with requests) and at most
// discoveryMaxBytes in all. A run is kept; a card number outside the vault,
// a private key or a secret is a finding about its location, resolved by
// the run that no longer finds it.

// discoveryMaxBytes bounds one run.
const discoveryMaxBytes = 4 << 30

// discoveryFirstRun is how long after the start the first scheduled run
// comes (at most).
const discoveryFirstRun = 10 * time.Minute

// RunDiscovery scans the database, the outbox and paths now, keeps the
// run and raises or resolves its findings.
func (a *App) RunDiscovery(ctx context.Context, paths []string) (discover.Report, error) {
	a.discoveryMu.Lock()
	defer a.discoveryMu.Unlock()
	start := time.Now()
	var scanned int64
	rate := float64(a.cfg.DiscoveryRate) * 1e6
	pace := func(n int) {
		// Sleep until the bytes read so far took 1/rate each.
		scanned += int64(n)
		if rate <= 0 {
			return
		}
		if ahead := time.Duration(float64(scanned)/rate*float64(time.Second)) - time.Since(start); ahead > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(ahead):
			}
		}
	}
	s := discover.New(discover.Options{MaxTotal: discoveryMaxBytes, Pace: pace})
	rep := discover.Report{RunAt: a.now().UTC(), Sources: []string{"database"}, Errors: []string{}}
	err := a.DB.ScanText(ctx, func(location, row string, value []byte) error {
		return s.ScanCell("db:"+location, row, value)
	})
	switch {
	case errors.Is(err, discover.ErrLimit):
	case err != nil:
		return rep, fmt.Errorf("scan the database: %w", err)
	}
	if a.outbox != nil && !s.Truncated() {
		rep.Sources = append(rep.Sources, "outbox")
		rep.Errors = append(rep.Errors, scanPath(ctx, s, filepath.Join(a.cfg.DataDir, "outbox"))...)
	}
	for _, p := range paths {
		if s.Truncated() {
			break
		}
		rep.Sources = append(rep.Sources, p)
		rep.Errors = append(rep.Errors, scanPath(ctx, s, p)...)
	}
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	rep.Bytes, rep.Truncated, rep.Findings = s.Read(), s.Truncated(), s.Results()
	if err := a.DB.SaveDiscoveryRun(ctx, id.New(id.DiscoveryRun), a.instance, rep); err != nil {
		return rep, err
	}
	return rep, a.discoveryFindings(ctx, rep)
}

// discoveryFindings raises a finding per location holding card numbers,
// private keys or secrets, and resolves those whose location no longer
// does (when the run read everything).
func (a *App) discoveryFindings(ctx context.Context, rep discover.Report) error {
	seen := map[finding.Subject]bool{}
	for _, f := range rep.Findings {
		typ, ok := discoveryType(f.Kind)
		if !ok {
			continue
		}
		subject := finding.Subject{Kind: finding.Location, ID: f.Location}
		seen[subject] = true
		samples := make([]string, 0, 3)
		for _, smp := range f.Samples[:min(3, len(f.Samples))] {
			where := "offset " + strconv.FormatInt(smp.Offset, 10)
			if smp.Row != "" {
				where = "row " + smp.Row
			}
			samples = append(samples, smp.Masked+" ("+where+")")
		}
		if err := a.observe(ctx, finding.Observation{Type: typ, Severity: f.Severity, Subject: subject, At: rep.RunAt,
			Evidence: map[string]string{"kind": string(f.Kind), "count": strconv.FormatInt(f.Count, 10),
				"samples": strings.Join(samples, ", "), "test_only": strconv.FormatBool(f.TestOnly)}}); err != nil {
			return err
		}
	}
	if rep.Truncated {
		return nil // what was not read may still hold it
	}
	for _, typ := range []finding.Type{finding.SensitiveCardData, finding.SensitiveSecret} {
		open, _, err := a.DB.Findings(ctx, finding.Query{Type: typ, Status: finding.Active, Limit: 100})
		if err != nil {
			return err
		}
		for _, f := range open {
			if !seen[f.Subject] && (strings.HasPrefix(f.Subject.ID, "db:") || strings.HasPrefix(f.Subject.ID, "file:")) {
				if err := a.resolveFindings(ctx, typ, f.Subject, "discovery no longer finds it there"); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// discoveryType is the finding type of what discovery found, if it is one
// that raises a finding: contact data and IBANs are the shop's business
// (it keeps customers' addresses) and are only reported.
func discoveryType(k discover.Kind) (finding.Type, bool) {
	switch k {
	case discover.Card:
		return finding.SensitiveCardData, true
	case discover.PrivateKey, discover.Secret:
		return finding.SensitiveSecret, true
	}
	return "", false
}

// scanPath scans a file, or the regular files under a directory (symbolic
// links are not followed), and returns what could not be read.
func scanPath(ctx context.Context, s *discover.Scanner, root string) []string {
	var errs []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", path, err))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", path, err))
			return nil
		}
		defer f.Close()
		if err := s.ScanReader("file:"+path, f); errors.Is(err, discover.ErrLimit) {
			return filepath.SkipAll
		} else if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", path, err))
		}
		return nil
	})
	if err != nil && !errors.Is(err, filepath.SkipAll) {
		errs = append(errs, fmt.Sprintf("%s: %v", root, err))
	}
	return errs
}

// LatestDiscovery returns the newest discovery run: not_found before the
// first.
func (a *App) LatestDiscovery(ctx context.Context) (discover.Report, error) {
	rep, err := a.DB.LatestDiscoveryRun(ctx)
	if errors.Is(err, store.ErrNoDiscoveryRun) {
		return rep, apperr.NotFound("discovery run")
	}
	return rep, err
}

// runDiscovery scans every discovery-interval, the first within
// discoveryFirstRun of the start, until ctx ends; 0 turns it off.
func (a *App) runDiscovery(ctx context.Context) {
	every := a.cfg.DiscoveryInterval
	if every <= 0 {
		return
	}
	wait := min(every, discoveryFirstRun)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if _, err := a.RunDiscovery(ctx, nil); err != nil && ctx.Err() == nil {
			a.backgroundFailed("discovery: a scheduled run failed", err)
		}
		wait = every
	}
}
