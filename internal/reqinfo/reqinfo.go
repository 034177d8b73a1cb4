// Package reqinfo carries what is known about the request in flight (its id and
// the client's address and user agent) through a context, so audit records and
// log lines can name them without the domain knowing about HTTP.
package reqinfo

import (
	"context"
	"net/netip"
)

// Info describes the request that caused an action.
type Info struct {
	RequestID string
	IP        string
	UserAgent string
}

type key struct{}

// With returns a context carrying info.
func With(ctx context.Context, info Info) context.Context {
	return context.WithValue(ctx, key{}, info)
}

// From returns the Info in ctx, or the zero Info for actions that did not come
// over HTTP (the command line, background jobs).
func From(ctx context.Context) Info {
	info, _ := ctx.Value(key{}).(Info)
	return info
}

// AddressKey is the key that limits count a client address under: the
// address itself for IPv4, its /64 for IPv6, since one customer line gets a
// whole /64 and could otherwise take a fresh budget from each of its
// addresses. Every per-address limit (rate limits, the WAF's audit sampling,
// discount-code guessing) uses it.
func AddressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is6() {
		return netip.PrefixFrom(a.WithZone(""), 64).Masked().String()
	}
	return a.String()
}
