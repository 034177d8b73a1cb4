package detect_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/detect"
	"github.com/bulwark-shop/bulwark/internal/finding"
	"github.com/bulwark-shop/bulwark/internal/throttle"
)

// clock is a settable time source for the counters' windows.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func engine(t *testing.T, ds []detect.Detector) (*detect.Engine, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)}
	e, err := detect.New(throttle.NewMemory(c.now, 0), ds)
	if err != nil {
		t.Fatal(err)
	}
	return e, c
}

func observe(t *testing.T, e *detect.Engine, s detect.Signal) []finding.Observation {
	t.Helper()
	obs, err := e.Observe(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return obs
}

func TestThresholdWithinWindow(t *testing.T) {
	e, c := engine(t, detect.Defaults())
	fail := detect.Signal{Kind: detect.LoginFailed, IP: "203.0.113.7", Account: "usr_a"}
	for i := 1; i <= 9; i++ {
		fail.At = c.now()
		if obs := observe(t, e, fail); len(obs) != 0 {
			t.Fatalf("failure %d raised %+v, below the threshold of 10", i, obs)
		}
	}
	fail.At = c.now()
	obs := observe(t, e, fail)
	if len(obs) != 1 || obs[0].Type != finding.AccountBruteForce || obs[0].Subject != (finding.Subject{Kind: finding.Account, ID: "usr_a"}) ||
		obs[0].Evidence["count"] != "10" || obs[0].Response != "" {
		t.Fatalf("the tenth failure: %+v", obs)
	}
	// Past the threshold, once per further threshold's worth (one database
	// write per ten signals, not per signal).
	for i := 11; i <= 20; i++ {
		obs := observe(t, e, fail)
		switch {
		case i < 20 && len(obs) != 0:
			t.Fatalf("failure %d observed again: %+v", i, obs)
		case i == 20 && (len(obs) != 1 || obs[0].Evidence["count"] != "20"):
			t.Fatalf("the twentieth failure: %+v", obs)
		}
	}
	// Once the window has passed, counting starts over.
	c.add(16 * time.Minute)
	for i := 1; i <= 9; i++ {
		if obs := observe(t, e, fail); len(obs) != 0 {
			t.Fatalf("failure %d of a new window raised %+v", i, obs)
		}
	}
}

// TestCredentialStuffingCountsAccounts: one address failing against six
// accounts is stuffing; the same address failing many times against its own
// few accounts (a household behind NAT) is not.
func TestCredentialStuffingCountsAccounts(t *testing.T) {
	e, c := engine(t, detect.Defaults())
	nat := "198.51.100.1"
	for i := range 40 {
		s := detect.Signal{Kind: detect.LoginFailed, At: c.now(), IP: nat, Account: fmt.Sprintf("usr_home%d", i%3)}
		for _, o := range observe(t, e, s) {
			if o.Type == finding.CredentialStuffing {
				t.Fatalf("three accounts mistyped 40 times behind one address raised %+v", o)
			}
		}
	}
	var got []finding.Observation
	for i := range 6 {
		got = observe(t, e, detect.Signal{Kind: detect.LoginFailed, At: c.now(), IP: "192.0.2.9", Account: fmt.Sprintf("usr_victim%d", i)})
		if i < 5 && len(got) != 0 {
			t.Fatalf("account %d raised %+v", i+1, got)
		}
	}
	if len(got) != 1 || got[0].Type != finding.CredentialStuffing || got[0].Subject.ID != "192.0.2.9" || got[0].Evidence["distinct"] != "account" {
		t.Fatalf("the sixth account: %+v", got)
	}
}

// TestCredentialStuffingWithUnknownEmails: a list of emails with no account
// behind them counts as distinct accounts too; one unknown email tried over
// and over counts once.
func TestCredentialStuffingWithUnknownEmails(t *testing.T) {
	e, c := engine(t, detect.Defaults())
	for range 20 {
		for _, o := range observe(t, e, detect.Signal{Kind: detect.LoginFailed, At: c.now(), IP: "192.0.2.20", Tried: "d1g35t"}) {
			t.Fatalf("one unknown email tried 20 times raised %+v", o)
		}
	}
	var got []finding.Observation
	for i := range 6 {
		s := detect.Signal{Kind: detect.LoginFailed, At: c.now(), IP: "192.0.2.21", Tried: fmt.Sprintf("digest%d", i)}
		if i == 2 {
			s.Tried, s.Account = "", "usr_known" // a known account among them counts alike
		}
		got = observe(t, e, s)
		if i < 5 && len(got) != 0 {
			t.Fatalf("email %d raised %+v", i+1, got)
		}
	}
	if len(got) != 1 || got[0].Type != finding.CredentialStuffing || got[0].Subject.ID != "192.0.2.21" {
		t.Fatalf("the sixth email: %+v", got)
	}
	for k, v := range got[0].Evidence {
		if strings.Contains(v, "digest") {
			t.Fatalf("evidence %s holds the tried email's digest: %q", k, v)
		}
	}
}

func TestSignalsWithoutTheSubjectAreNotCounted(t *testing.T) {
	e, c := engine(t, detect.Defaults())
	for range 50 {
		// A declined payment with no card fingerprint counts per address only.
		for _, o := range observe(t, e, detect.Signal{Kind: detect.PaymentDeclined, At: c.now()}) {
			t.Fatalf("a signal with no subject raised %+v", o)
		}
	}
}

func TestCardTestingByCardAndByAddress(t *testing.T) {
	e, c := engine(t, detect.Defaults())
	var subjects []string
	for i := range 10 {
		s := detect.Signal{Kind: detect.PaymentDeclined, At: c.now(), IP: "203.0.113.50", Card: fmt.Sprintf("fp%d", i%4),
			Detail: map[string]string{"amount": "100 EUR", "count": "spoofed"}}
		for _, o := range observe(t, e, s) {
			subjects = append(subjects, o.Subject.String())
			if o.Evidence["count"] == "spoofed" {
				t.Fatal("a signal's detail overwrote the detector's evidence")
			}
		}
	}
	// Cards fp0 and fp1 reach three declines (declines 9 and 10); the address reaches ten.
	if want := "card:fp0 card:fp1 ip:203.0.113.50"; strings.Join(subjects, " ") != want {
		t.Fatalf("observations about %v, want %s", subjects, want)
	}
}

func TestInvalidDetectorsAreRefused(t *testing.T) {
	good := detect.Defaults()[0]
	for name, bad := range map[string]func(*detect.Detector){
		"unknown type":      func(d *detect.Detector) { d.Type = "Recon:Ip/Nothing" },
		"no signals":        func(d *detect.Detector) { d.Signals = nil },
		"unknown subject":   func(d *detect.Detector) { d.Per = "email" },
		"distinct per self": func(d *detect.Detector) { d.Distinct = d.Per },
		"zero threshold":    func(d *detect.Detector) { d.Threshold = 0 },
		"tiny window":       func(d *detect.Detector) { d.Window = time.Millisecond },
		"huge window":       func(d *detect.Detector) { d.Window = 30 * 24 * time.Hour },
		"severity over 100": func(d *detect.Detector) { d.Severity = 101 },
	} {
		d := good
		bad(&d)
		if _, err := detect.New(throttle.NewMemory(time.Now, 0), []detect.Detector{good, d}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
