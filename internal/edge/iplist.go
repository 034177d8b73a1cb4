package edge

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// ParsePrefixes parses a comma-separated list of CIDR prefixes or single
// addresses (taken as /32 or /128): the one parser of every address-list
// setting (ip-deny, ip-allow, admin-ip-allow, trusted-proxies, egress-allow). Blanks around entries are ignored; an empty
// list is nil. An IPv4-mapped IPv6 address is unmapped, so "::ffff:10.0.0.1"
// and "10.0.0.1" mean the same client.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		var p netip.Prefix
		if strings.Contains(f, "/") {
			var err error
			if p, err = netip.ParsePrefix(f); err != nil {
				return nil, fmt.Errorf("%q: want a CIDR prefix such as 10.0.0.0/8: %w", f, err)
			}
		} else {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("%q: want an IP address or CIDR prefix: %w", f, err)
			}
			if a.Zone() != "" {
				return nil, fmt.Errorf("%q: zones are not allowed", f)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Is4In6() {
			// Shorter than /96 it would cover IPv6 addresses beside the
			// mapped IPv4 ones: an allow list must not grow by a typo.
			if p.Bits() < 96 {
				return nil, fmt.Errorf("%q: an IPv4-mapped prefix needs at least 96 bits", f)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// contains reports whether any prefix holds a.
func contains(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Blocks holds dynamic blocks: addresses refused until a time.
type Blocks interface {
	// Block refuses a until the given time for reason (a later block wins
	// over an earlier one, and keeps its reason).
	Block(ctx context.Context, a netip.Addr, until time.Time, reason string) error
	// Blocked reports whether a is blocked now.
	Blocked(ctx context.Context, a netip.Addr) (bool, error)
	// List returns the blocks in force now, in no particular order.
	List(ctx context.Context) ([]Block, error)
	// Lift ends the block of a; it reports whether there was one in force.
	Lift(ctx context.Context, a netip.Addr) (bool, error)
}

// Lists are the static lists; every list may be empty.
type Lists struct {
	// Deny is refused everywhere.
	Deny []netip.Prefix
	// Allow, when not empty, is the only set of addresses let in.
	Allow []netip.Prefix
	// AdminAllow, when not empty, is the only set let into admin routes.
	AdminAllow []netip.Prefix
}

// Guard decides whether a client address gets in.
type Guard struct {
	lists  Lists
	blocks Blocks
	now    func() time.Time
}

// NewGuard returns a guard over the static lists and the dynamic blocks.
func NewGuard(l Lists, b Blocks, now func() time.Time) *Guard {
	return &Guard{lists: l, blocks: b, now: now}
}

// ErrBlocked is returned by Admit for a refused address.
var ErrBlocked = errors.New("client address refused")

// Admit returns nil when the client at addr (text form; "" or garbage is
// refused whenever a list or block could apply) may make the request, ErrBlocked
// when it may not, and another error when the dynamic blocks cannot be read
// (the static lists have been applied by then; the HTTP layer admits the
// request and logs, as a Redis outage must not become a shop outage).
func (g *Guard) Admit(ctx context.Context, addr string, admin bool) error {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return ErrBlocked
	}
	a = a.Unmap().WithZone("")
	switch {
	case contains(g.lists.Deny, a):
		return ErrBlocked
	case len(g.lists.Allow) > 0 && !contains(g.lists.Allow, a):
		return ErrBlocked
	case admin && len(g.lists.AdminAllow) > 0 && !contains(g.lists.AdminAllow, a):
		return ErrBlocked
	}
	blocked, err := g.blocks.Blocked(ctx, a)
	if err != nil {
		return fmt.Errorf("read dynamic blocks: %w", err)
	}
	if blocked {
		return ErrBlocked
	}
	return nil
}

// Block refuses the client at addr for d from now, for an operator's reason.
// Addresses that do not parse are ignored: there is nothing to block.
func (g *Guard) Block(ctx context.Context, addr string, d time.Duration) error {
	return g.BlockBecause(ctx, addr, d, "blocked by an operator")
}

// BlockBecause refuses the client at addr for d from now and keeps reason
// for the block list. Addresses that do not parse are ignored.
func (g *Guard) BlockBecause(ctx context.Context, addr string, d time.Duration, reason string) error {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return nil
	}
	if err := g.blocks.Block(ctx, a.Unmap().WithZone(""), g.now().Add(d), reason); err != nil {
		return fmt.Errorf("block %s: %w", a, err)
	}
	return nil
}

// Exempt reports whether the client at addr must never be blocked
// dynamically: the loopback (the operator's own machine, or a proxy on it)
// and the trusted proxies, whose address stands for every client behind them.
// An address that does not parse is exempt too: there is nothing to block.
func Exempt(addr string, trusted []netip.Prefix) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return true
	}
	a = a.Unmap().WithZone("")
	return a.IsLoopback() || a.IsUnspecified() || contains(trusted, a)
}

// CodeRequestBlocked is the problem code of a request refused at the edge
// (API.md: 403 `request_blocked`, never saying which list or rule matched).
const CodeRequestBlocked = "request_blocked"
