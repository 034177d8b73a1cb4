package response_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/finding"
	"github.com/bulwark-shop/bulwark/internal/response"
)

func mustDefaults(t *testing.T) *response.Policy {
	t.Helper()
	p, err := response.NewPolicy(response.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func active(typ finding.Type, kind finding.SubjectKind, subject string) finding.Finding {
	return finding.Finding{ID: "fnd_test", Type: typ, Severity: 50, Status: finding.Active,
		Subject: finding.Subject{Kind: kind, ID: subject}, Evidence: map[string]string{"count": "30"}}
}

func TestDefaultPolicy(t *testing.T) {
	p := mustDefaults(t)
	for _, tc := range []struct {
		typ    finding.Type
		kind   finding.SubjectKind
		action response.Action
		first  time.Duration
	}{
		{finding.Scanning, finding.IP, response.BlockAddress, 15 * time.Minute},
		{finding.WAFProbe, finding.IP, response.BlockAddress, 15 * time.Minute},
		{finding.CardTesting, finding.Card, response.BlockCard, 24 * time.Hour},
		{finding.CardTesting, finding.IP, response.HoldOrders, time.Hour},
		{finding.CredentialStuffing, finding.IP, response.Delay, time.Hour},
		{finding.AccountBruteForce, finding.Account, response.StepUp, 24 * time.Hour},
		{finding.TakeoverSuspected, finding.Account, response.StepUp, 24 * time.Hour},
		{finding.AccountBruteForce, finding.IP, response.Log, 0}, // no rule: log only
	} {
		t.Run(string(tc.typ)+"/"+string(tc.kind), func(t *testing.T) {
			d := p.Decide(active(tc.typ, tc.kind, "x"), response.Facts{})
			if d.Action != tc.action || d.For != tc.first {
				t.Fatalf("decision %+v, want %s for %s", d, tc.action, tc.first)
			}
			if !strings.HasPrefix(d.Response(), string(tc.action)) {
				t.Fatalf("response %q does not say %s", d.Response(), tc.action)
			}
		})
	}
}

func TestBlockGrowsWithRepeats(t *testing.T) {
	p := mustDefaults(t)
	want := []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour,
		16 * time.Hour, 24 * time.Hour, 24 * time.Hour}
	for repeats, w := range want {
		d := p.Decide(active(finding.Scanning, finding.IP, "203.0.113.9"), response.Facts{Repeats: repeats})
		if d.For != w || d.Repeat != repeats+1 {
			t.Fatalf("after %d repeats: %s (repeat %d), want %s (repeat %d)", repeats, d.For, d.Repeat, w, repeats+1)
		}
	}
	if got := (response.Rule{Base: time.Minute, Cap: time.Hour}).Duration(1 << 20); got != time.Hour {
		t.Fatalf("a huge repeat count gives %s, want the cap", got)
	}
}

func TestNeverActs(t *testing.T) {
	p := mustDefaults(t)
	t.Run("a third-party page cannot get a visitor blocked", func(t *testing.T) {
		// The attack: a page of another site makes its visitors' browsers
		// request 30 missing paths of the shop a minute. The signals are
		// counted and the finding raised, marked cross-site; no block.
		f := active(finding.Scanning, finding.IP, "198.51.100.7")
		f.Evidence["site"] = "cross-site"
		d := p.Decide(f, response.Facts{})
		if d.Action != response.Log || d.Note != response.NoteCrossSite {
			t.Fatalf("cross-site finding decided %+v", d)
		}
	})
	t.Run("the loopback or a trusted proxy is never blocked", func(t *testing.T) {
		d := p.Decide(active(finding.WAFProbe, finding.IP, "127.0.0.1"), response.Facts{Exempt: true})
		if d.Action != response.Log || d.Note != response.NoteExempt {
			t.Fatalf("exempt address decided %+v", d)
		}
	})
	t.Run("an IPv6 /64 is not taken for a blocked address", func(t *testing.T) {
		d := p.Decide(active(finding.Scanning, finding.IP, "2001:db8::/64"), response.Facts{Unblockable: true})
		if d.Action != response.Log || d.Note != response.NoteIPv6Prefix {
			t.Fatalf("IPv6 /64 decided %+v", d)
		}
	})
	t.Run("a suppressed finding is known benign", func(t *testing.T) {
		f := active(finding.Scanning, finding.IP, "198.51.100.7")
		f.Status = finding.Suppressed
		if d := p.Decide(f, response.Facts{}); d.Action != response.Log {
			t.Fatalf("suppressed finding decided %+v", d)
		}
	})
}

func TestRuleValidation(t *testing.T) {
	ok := response.Rule{Type: finding.Scanning, Kind: finding.IP, Action: response.BlockAddress, Base: time.Minute, Cap: time.Hour}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]response.Rule{
		"an account finding cannot block the address (NAT)": {Type: finding.AccountBruteForce, Kind: finding.Account,
			Action: response.BlockAddress, Base: time.Minute, Cap: time.Hour},
		"a card finding cannot lock an account": {Type: finding.CardTesting, Kind: finding.Card, Action: response.LockAccount,
			Base: time.Minute, Cap: time.Hour},
		"unknown type":   {Type: "Nope", Kind: finding.IP, Action: response.Log},
		"unknown kind":   {Type: finding.Scanning, Kind: "email", Action: response.Log},
		"unknown action": {Type: finding.Scanning, Kind: finding.IP, Action: "ban"},
		"base too short": {Type: finding.Scanning, Kind: finding.IP, Action: response.BlockAddress, Base: time.Second, Cap: time.Hour},
		"cap below base": {Type: finding.Scanning, Kind: finding.IP, Action: response.BlockAddress, Base: time.Hour, Cap: time.Minute},
		"cap too long": {Type: finding.Scanning, Kind: finding.IP, Action: response.BlockAddress, Base: time.Hour,
			Cap: 365 * 24 * time.Hour},
	} {
		t.Run(name, func(t *testing.T) {
			if err := r.Validate(); err == nil {
				t.Fatal("accepted")
			}
			if _, err := response.NewPolicy([]response.Rule{r}); err == nil {
				t.Fatal("policy accepted it")
			}
		})
	}
	if _, err := response.NewPolicy([]response.Rule{ok, ok}); err == nil {
		t.Fatal("two rules for one type and kind accepted")
	}
}

// memStore is a response.Store in memory, failing on command.
type memStore struct {
	mu        sync.Mutex
	blocks    []response.Block
	responses map[string]string
	fail      error
}

func (m *memStore) RecordBlock(_ context.Context, b response.Block) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.blocks = append(m.blocks, b)
	return nil
}

func (m *memStore) BlockCount(_ context.Context, s finding.Subject, since time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return 0, m.fail
	}
	n := 0
	for _, b := range m.blocks {
		if b.Subject == s && !b.CreatedAt.Before(since) {
			n++
		}
	}
	return n, nil
}

func (m *memStore) ActiveBlocks(_ context.Context, now time.Time, limit int) ([]response.Block, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, m.fail
	}
	var out []response.Block
	for _, b := range m.blocks {
		if b.Active(now) && len(out) < limit {
			out = append(out, b)
		}
	}
	return out, nil
}

func (m *memStore) BlockInForce(_ context.Context, s finding.Subject, now time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return false, m.fail
	}
	for _, b := range m.blocks {
		if b.Subject == s && b.Active(now) {
			return true, nil
		}
	}
	return false, nil
}

func (m *memStore) SetFindingResponse(_ context.Context, findingID, r string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.responses == nil {
		m.responses = map[string]string{}
	}
	m.responses[findingID] = r
	return nil
}

type edgeCall struct {
	addr   string
	d      time.Duration
	reason string
}

type fakeEdge struct{ calls []edgeCall }

func (e *fakeEdge) BlockBecause(_ context.Context, addr string, d time.Duration, reason string) error {
	e.calls = append(e.calls, edgeCall{addr, d, reason})
	return nil
}

func TestResponder(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	st := &memStore{}
	edge := &fakeEdge{}
	checker := response.NewChecker(st, clock, nil)
	r := response.NewResponder(response.Config{Policy: mustDefaults(t), Store: st, Edge: edge, Checker: checker, Now: clock,
		Exempt: func(a string) bool { return a == "10.0.0.1" }})
	ctx := context.Background()

	t.Run("an address is blocked at the edge, longer on each repeat within a day", func(t *testing.T) {
		for i, want := range []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour} {
			f := active(finding.Scanning, finding.IP, "203.0.113.5")
			f.ID = "fnd_scan" + string(rune('a'+i))
			if _, err := r.Respond(ctx, f); err != nil {
				t.Fatal(err)
			}
			got := edge.calls[len(edge.calls)-1]
			if got.addr != "203.0.113.5" || got.d != want || !strings.Contains(got.reason, f.ID) {
				t.Fatalf("edge block %+v, want %s for %s", got, want, f.ID)
			}
			if resp := st.responses[f.ID]; !strings.HasPrefix(resp, "block-ip "+want.String()) {
				t.Fatalf("finding response %q", resp)
			}
		}
		now = now.Add(25 * time.Hour) // the earlier blocks are more than a day old
		f := active(finding.Scanning, finding.IP, "203.0.113.5")
		if _, err := r.Respond(ctx, f); err != nil {
			t.Fatal(err)
		}
		if got := edge.calls[len(edge.calls)-1].d; got != 15*time.Minute {
			t.Fatalf("a block a day later lasts %s, want the base again", got)
		}
	})
	t.Run("an exempt address is never blocked", func(t *testing.T) {
		n := len(edge.calls)
		f := active(finding.WAFProbe, finding.IP, "10.0.0.1")
		f.ID = "fnd_proxy"
		if _, err := r.Respond(ctx, f); err != nil {
			t.Fatal(err)
		}
		if len(edge.calls) != n {
			t.Fatalf("exempt address blocked: %+v", edge.calls[n:])
		}
		if st.responses[f.ID] != "log ("+response.NoteExempt+")" {
			t.Fatalf("response %q", st.responses[f.ID])
		}
	})
	t.Run("an IPv6 client's /64 is recorded as not blocked, not blocked in part", func(t *testing.T) {
		n := len(edge.calls)
		f := active(finding.Scanning, finding.IP, "2001:db8:1:2::/64")
		f.ID = "fnd_v6"
		if _, err := r.Respond(ctx, f); err != nil {
			t.Fatal(err)
		}
		if len(edge.calls) != n || st.responses[f.ID] != "log ("+response.NoteIPv6Prefix+")" {
			t.Fatalf("edge calls %+v, response %q", edge.calls[n:], st.responses[f.ID])
		}
	})
	t.Run("credential stuffing delays the address, never blocks it, and the checker knows at once", func(t *testing.T) {
		n, blocks := len(edge.calls), checker.Active()
		for _, ip := range []string{"198.51.100.20", "2001:db8:5:6::/64"} {
			f := active(finding.CredentialStuffing, finding.IP, ip)
			f.ID = "fnd_stuff" + ip
			if _, err := r.Respond(ctx, f); err != nil {
				t.Fatal(err)
			}
			if !checker.Delayed(ip) {
				t.Fatalf("%s not delayed", ip)
			}
			if resp := st.responses[f.ID]; !strings.HasPrefix(resp, "delay 1h0m0s (repeat 1)") {
				t.Fatalf("finding response %q", resp)
			}
		}
		if len(edge.calls) != n {
			t.Fatalf("a stuffing finding blocked an address at the edge: %+v", edge.calls[n:])
		}
		if checker.Delayed("198.51.100.21") || checker.Delayed("") {
			t.Fatal("another address is delayed")
		}
		if checker.Active() != blocks {
			t.Fatalf("a delay counted as a block: %d blocks, %d before", checker.Active(), blocks)
		}
		// Another instance's copy, refreshed from the store, has it too;
		// and it ends when it expires.
		other := response.NewChecker(st, clock, nil)
		if err := other.Refresh(ctx); err != nil || !other.Delayed("198.51.100.20") {
			t.Fatalf("another instance's copy: delayed %v (%v)", other.Delayed("198.51.100.20"), err)
		}
		now = now.Add(2 * time.Hour)
		if checker.Delayed("198.51.100.20") {
			t.Fatal("the delay outlived its hour")
		}
	})
	t.Run("step-up: the account's sessions begun before must sign in again, for a day", func(t *testing.T) {
		if !checker.StepUpSince("usr_t").IsZero() {
			t.Fatal("a step-up before any finding")
		}
		f := active(finding.TakeoverSuspected, finding.Account, "usr_t")
		f.ID = "fnd_takeover"
		at := now
		if _, err := r.Respond(ctx, f); err != nil {
			t.Fatal(err)
		}
		if resp := st.responses[f.ID]; resp != "step-up 24h0m0s (repeat 1)" {
			t.Fatalf("finding response %q", resp)
		}
		if got := checker.StepUpSince("usr_t"); !got.Equal(at) || !checker.StepUpSince("usr_other").IsZero() {
			t.Fatalf("step-up since %s, want %s", got, at)
		}
		if checker.AccountLocked("usr_t") {
			t.Fatal("a step-up locked the account")
		}
		other := response.NewChecker(st, clock, nil)
		if err := other.Refresh(ctx); err != nil || !other.StepUpSince("usr_t").Equal(at) {
			t.Fatalf("another instance's copy: %s (%v)", other.StepUpSince("usr_t"), err)
		}
		now = now.Add(24*time.Hour + time.Second)
		if !checker.StepUpSince("usr_t").IsZero() {
			t.Fatal("the step-up outlived its day")
		}
	})
	t.Run("card testing from an address holds its orders for review, refuses nothing", func(t *testing.T) {
		n, blocks := len(edge.calls), checker.Active()
		f := active(finding.CardTesting, finding.IP, "198.51.100.30")
		f.ID = "fnd_hold"
		if _, err := r.Respond(ctx, f); err != nil {
			t.Fatal(err)
		}
		if resp := st.responses[f.ID]; resp != "hold-orders 1h0m0s (repeat 1)" {
			t.Fatalf("finding response %q", resp)
		}
		if !checker.OrdersHeld("198.51.100.30", "", "") || !checker.OrdersHeld("198.51.100.30", "usr_x", "cfp_y") {
			t.Fatal("the address's orders are not held")
		}
		if checker.OrdersHeld("198.51.100.31", "usr_x", "cfp_y") || checker.OrdersHeld("", "", "") {
			t.Fatal("another subject's orders are held")
		}
		if len(edge.calls) != n || checker.Active() != blocks || checker.CardBlocked("198.51.100.30") {
			t.Fatal("a hold blocked something")
		}
		other := response.NewChecker(st, clock, nil)
		if err := other.Refresh(ctx); err != nil || !other.OrdersHeld("198.51.100.30", "", "") {
			t.Fatalf("another instance's copy does not hold (%v)", err)
		}
		now = now.Add(time.Hour + time.Second)
		if checker.OrdersHeld("198.51.100.30", "", "") {
			t.Fatal("the hold outlived its hour")
		}
	})
	t.Run("a card fingerprint block is refused by the checker at once", func(t *testing.T) {
		if checker.CardBlocked("fp_abc") {
			t.Fatal("blocked before any finding")
		}
		f := active(finding.CardTesting, finding.Card, "fp_abc")
		f.ID = "fnd_card"
		if _, err := r.Respond(ctx, f); err != nil {
			t.Fatal(err)
		}
		if !checker.CardBlocked("fp_abc") || checker.CardBlocked("fp_other") || checker.CardBlocked("") {
			t.Fatal("checker does not refuse exactly the tested card")
		}
		// Another instance learns of it on its next refresh.
		other := response.NewChecker(st, clock, nil)
		if other.CardBlocked("fp_abc") {
			t.Fatal("blocked before the refresh")
		}
		if err := other.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if !other.CardBlocked("fp_abc") {
			t.Fatal("another instance does not refuse the card after a refresh")
		}
		now = now.Add(24*time.Hour + time.Second)
		if checker.CardBlocked("fp_abc") || other.CardBlocked("fp_abc") {
			t.Fatal("card still refused after the block ended")
		}
	})
	t.Run("a store that fails is an error and the old copy holds", func(t *testing.T) {
		f := active(finding.CardTesting, finding.Card, "fp_new")
		f.ID = "fnd_fail"
		if err := checker.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		st.fail = errors.New("database down")
		defer func() { st.fail = nil }()
		if _, err := r.Respond(ctx, f); err == nil {
			t.Fatal("no error with the store down")
		}
		if checker.CardBlocked("fp_new") {
			t.Fatal("a block that was not recorded is enforced")
		}
		if err := checker.Refresh(ctx); err == nil {
			t.Fatal("refresh with the store down did not fail")
		}
	})
}

func TestObservedHook(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	st := &memStore{}
	edge := &fakeEdge{}
	r := response.NewResponder(response.Config{Policy: mustDefaults(t), Store: st, Edge: edge, Now: clock})
	ctx := context.Background()
	f := active(finding.Scanning, finding.IP, "203.0.113.77")

	r.Observed(ctx, f, true)
	if len(edge.calls) != 1 {
		t.Fatalf("raised finding: %d blocks, want 1", len(edge.calls))
	}
	r.Observed(ctx, f, false) // during the block: nothing more
	if len(edge.calls) != 1 {
		t.Fatalf("observation during a block blocked again: %+v", edge.calls)
	}
	now = now.Add(16 * time.Minute) // the block ended; the scan starts again
	r.Observed(ctx, f, false)
	if len(edge.calls) != 2 || edge.calls[1].d != 30*time.Minute {
		t.Fatalf("scan after the block: %+v, want a second block of 30m", edge.calls)
	}
	brute := active(finding.AccountBruteForce, finding.Account, "usr_x")
	brute.ID = "fnd_brute"
	r.Observed(ctx, brute, true)
	if got := st.responses["fnd_brute"]; got != "step-up 24h0m0s (repeat 1)" {
		t.Fatalf("brute force response %q", got)
	}
	delete(st.responses, "fnd_brute")
	r.Observed(ctx, brute, false) // during the step-up: nothing more
	if _, ok := st.responses["fnd_brute"]; ok {
		t.Fatal("a further observation during the step-up was acted on again")
	}
	stuffing := active(finding.CredentialStuffing, finding.IP, "203.0.113.78")
	stuffing.ID = "fnd_stuff"
	r.Observed(ctx, stuffing, true)
	if got := st.responses["fnd_stuff"]; got != "delay 1h0m0s (repeat 1)" {
		t.Fatalf("credential stuffing response %q", got)
	}
	delete(st.responses, "fnd_stuff")
	r.Observed(ctx, stuffing, false) // during the delay: nothing more
	if _, ok := st.responses["fnd_stuff"]; ok {
		t.Fatal("an observation during the delay delayed again")
	}
	if len(edge.calls) != 2 {
		t.Fatal("credential stuffing blocked the (possibly shared) address")
	}
}

func TestAccountLockedFor(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	st := &memStore{}
	rule := response.Rule{Type: finding.AccountBruteForce, Kind: finding.Account, Action: response.LockAccount,
		Base: 30 * time.Minute, Cap: 4 * time.Hour}
	p, err := response.NewPolicy([]response.Rule{rule})
	if err != nil {
		t.Fatal(err)
	}
	checker := response.NewChecker(st, clock, nil)
	r := response.NewResponder(response.Config{Policy: p, Store: st, Checker: checker, Now: clock})
	f := active(finding.AccountBruteForce, finding.Account, "usr_victim")
	if _, err := r.Respond(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	if got := checker.AccountLockedFor("usr_victim"); got != 30*time.Minute {
		t.Fatalf("locked for %s, want 30m", got)
	}
	if checker.AccountLockedFor("usr_other") != 0 || checker.AccountLockedFor("") != 0 || !checker.AccountLocked("usr_victim") {
		t.Fatal("the lock is not exactly the account's")
	}
	now = now.Add(31 * time.Minute)
	if checker.AccountLockedFor("usr_victim") != 0 {
		t.Fatal("still locked after the lock ended")
	}
}
