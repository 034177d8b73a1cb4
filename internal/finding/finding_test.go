package finding_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/finding"
)

// TestNextEveryPair checks the lifecycle for every pair of statuses.
func TestNextEveryPair(t *testing.T) {
	all := []finding.Status{finding.Active, finding.Resolved, finding.Suppressed}
	allowed := map[[2]finding.Status]bool{
		{finding.Active, finding.Resolved}:       true,
		{finding.Active, finding.Suppressed}:     true,
		{finding.Suppressed, finding.Resolved}:   true,
		{finding.Resolved, finding.Resolved}:     true,
		{finding.Suppressed, finding.Suppressed}: true,
	}
	for _, from := range all {
		for _, to := range all {
			got, err := finding.Next(from, to)
			if allowed[[2]finding.Status{from, to}] {
				if err != nil || got != to {
					t.Errorf("%s -> %s = %s, %v; want allowed", from, to, got, err)
				}
			} else if !errors.Is(err, finding.ErrIllegalTransition) || got != from {
				t.Errorf("%s -> %s = %s, %v; want refused", from, to, got, err)
			}
		}
	}
}

func TestRaiseAndMerge(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	subject := finding.Subject{Kind: finding.IP, ID: "192.0.2.9"}
	f := finding.Raise("fnd_1", finding.Observation{Type: finding.WAFProbe, Severity: 140, Subject: subject, At: t0,
		Evidence: map[string]string{"count": "10"}, Response: "log"})
	if f.Status != finding.Active || f.Count != 1 || f.Severity != 100 || !f.FirstSeen.Equal(t0) || !f.LastSeen.Equal(t0) {
		t.Fatalf("raised %+v", f)
	}
	f.Severity = 50
	f = finding.Merge(f, finding.Observation{Type: finding.WAFProbe, Severity: 40, Subject: subject, At: t0.Add(time.Minute),
		Evidence: map[string]string{"count": "11"}})
	if f.Count != 2 || f.Severity != 50 || !f.LastSeen.Equal(t0.Add(time.Minute)) || f.Evidence["count"] != "11" || f.Response != "log" {
		t.Fatalf("merged %+v", f)
	}
	// An observation that arrives late (another instance's) moves first-seen back, not last-seen.
	f = finding.Merge(f, finding.Observation{Severity: 70, At: t0.Add(-time.Minute)})
	if f.Count != 3 || f.Severity != 70 || !f.FirstSeen.Equal(t0.Add(-time.Minute)) || !f.LastSeen.Equal(t0.Add(time.Minute)) {
		t.Fatalf("merged late %+v", f)
	}
}

func TestAlerts(t *testing.T) {
	f := finding.Finding{Status: finding.Active, Severity: 70}
	if !f.Alerts(70) || f.Alerts(71) {
		t.Fatal("active findings alert at and above the minimum severity only")
	}
	f.Status = finding.Suppressed
	if f.Alerts(0) {
		t.Fatal("a suppressed finding alerted")
	}
}

func TestTypes(t *testing.T) {
	for typ, point := range map[finding.Type]string{finding.AccountBruteForce: "AE3", finding.CredentialStuffing: "AE12",
		finding.Scanning: "ACE3", finding.WAFProbe: "CIE1", finding.CardTesting: "", finding.TakeoverSuspected: ""} {
		if !typ.Known() || typ.DetectionPoint() != point {
			t.Errorf("%s: known %v, point %q", typ, typ.Known(), typ.DetectionPoint())
		}
	}
	if finding.Type("Recon:Ip/Other").Known() {
		t.Error("an unknown type is known")
	}
}

// TestLevels checks the severity levels' bounds, which metrics label by
// and severity_min takes by name.
func TestLevels(t *testing.T) {
	for s, want := range map[int]string{-5: finding.Low, 0: finding.Low, 39: finding.Low, 40: finding.Medium, 69: finding.Medium,
		70: finding.High, 89: finding.High, 90: finding.Critical, 100: finding.Critical, 200: finding.Critical} {
		if got := finding.Level(s); got != want {
			t.Errorf("Level(%d) = %s, want %s", s, got, want)
		}
	}
	for _, l := range []string{finding.Low, finding.Medium, finding.High, finding.Critical} {
		floor, ok := finding.LevelFloor(l)
		if !ok || finding.Level(floor) != l || (floor > 0 && finding.Level(floor-1) == l) {
			t.Errorf("LevelFloor(%s) = %d, %v", l, floor, ok)
		}
	}
	if _, ok := finding.LevelFloor("severe"); ok {
		t.Error("severe is not a level")
	}
}

func TestResponseKeptAcrossObservations(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	o := finding.Observation{Type: finding.Scanning, Severity: 40, Subject: finding.Subject{Kind: finding.IP, ID: "192.0.2.1"}, At: t0}
	f := finding.Raise("fnd_x", o)
	if f.Response != "log" {
		t.Fatalf("raised with response %q, want log", f.Response)
	}
	f.Response = "block-ip 15m0s (repeat 1)" // what the responses did
	o.At = t0.Add(time.Minute)
	if f = finding.Merge(f, o); f.Response != "block-ip 15m0s (repeat 1)" {
		t.Fatalf("a later observation overwrote the response: %q", f.Response)
	}
}

// TestSourceAddressesAreKeptBounded: the observations of an account's
// finding name where each came from; the finding keeps the distinct
// addresses, at most ten, and says when there were more.
func TestSourceAddressesAreKeptBounded(t *testing.T) {
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	obs := func(ip string) finding.Observation {
		return finding.Observation{Type: finding.AccountBruteForce, Severity: 60, Subject: finding.Subject{Kind: finding.Account, ID: "usr_x"},
			At: at, Evidence: map[string]string{"count": "10", finding.EvidenceIP: ip}}
	}
	f := finding.Raise("fnd_x", obs("198.51.100.1"))
	if got := f.Evidence[finding.EvidenceAddresses]; got != "198.51.100.1" {
		t.Fatalf("addresses %q", got)
	}
	f = finding.Merge(f, obs("198.51.100.1"))
	for i := 2; i <= 30; i++ {
		f = finding.Merge(f, obs(fmt.Sprintf("198.51.100.%d", i)))
	}
	got := strings.Split(f.Evidence[finding.EvidenceAddresses], ",")
	if len(got) != finding.MaxAddresses+1 || got[0] != "198.51.100.1" || got[9] != "198.51.100.10" || got[10] != "…" {
		t.Fatalf("addresses %v", got)
	}
	// An observation without an address keeps the list.
	f = finding.Merge(f, finding.Observation{Type: finding.AccountBruteForce, Severity: 60, Subject: f.Subject, At: at, Evidence: map[string]string{"count": "40"}})
	if f.Evidence[finding.EvidenceAddresses] == "" || f.Evidence["count"] != "40" {
		t.Fatalf("evidence %v", f.Evidence)
	}
}
