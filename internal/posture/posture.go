// Package posture is Bulwark's continuous compliance (issue 15), in the
// manner of Security Hub's scored standards: a catalog of checks, each
// mapped to the PCI DSS v4.0.1 and OWASP ASVS 5.0 requirements it stands
// for, run against the live system by probes the application supplies, and
// a score per standard: the checks that passed ÷ the checks that applied
// (a check with no data yet — a feature not configured, a job that never
// ran — is not applicable, so it neither helps nor hurts).
//
// The package owns the catalog (ids, titles, severities, mappings,
// remedies), how a run is made (every probe bounded in time, a probe that
// panics or overruns reported, never fatal) and the scoring and its
// history rule (a drop in a standard's score is itself an alert). It does
// no I/O of its own: what a check looks at is the probe's business.
package posture

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Status is a check's outcome.
type Status string

// The statuses.
const (
	Pass   Status = "pass"
	Fail   Status = "fail"
	NoData Status = "no_data"
)

// The standards scored, with the prefix their requirement ids carry in a
// check's MapsTo.
const (
	PCI  = "pci-dss-4.0.1"
	ASVS = "owasp-asvs-5.0"
)

var standardPrefixes = []struct{ id, prefix string }{{PCI, "PCI "}, {ASVS, "ASVS "}}

// Check is one entry of the catalog.
type Check struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Severity (0-100, as findings') is that of the finding a failure
	// raises.
	Severity int `json:"severity"`
	// MapsTo names requirements: "PCI 8.4.2", "ASVS 6.3.3".
	MapsTo []string `json:"maps_to"`
	// Remedy names the setting or command that fixes a failure.
	Remedy string `json:"remedy"`
}

// Result is a check's outcome in one run.
type Result struct {
	Check
	Status Status `json:"status"`
	// Detail says what the probe saw (never a secret).
	Detail string `json:"detail"`
}

// Score is one standard's score in a run.
type Score struct {
	ID string `json:"id"`
	// Score is Passed ÷ Applicable (1 when nothing applied).
	Score      float64 `json:"score"`
	Passed     int     `json:"passed"`
	Applicable int     `json:"applicable"`
}

// Report is one run.
type Report struct {
	RunAt     time.Time `json:"run_at"`
	Standards []Score   `json:"standards"`
	Checks    []Result  `json:"checks"`
}

// Probe looks at the live system for one check and says what it found.
type Probe func(ctx context.Context) (Status, string)

// ErrProbes is a set of probes that does not match the catalog.
var ErrProbes = errors.New("posture probes do not match the catalog")

// Runner runs the catalog's checks with their probes.
type Runner struct {
	checks  []Check
	probes  map[string]Probe
	timeout time.Duration
}

// DefaultTimeout bounds one probe.
const DefaultTimeout = 10 * time.Second

// NewRunner returns a runner of checks (Catalog() in the server) with
// probes, one per check id: a check without a probe or a probe without a
// check is ErrProbes, so a check cannot be forgotten silently.
func NewRunner(checks []Check, probes map[string]Probe, timeout time.Duration) (*Runner, error) {
	var missing, extra []string
	for _, c := range checks {
		if probes[c.ID] == nil {
			missing = append(missing, c.ID)
		}
	}
	for id := range probes {
		if !slices.ContainsFunc(checks, func(c Check) bool { return c.ID == id }) {
			extra = append(extra, id)
		}
	}
	if len(missing)+len(extra) > 0 {
		slices.Sort(extra)
		return nil, fmt.Errorf("%w: no probe for %v, no check for %v", ErrProbes, missing, extra)
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Runner{checks: checks, probes: probes, timeout: timeout}, nil
}

// Run runs every check, at most a few at once, and scores the run made
// at now. A probe that overruns its time or panics is reported as
// no_data with the reason: the run always completes.
func (r *Runner) Run(ctx context.Context, now time.Time) Report {
	results := make([]Result, len(r.checks))
	sem := make(chan struct{}, 4)
	done := make(chan struct{})
	for i, c := range r.checks {
		go func() {
			sem <- struct{}{}
			defer func() { <-sem; done <- struct{}{} }()
			st, detail := r.probe(ctx, c.ID)
			results[i] = Result{Check: c, Status: st, Detail: detail}
		}()
	}
	for range r.checks {
		<-done
	}
	return Report{RunAt: now.UTC(), Standards: Scores(results), Checks: results}
}

// probe runs one probe within the runner's time limit.
func (r *Runner) probe(ctx context.Context, id string) (st Status, detail string) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	type outcome struct {
		st     Status
		detail string
	}
	ch := make(chan outcome, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- outcome{NoData, fmt.Sprintf("the check failed to run: %v", p)}
			}
		}()
		s, d := r.probes[id](ctx)
		if s != Pass && s != Fail && s != NoData {
			s, d = NoData, fmt.Sprintf("the check answered %q", s)
		}
		ch <- outcome{s, d}
	}()
	select {
	case o := <-ch:
		return o.st, o.detail
	case <-ctx.Done():
		return NoData, fmt.Sprintf("the check did not finish within %s", r.timeout)
	}
}

// Scores scores results per standard: a result applies to a standard when
// it maps to one of its requirements and has data.
func Scores(results []Result) []Score {
	out := make([]Score, 0, len(standardPrefixes))
	for _, s := range standardPrefixes {
		sc := Score{ID: s.id}
		for _, r := range results {
			if r.Status == NoData || !slices.ContainsFunc(r.MapsTo, func(m string) bool { return strings.HasPrefix(m, s.prefix) }) {
				continue
			}
			sc.Applicable++
			if r.Status == Pass {
				sc.Passed++
			}
		}
		sc.Score = 1
		if sc.Applicable > 0 {
			sc.Score = float64(sc.Passed) / float64(sc.Applicable)
		}
		out = append(out, sc)
	}
	return out
}

// Drop is a standard whose score fell from one run to the next.
type Drop struct {
	Standard string
	From, To float64
	// Failed lists the checks of the standard that pass in the earlier
	// run and fail in the later.
	Failed []string
}

// Drops compares run cur with the run before it: each standard whose
// score fell is a drop, an alert in itself — a configuration change that
// opens a hole shows as a drop in the next run.
func Drops(prev, cur Report) []Drop {
	var out []Drop
	for _, c := range cur.Standards {
		i := slices.IndexFunc(prev.Standards, func(p Score) bool { return p.ID == c.ID })
		if i < 0 || c.Score >= prev.Standards[i].Score {
			continue
		}
		d := Drop{Standard: c.ID, From: prev.Standards[i].Score, To: c.Score}
		prefix := prefixOf(c.ID)
		for _, r := range cur.Checks {
			if r.Status != Fail || !slices.ContainsFunc(r.MapsTo, func(m string) bool { return strings.HasPrefix(m, prefix) }) {
				continue
			}
			if j := slices.IndexFunc(prev.Checks, func(p Result) bool { return p.ID == r.ID }); j >= 0 && prev.Checks[j].Status == Pass {
				d.Failed = append(d.Failed, r.ID)
			}
		}
		out = append(out, d)
	}
	return out
}

func prefixOf(standard string) string {
	for _, s := range standardPrefixes {
		if s.id == standard {
			return s.prefix
		}
	}
	return ""
}

// Summary is a run as history keeps it: when, and the scores.
type Summary struct {
	RunAt     time.Time `json:"run_at"`
	Standards []Score   `json:"standards"`
	Failed    int       `json:"failed"`
}

// Summarize returns r's summary.
func (r Report) Summarize() Summary {
	s := Summary{RunAt: r.RunAt, Standards: r.Standards}
	for _, c := range r.Checks {
		if c.Status == Fail {
			s.Failed++
		}
	}
	return s
}

// StaffAccount is what posture looks at in a staff account.
type StaffAccount struct {
	ID    string
	Roles []string
	// MFA is whether the account has a second factor (TOTP or a passkey).
	MFA bool
	// LastActive is the last use of its newest session, or its creation.
	LastActive time.Time
}

// Listener is one of the process's listeners, as the inventory lists it
// (Inspector's reachability view).
type Listener struct {
	Name   string `json:"name"`
	Addr   string `json:"addr"`
	TLS    bool   `json:"tls"`
	Serves string `json:"serves"`
	// RedirectOnly is a plain-HTTP listener that answers nothing but
	// redirects to HTTPS (and ACME's challenges): exposing it is its point.
	RedirectOnly bool `json:"redirect_only,omitempty"`
}
