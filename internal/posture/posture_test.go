package posture_test

import (
	"context"
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/posture"
)

func TestCatalog(t *testing.T) {
	checks := posture.Catalog()
	if len(checks) < 40 {
		t.Fatalf("%d checks, want at least 40", len(checks))
	}
	id := regexp.MustCompile(`^[a-z0-9-]+\.[a-z0-9-]+$`)
	req := regexp.MustCompile(`^(PCI|ASVS) [0-9]+(\.[0-9]+){1,3}$`)
	seen := map[string]bool{}
	for _, c := range checks {
		if !id.MatchString(c.ID) || seen[c.ID] {
			t.Errorf("check id %q: malformed or repeated", c.ID)
		}
		seen[c.ID] = true
		if c.Title == "" || c.Remedy == "" || c.Severity < 1 || c.Severity > 100 {
			t.Errorf("check %s: title, remedy and a severity of 1-100 are required", c.ID)
		}
		if len(c.MapsTo) == 0 {
			t.Errorf("check %s maps to no requirement", c.ID)
		}
		for _, m := range c.MapsTo {
			if !req.MatchString(m) {
				t.Errorf("check %s: requirement %q is not PCI x.y.z or ASVS x.y.z", c.ID, m)
			}
		}
	}
}

// probes returns a probe per catalog check, each answering status.
func probes(status map[string]posture.Status) map[string]posture.Probe {
	out := map[string]posture.Probe{}
	for _, c := range posture.Catalog() {
		st, ok := status[c.ID]
		if !ok {
			st = posture.Pass
		}
		out[c.ID] = func(context.Context) (posture.Status, string) { return st, "" }
	}
	return out
}

func run(t *testing.T, status map[string]posture.Status) posture.Report {
	t.Helper()
	r, err := posture.NewRunner(posture.Catalog(), probes(status), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return r.Run(context.Background(), time.Unix(1e9, 0))
}

func score(t *testing.T, r posture.Report, standard string) posture.Score {
	t.Helper()
	for _, s := range r.Standards {
		if s.ID == standard {
			return s
		}
	}
	t.Fatalf("no score for %s", standard)
	return posture.Score{}
}

func mapsTo(c posture.Check, prefix string) bool {
	for _, m := range c.MapsTo {
		if strings.HasPrefix(m, prefix) {
			return true
		}
	}
	return false
}

// Breaking exactly K of the N checks that apply to a standard moves its
// score by exactly K/N; a check without data leaves the standard's N.
func TestScoreMovesByKOverN(t *testing.T) {
	all := run(t, nil)
	for _, std := range []struct{ id, prefix string }{{posture.PCI, "PCI "}, {posture.ASVS, "ASVS "}} {
		base := score(t, all, std.id)
		if base.Score != 1 || base.Passed != base.Applicable || base.Applicable == 0 {
			t.Fatalf("%s with every check passing: %+v", std.id, base)
		}
		var ids []string
		for _, c := range posture.Catalog() {
			if mapsTo(c, std.prefix) {
				ids = append(ids, c.ID)
			}
		}
		for _, k := range []int{1, 3, 7} {
			broken := map[string]posture.Status{}
			for _, id := range ids[:k] {
				broken[id] = posture.Fail
			}
			s := score(t, run(t, broken), std.id)
			want := float64(k) / float64(base.Applicable)
			if math.Abs((base.Score-s.Score)-want) > 1e-12 || s.Applicable != base.Applicable || s.Passed != base.Passed-k {
				t.Errorf("%s with %d of %d broken: %+v, want the score %v lower", std.id, k, base.Applicable, s, want)
			}
		}
		// No data: the check stops applying.
		s := score(t, run(t, map[string]posture.Status{ids[0]: posture.NoData, ids[1]: posture.Fail}), std.id)
		if s.Applicable != base.Applicable-1 || s.Passed != base.Applicable-2 {
			t.Errorf("%s with one check without data and one failing: %+v", std.id, s)
		}
	}
}

func TestRunnerNeedsAProbePerCheck(t *testing.T) {
	p := probes(nil)
	delete(p, "tls.api")
	if _, err := posture.NewRunner(posture.Catalog(), p, 0); !errors.Is(err, posture.ErrProbes) {
		t.Errorf("a missing probe: %v", err)
	}
	p = probes(nil)
	p["no.such"] = func(context.Context) (posture.Status, string) { return posture.Pass, "" }
	if _, err := posture.NewRunner(posture.Catalog(), p, 0); !errors.Is(err, posture.ErrProbes) {
		t.Errorf("a probe without a check: %v", err)
	}
}

func TestRunnerSurvivesBadProbes(t *testing.T) {
	p := probes(nil)
	p["tls.api"] = func(ctx context.Context) (posture.Status, string) {
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond)
		return posture.Pass, ""
	}
	p["tls.version"] = func(context.Context) (posture.Status, string) { panic("boom") }
	p["tls.ciphers"] = func(context.Context) (posture.Status, string) { return "maybe", "" }
	r, err := posture.NewRunner(posture.Catalog(), p, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	rep := r.Run(context.Background(), time.Now())
	for _, c := range rep.Checks {
		switch c.ID {
		case "tls.api", "tls.version", "tls.ciphers":
			if c.Status != posture.NoData || c.Detail == "" {
				t.Errorf("%s: %s %q, want no_data with the reason", c.ID, c.Status, c.Detail)
			}
		default:
			if c.Status != posture.Pass {
				t.Errorf("%s: %s", c.ID, c.Status)
			}
		}
	}
	if len(rep.Checks) != len(posture.Catalog()) || rep.Checks[0].ID != posture.Catalog()[0].ID {
		t.Error("the report does not list every check in catalog order")
	}
}

func TestDrops(t *testing.T) {
	before := run(t, map[string]posture.Status{"kek.hsm": posture.Fail})
	after := run(t, map[string]posture.Status{"kek.hsm": posture.Fail, "waf.mode": posture.Fail})
	drops := posture.Drops(before, after)
	if len(drops) != 1 || drops[0].Standard != posture.PCI || len(drops[0].Failed) != 1 || drops[0].Failed[0] != "waf.mode" || drops[0].To >= drops[0].From {
		t.Fatalf("drops after waf.mode failed (a PCI-only check): %+v", drops)
	}
	if d := posture.Drops(after, before); len(d) != 0 {
		t.Errorf("a rise is not a drop: %+v", d)
	}
	if s := after.Summarize(); s.Failed != 2 || len(s.Standards) != 2 {
		t.Errorf("summary: %+v", s)
	}
}
