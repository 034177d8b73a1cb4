package edge_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/edge"
)

func TestClientIP(t *testing.T) {
	proxies, err := edge.ParsePrefixes("10.0.0.0/8, 192.168.1.1, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"no header: the peer", "203.0.113.9:5000", nil, "203.0.113.9"},
		{"an untrusted peer's header is ignored", "203.0.113.9:5000", []string{"198.51.100.1"}, "203.0.113.9"},
		{"a trusted proxy's header names the client", "10.1.2.3:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"the right-most untrusted hop wins over a spoofed left part", "10.1.2.3:5000", []string{"1.2.3.4, 198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"several header lines are one list", "10.1.2.3:5000", []string{"1.2.3.4", "198.51.100.7"}, "198.51.100.7"},
		{"a malformed hop falls back to the peer", "10.1.2.3:5000", []string{"1.2.3.4, not-an-ip"}, "10.1.2.3"},
		{"only proxies in the chain: the peer", "10.1.2.3:5000", []string{"10.2.2.2, 192.168.1.1"}, "10.1.2.3"},
		{"IPv6 peer and client", "[fd00::1]:443", []string{"2001:db8::5"}, "2001:db8::5"},
		{"IPv4-mapped peer counts as IPv4", "[::ffff:10.0.0.1]:1", []string{"198.51.100.2"}, "198.51.100.2"},
		{"a port in a hop is malformed", "10.1.2.3:5000", []string{"198.51.100.1:80"}, "10.1.2.3"},
		{"an empty header: the peer", "10.1.2.3:5000", []string{""}, "10.1.2.3"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := edge.ClientIP(c.peer, c.xff, proxies); got != c.want {
				t.Fatalf("ClientIP(%s, %q) = %s, want %s", c.peer, c.xff, got, c.want)
			}
		})
	}
	if _, err := edge.ParsePrefixes("10.0.0.0/33"); err == nil {
		t.Fatal("a bad CIDR was accepted")
	}
}

// FuzzClientIPXFF checks that whatever the header holds, the answer is the
// peer or an address that was in the header, and never a trusted proxy unless
// it is the peer.
func FuzzClientIPXFF(f *testing.F) {
	for _, s := range []string{"", "1.2.3.4", "1.2.3.4, 10.0.0.1", " , ,", "::1, fe80::1%eth0", "999.1.1.1", strings.Repeat("1.1.1.1,", 100)} {
		f.Add("10.0.0.1:80", s)
		f.Add("203.0.113.1:80", s)
	}
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, peer, xff string) {
		got := edge.ClientIP(peer, []string{xff}, proxies)
		a, err := netip.ParseAddr(got)
		if err != nil {
			return // an unparsable peer is echoed; the listener never gives one
		}
		peerAddr := edge.ClientIP(peer, nil, proxies)
		if got == peerAddr {
			return
		}
		if proxies[0].Contains(a) {
			t.Fatalf("ClientIP(%q, %q) = trusted proxy %s", peer, xff, got)
		}
		if !strings.Contains(xff, strings.TrimPrefix(got, "::ffff:")) && !strings.Contains(xff, ":") {
			t.Fatalf("ClientIP(%q, %q) = %s, neither the peer nor in the header", peer, xff, got)
		}
	})
}
