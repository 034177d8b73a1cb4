package detect_test

import (
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/detect"
	"github.com/bulwark-shop/bulwark/internal/finding"
)

func TestNetwork(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.77": "203.0.113.0/24", "2001:db8:1:2::/64": "2001:db8:1::/48", "2001:db8:1:2::9": "2001:db8:1::/48",
		"::ffff:198.51.100.3": "198.51.100.0/24", "": "", "nonsense": "",
	} {
		if got := detect.Network(in); got != want {
			t.Errorf("Network(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestTakeoverSuspected: a sign-in from a network the account has not used
// within 30 days, then a change of password (or email, second factor,
// passkey, card) from it within the hour, is a suspected takeover; a change
// from a known network, a change long after, an account's very first
// sign-in, and a change with no sign-in before it are not.
func TestTakeoverSuspected(t *testing.T) {
	e, c := engine(t, nil)
	login := func(account, ip string) []finding.Observation {
		return observe(t, e, detect.Signal{Kind: detect.LoginSucceeded, At: c.now(), Account: account, IP: ip})
	}
	change := func(account, ip, what string) []finding.Observation {
		return observe(t, e, detect.Signal{Kind: detect.AccountChanged, At: c.now(), Account: account, IP: ip,
			Detail: map[string]string{"change": what}})
	}
	// The owner's home network, and a change from it.
	login("usr_a", "198.51.100.10")
	login("usr_a", "198.51.100.11") // the same /24: not new
	if obs := change("usr_a", "198.51.100.11", "password"); len(obs) != 0 {
		t.Fatalf("a change from the known network: %+v", obs)
	}
	// A sign-in from elsewhere, then the email moved from there.
	login("usr_a", "203.0.113.5")
	obs := change("usr_a", "203.0.113.5", "email")
	if len(obs) != 1 || obs[0].Type != finding.TakeoverSuspected || obs[0].Subject != (finding.Subject{Kind: finding.Account, ID: "usr_a"}) ||
		obs[0].Evidence["change"] != "email" || obs[0].Evidence["network"] != "203.0.113.0/24" || obs[0].Severity != 80 {
		t.Fatalf("observations %+v", obs)
	}
	// The same change from the home network is not suspect.
	if obs := change("usr_a", "198.51.100.10", "card"); len(obs) != 0 {
		t.Fatalf("a change from the home network: %+v", obs)
	}
	// Another sign-in from another new network; the change comes after the
	// hour.
	login("usr_a", "192.0.2.50")
	c.add(61 * time.Minute)
	if obs := change("usr_a", "192.0.2.50", "password"); len(obs) != 0 {
		t.Fatalf("a change after the window: %+v", obs)
	}
	// An account's first sign-in is from no "new" network.
	login("usr_b", "203.0.113.99")
	if obs := change("usr_b", "203.0.113.99", "mfa"); len(obs) != 0 {
		t.Fatalf("a new account's first change: %+v", obs)
	}
	// A change with no sign-in first (an old session) is not counted up
	// into a finding by repeating it.
	for range 3 {
		if obs := change("usr_c", "203.0.113.7", "password"); len(obs) != 0 {
			t.Fatalf("changes without a sign-in: %+v", obs)
		}
	}
	// IPv6: a new /48.
	login("usr_d", "2001:db8:1:2::/64")
	login("usr_d", "2001:db8:1:3::/64") // same /48
	if obs := change("usr_d", "2001:db8:1:3::/64", "passkey"); len(obs) != 0 {
		t.Fatalf("a change from the known /48: %+v", obs)
	}
	login("usr_d", "2001:db8:9:1::/64")
	if obs := change("usr_d", "2001:db8:9:1::/64", "passkey"); len(obs) != 1 {
		t.Fatalf("a change from a new /48: %+v", obs)
	}
}
