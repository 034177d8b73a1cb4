package edge

import (
	"net"
	"net/netip"
	"strings"
)

func trusted(a netip.Addr, proxies []netip.Prefix) bool {
	for _, p := range proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP returns the client's address. remoteAddr is the direct peer
// (host:port); xff holds the X-Forwarded-For header lines in order. The header
// is believed only when the peer is a trusted proxy: then the client is the
// right-most address in it that is not itself a trusted proxy (the left part
// is whatever the client claimed, and a client can claim anything). A header
// that does not parse, or names only trusted proxies, leaves the peer.
func ClientIP(remoteAddr string, xff []string, proxies []netip.Prefix) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	peer = peer.Unmap()
	if len(xff) == 0 || !trusted(peer, proxies) {
		return peer.String()
	}
	hops := strings.Split(strings.Join(xff, ","), ",")
	if len(hops) > 64 { // no real chain is this long
		return peer.String()
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil || a.Zone() != "" {
			return peer.String()
		}
		a = a.Unmap()
		if !trusted(a, proxies) {
			return a.String()
		}
	}
	return peer.String()
}
