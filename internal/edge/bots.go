package edge

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// TrapPath is the bot trap: robots.txt forbids it (all of /api/), the OpenAPI
// document does not name it, and a storefront may link to it where no person
// can see or follow the link (see docs/SECURITY.md), so only a crawler that
// ignores robots.txt, or a scanner guessing paths, asks for it.
const TrapPath = "/api/v1/private/export"

// RobotsTxt is the robots.txt the API serves: well-behaved crawlers keep out
// of the API, and so of the trap, which it does not name (naming it would
// advertise it).
const RobotsTxt = "User-agent: *\nDisallow: /api/\n"

// ActionBotTrap is the audit action of a sprung trap; the target is the address.
const ActionBotTrap = "edge.bot_trap"

// Auditor records security events; *audit.Trail is one.
type Auditor interface {
	Record(ctx context.Context, action, target, outcome, detail string) error
}

// TrapHit is what the trap knows of a request that reached it.
type TrapHit struct {
	// Addr is the client address (after trusted proxies).
	Addr      string
	Method    string
	Path      string
	UserAgent string
	// Host is the request's Host, the shop's own origin host.
	Host string
	// SecFetchSite, SecFetchDest, Origin and Referer are the request's
	// headers of those names ("" when absent).
	SecFetchSite, SecFetchDest, Origin, Referer string
}

// TrapOutcome is what the trap did with a hit.
type TrapOutcome string

// The outcomes of Spring.
const (
	// TrapBlocked: the address is blocked for the trap's period.
	TrapBlocked TrapOutcome = "blocked"
	// TrapCrossSite: a page of another site could have made the browser send
	// the request (an <img>, a link, a form), so the visitor is not to
	// blame: nothing is blocked.
	TrapCrossSite TrapOutcome = "cross_site"
	// TrapExempt: the address is the loopback or a trusted proxy's, which
	// stands for many clients: nothing is blocked.
	TrapExempt TrapOutcome = "exempt"
)

// CrossSite returns why a page of another site could have caused the hit
// (the reason it must not block), or "" when nothing says so. A browser says
// where a request comes from in Sec-Fetch-Site (every current browser), what
// it is for in Sec-Fetch-Dest (an <img>, <script> or <link> load is not
// "document" or "empty"), and, in older browsers, in Origin and Referer. A
// bot sends none of them, or its own site's.
func (h TrapHit) CrossSite() string {
	switch strings.ToLower(h.SecFetchSite) {
	case "", "none", "same-origin":
	default: // cross-site, or same-site from a sibling host
		return "Sec-Fetch-Site " + h.SecFetchSite
	}
	switch strings.ToLower(h.SecFetchDest) {
	case "", "document", "empty":
	default:
		return "Sec-Fetch-Dest " + h.SecFetchDest
	}
	if h.Origin != "" && !sameHost(h.Origin, h.Host) {
		return "Origin " + h.Origin
	}
	if h.Referer != "" && !sameHost(h.Referer, h.Host) {
		return "Referer from another site"
	}
	return ""
}

// sameHost reports whether the URL u names host (a "null" origin does not).
func sameHost(u, host string) bool {
	p, err := url.Parse(u)
	return err == nil && p.Host != "" && strings.EqualFold(p.Host, host)
}

// Trap blocks the clients that spring the bot trap.
type Trap struct {
	guard   *Guard
	period  time.Duration
	audit   Auditor
	trusted []netip.Prefix
}

// NewTrap returns a trap that blocks through guard for period and records each
// block in audit. It never blocks the loopback or an address of trusted.
func NewTrap(guard *Guard, period time.Duration, audit Auditor, trusted []netip.Prefix) *Trap {
	return &Trap{guard: guard, period: period, audit: audit, trusted: trusted}
}

// Spring decides a hit: a hit a third-party page could have caused, or from
// an exempt address, blocks nothing; any other blocks the address for the
// trap's period, with the hit as the block's reason, and records
// edge.bot_trap. It returns the outcome and why, and the error of the block
// or of the audit record.
func (t *Trap) Spring(ctx context.Context, h TrapHit) (TrapOutcome, string, error) {
	if why := h.CrossSite(); why != "" {
		return TrapCrossSite, why, nil
	}
	if Exempt(h.Addr, t.trusted) {
		return TrapExempt, "loopback or trusted proxy address", nil
	}
	reason := fmt.Sprintf("bot trap: %s %s, user agent %q", h.Method, h.Path, truncate(h.UserAgent, 200))
	if err := t.guard.BlockBecause(ctx, h.Addr, t.period, reason); err != nil {
		return "", "", fmt.Errorf("bot trap: %w", err)
	}
	if err := t.audit.Record(ctx, ActionBotTrap, h.Addr, "success", reason+"; blocked for "+t.period.String()); err != nil {
		return TrapBlocked, reason, fmt.Errorf("bot trap: %w", err)
	}
	return TrapBlocked, reason, nil
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// Honeypot reports whether a registration is a bot's: the form field behind
// value is hidden from people (a storefront renders it off-screen, labelled
// "leave this empty"), so only a form-filling bot gives it a value.
func Honeypot(value string) bool { return value != "" }
