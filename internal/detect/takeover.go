package detect

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/bulwark-shop/bulwark/internal/finding"
)

// Takeover raises Impact:Account/TakeoverSuspected (AppSensor AE-type
// "account takeover"): a sign-in to an account from a network it has not
// signed in from within Known, followed within Window by a change that
// would let whoever made it keep the account (AccountChanged) from that
// network. Either alone is ordinary: people travel, and people change
// their passwords; the two together are how a stolen session or password
// is turned into a stolen account.
//
// A network is an IPv4 /24 or an IPv6 /48, so a household's or a mobile
// carrier's changing address is one network. An account's very first
// sign-in is not from a "new" network (there is nothing to compare with).
// Counts are fixed windows: a network is known for Known after the first
// sign-in from it.
type Takeover struct {
	Known    time.Duration
	Window   time.Duration
	Severity int
}

// DefaultTakeover: networks are known for 30 days; a change within an hour
// of the sign-in from a new one is suspect; severity 80 (the response asks
// for step-up).
func DefaultTakeover() Takeover {
	return Takeover{Known: 30 * 24 * time.Hour, Window: time.Hour, Severity: 80}
}

// Network returns the network of an address key: an IPv4 /24, an IPv6 /48
// (of an address or of a /64 key); "" for what parses as neither.
func Network(addressKey string) string {
	if p, err := netip.ParsePrefix(addressKey); err == nil {
		addressKey = p.Addr().String()
	}
	a, err := netip.ParseAddr(addressKey)
	if err != nil {
		return ""
	}
	a = a.Unmap()
	bits := 48
	if a.Is4() {
		bits = 24
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return ""
	}
	return p.String()
}

func (t Takeover) observe(ctx context.Context, c Counter, s Signal) (*finding.Observation, error) {
	if t.Window <= 0 || s.Account == "" || (s.Kind != LoginSucceeded && s.Kind != AccountChanged) {
		return nil, nil
	}
	network := Network(s.IP)
	if network == "" {
		return nil, nil
	}
	suspect := "detect:takeover:newnet:" + s.Account + ":" + network
	if s.Kind == LoginSucceeded {
		known, err := c.Incr(ctx, "detect:takeover:net:"+s.Account+":"+network, t.Known)
		if err != nil {
			return nil, fmt.Errorf("count %s: %w", finding.TakeoverSuspected, err)
		}
		logins, err := c.Incr(ctx, "detect:takeover:logins:"+s.Account, t.Known)
		if err != nil {
			return nil, fmt.Errorf("count %s: %w", finding.TakeoverSuspected, err)
		}
		if known == 1 && logins > 1 {
			if _, err := c.Incr(ctx, suspect, t.Window); err != nil {
				return nil, fmt.Errorf("count %s: %w", finding.TakeoverSuspected, err)
			}
		}
		return nil, nil
	}
	n, err := c.Count(ctx, suspect)
	if err != nil {
		return nil, fmt.Errorf("count %s: %w", finding.TakeoverSuspected, err)
	}
	if n == 0 {
		return nil, nil
	}
	ev := map[string]string{"signal": string(s.Kind), "network": network, "window": t.Window.String(),
		"change": s.Detail["change"], "count": strconv.FormatInt(n, 10)}
	return &finding.Observation{Type: finding.TakeoverSuspected, Severity: t.Severity,
		Subject: finding.Subject{Kind: finding.Account, ID: s.Account}, At: s.At, Evidence: ev}, nil
}
