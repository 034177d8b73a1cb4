// Package egress owns Bulwark's outbound HTTP to addresses that others choose
// (webhook endpoints): a client whose every connection is checked, at the
// moment it is made, against the addresses a shop must never be made to reach
// on someone's behalf — its own host, the private network around it, and the
// cloud metadata service (server-side request forgery).
//
// The check runs in the dialer's Control hook, on the address actually being
// connected to, after name resolution: a name that resolves to a public
// address at registration and to 127.0.0.1 when the request goes out (DNS
// rebinding) is refused all the same. Proxies from the environment are never
// used (a proxy would connect on our behalf, past the check), redirects are
// not followed, and every phase of a request has a time limit and the answer
// a size limit. Addresses in the allow list (the egress-allow setting) are
// reached even inside the refused ranges: an operator's own receiver on a
// private network, or a test's receiver on loopback.
package egress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrRefused is the error of a connection (or URL) the guard refuses; dial
// errors wrap it, so errors.Is finds it through *url.Error and *net.OpError.
var ErrRefused = errors.New("destination address not allowed")

// ErrTooLarge is the read error of an answer body longer than MaxResponseBytes.
var ErrTooLarge = errors.New("response body too large")

// denied are the ranges refused unless allowed, beside what netip's own
// predicates find (loopback, RFC 1918 and RFC 4193 private, link-local,
// multicast, unspecified). IPv4-mapped IPv6 addresses are unmapped first, so
// ::ffff:127.0.0.1 is 127.0.0.1 here.
var denied = mustPrefixes(
	"0.0.0.0/8",       // "this network" (0.0.0.0 reaches the local host on Linux)
	"10.0.0.0/8",      // RFC 1918
	"100.64.0.0/10",   // carrier-grade NAT (RFC 6598)
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local, cloud metadata at 169.254.169.254
	"172.16.0.0/12",   // RFC 1918
	"192.0.0.0/24",    // IETF protocol assignments
	"192.0.2.0/24",    // documentation
	"192.88.99.0/24",  // 6to4 relay anycast
	"192.168.0.0/16",  // RFC 1918
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // documentation
	"203.0.113.0/24",  // documentation
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, and 255.255.255.255 broadcast
	"::/96",           // unspecified, loopback and IPv4-compatible (::127.0.0.1)
	"64:ff9b::/96",    // NAT64: would reach the IPv4 address it embeds
	"64:ff9b:1::/48",  // local-use NAT64
	"100::/64",        // discard
	"2001::/32",       // Teredo, embeds an IPv4 address
	"2001:db8::/32",   // documentation
	"2002::/16",       // 6to4, embeds an IPv4 address
	"fc00::/7",        // unique local (RFC 4193)
	"fe80::/10",       // link-local
	"fec0::/10",       // site-local (deprecated, still routed by some)
	"ff00::/8",        // multicast
)

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// Options configure a Guard. Zero durations and sizes take the defaults.
type Options struct {
	// Allow are the prefixes reached even inside the refused ranges.
	Allow []netip.Prefix
	// ConnectTimeout bounds the TCP connect; TLSTimeout the handshake;
	// HeaderTimeout the wait for the answer's headers after the request is
	// sent; Total the whole request, body included.
	ConnectTimeout, TLSTimeout, HeaderTimeout, Total time.Duration
	// MaxResponseBytes is how much of an answer's body is read at most.
	MaxResponseBytes int64
	// Log receives one line per refused connection.
	Log *slog.Logger
	// Registry, when set, gets bulwark_egress_connections_total{outcome}.
	Registry prometheus.Registerer
	// TLS, when set, is the client's TLS configuration (tests trust their own CA).
	TLS *tls.Config
}

// Defaults of Options.
const (
	DefaultConnectTimeout   = 5 * time.Second
	DefaultTLSTimeout       = 5 * time.Second
	DefaultHeaderTimeout    = 10 * time.Second
	DefaultTotal            = 15 * time.Second
	DefaultMaxResponseBytes = 64 << 10
)

// Guard decides which addresses outbound connections may reach and makes the
// clients that obey it.
type Guard struct {
	opts        Options
	connections *prometheus.CounterVec
}

// New returns a Guard with opts.
func New(opts Options) *Guard {
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
	if opts.TLSTimeout <= 0 {
		opts.TLSTimeout = DefaultTLSTimeout
	}
	if opts.HeaderTimeout <= 0 {
		opts.HeaderTimeout = DefaultHeaderTimeout
	}
	if opts.Total <= 0 {
		opts.Total = DefaultTotal
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	g := &Guard{opts: opts, connections: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bulwark_egress_connections_total",
		Help: "Outbound connections to third-party addresses (webhooks), by outcome: allowed, or refused by the egress guard.",
	}, []string{"outcome"})}
	g.connections.WithLabelValues("allowed")
	g.connections.WithLabelValues("refused")
	if opts.Registry != nil {
		opts.Registry.MustRegister(g.connections)
	}
	return g
}

// Allowed reports whether a may be connected to: it is in the allow list, or
// in none of the refused ranges.
func (g *Guard) Allowed(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, p := range g.opts.Allow {
		if p.Contains(a) {
			return true
		}
	}
	return Public(a)
}

// Public reports whether a is outside every refused range (with no allow list).
func Public(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range denied {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// AllowedHost reports whether host (a name or an address literal) is in the
// allow list itself: plain http is accepted for such hosts only.
func (g *Guard) AllowedHost(ctx context.Context, host string) bool {
	addrs, err := g.resolve(ctx, host)
	if err != nil || len(addrs) == 0 {
		return false
	}
	for _, a := range addrs {
		in := false
		for _, p := range g.opts.Allow {
			in = in || p.Contains(a.Unmap())
		}
		if !in {
			return false
		}
	}
	return true
}

// CheckHost resolves host and returns an error wrapping ErrRefused when any
// of its addresses is refused (the check at registration; the dialer checks
// again, on the address it connects to).
func (g *Guard) CheckHost(ctx context.Context, host string) error {
	addrs, err := g.resolve(ctx, host)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if !g.Allowed(a) {
			return fmt.Errorf("%s resolves to %s: %w", host, a.Unmap(), ErrRefused)
		}
	}
	return nil
}

func (g *Guard) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, g.opts.ConnectTimeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", host, err)
	}
	return addrs, nil
}

// control is the dialer's Control hook: it runs after resolution, before the
// connect, with the address about to be connected to.
func (g *Guard) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err == nil && (network == "tcp4" || network == "tcp6") && g.Allowed(ap.Addr()) {
		g.connections.WithLabelValues("allowed").Inc()
		return nil
	}
	g.connections.WithLabelValues("refused").Inc()
	g.opts.Log.Warn("egress connection refused", "network", network, "address", address)
	return fmt.Errorf("connect to %s: %w", address, ErrRefused)
}

// Client returns an HTTP client that connects only where the guard allows,
// uses no proxy, follows no redirect (a 3xx is the answer), and bounds every
// phase of a request and the size of the answer's body.
func (g *Guard) Client() *http.Client {
	dialer := &net.Dialer{Timeout: g.opts.ConnectTimeout, KeepAlive: 30 * time.Second, Control: g.control}
	tlsConfig := g.opts.TLS
	if tlsConfig == nil {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	t := &http.Transport{
		Proxy:                  nil, // never HTTP(S)_PROXY: the proxy would connect past the check
		DialContext:            dialer.DialContext,
		TLSClientConfig:        tlsConfig,
		TLSHandshakeTimeout:    g.opts.TLSTimeout,
		ResponseHeaderTimeout:  g.opts.HeaderTimeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 16 << 10,
		// The webhook worker sends a batch (up to 32) at once, often to one
		// receiver: connections kept per host are handshakes (TLS, the dial
		// check) not repeated for the next batch. Still bounded.
		MaxIdleConns:        32,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     60 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	return &http.Client{
		Transport: limited{next: t, max: g.opts.MaxResponseBytes},
		Timeout:   g.opts.Total,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// limited caps the body of every answer.
type limited struct {
	next http.RoundTripper
	max  int64
}

func (l limited) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &capped{rc: resp.Body, left: l.max}
	return resp, nil
}

type capped struct {
	rc   io.ReadCloser
	left int64
}

func (c *capped) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// One byte more tells a body of exactly the limit from a longer one.
		var b [1]byte
		if n, _ := c.rc.Read(b[:]); n > 0 {
			return 0, ErrTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.rc.Read(p)
	c.left -= int64(n)
	return n, err
}

func (c *capped) Close() error { return c.rc.Close() }

// CheckURL checks a URL a client gave (a webhook endpoint): https, or http to
// a host in the allow list; no user information; and every address its host
// resolves to allowed. The errors are safe to show.
func (g *Guard) CheckURL(ctx context.Context, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, errors.New("not an absolute URL")
	}
	if u.User != nil {
		return nil, errors.New("a URL with credentials in it is not accepted")
	}
	host := u.Hostname()
	switch u.Scheme {
	case "https":
	case "http":
		if !g.AllowedHost(ctx, host) {
			return nil, errors.New("the URL must be https")
		}
	default:
		return nil, errors.New("the URL must be https")
	}
	if err := g.CheckHost(ctx, host); err != nil {
		if errors.Is(err, ErrRefused) {
			return nil, errors.New("the URL's host is a loopback, private, link-local or otherwise internal address, which the shop does not call")
		}
		return nil, errors.New("the URL's host does not resolve")
	}
	return u, nil
}
