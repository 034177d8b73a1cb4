package egress_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwark-shop/bulwark/internal/edge"
	"github.com/bulwark-shop/bulwark/internal/egress"
)

func TestAddressesAllowedAndRefused(t *testing.T) {
	for _, tc := range []struct {
		addr    string
		allowed bool
	}{
		// Loopback, v4 and v6, and the edges of 127/8.
		{"127.0.0.1", false}, {"127.255.255.255", false}, {"126.255.255.255", true}, {"128.0.0.0", true},
		{"::1", false}, {"::ffff:127.0.0.1", false}, {"::127.0.0.1", false},
		// Unspecified.
		{"0.0.0.0", false}, {"0.255.255.255", false}, {"1.0.0.0", true}, {"::", false},
		// RFC 1918 and its edges.
		{"10.0.0.0", false}, {"10.255.255.255", false}, {"9.255.255.255", true}, {"11.0.0.0", true},
		{"172.16.0.0", false}, {"172.31.255.255", false}, {"172.15.255.255", true}, {"172.32.0.0", true},
		{"192.168.0.1", false}, {"192.168.255.255", false}, {"192.167.255.255", true}, {"192.169.0.0", true},
		{"::ffff:10.1.2.3", false}, {"::ffff:192.168.1.1", false},
		// Carrier-grade NAT.
		{"100.64.0.0", false}, {"100.127.255.255", false}, {"100.63.255.255", true}, {"100.128.0.0", true},
		// Link-local and the cloud metadata service.
		{"169.254.169.254", false}, {"169.254.0.0", false}, {"169.254.255.255", false}, {"169.253.255.255", true}, {"169.255.0.0", true},
		{"::ffff:169.254.169.254", false}, {"fe80::1", false}, {"fe80::1%eth0", false}, {"febf:ffff::1", false}, {"fec0::1", false},
		// Unique local (RFC 4193).
		{"fc00::1", false}, {"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false}, {"fbff:ffff::1", true},
		// Multicast and broadcast.
		{"224.0.0.1", false}, {"239.255.255.255", false}, {"255.255.255.255", false}, {"ff02::1", false}, {"ff0e::1", false},
		// IPv6 forms that embed an IPv4 address.
		{"64:ff9b::7f00:1", false}, {"2002:7f00:1::1", false}, {"2001:0:4136:e378::1", false},
		// Public addresses.
		{"8.8.8.8", true}, {"1.1.1.1", true}, {"::ffff:8.8.8.8", true}, {"2606:4700:4700::1111", true}, {"2a00:1450:4001:80b::200e", true},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			g := egress.New(egress.Options{})
			if got := g.Allowed(netip.MustParseAddr(tc.addr)); got != tc.allowed {
				t.Fatalf("Allowed(%s) = %v, want %v", tc.addr, got, tc.allowed)
			}
		})
	}
}

func TestAllowListOpensRefusedRanges(t *testing.T) {
	allow, err := edge.ParsePrefixes("127.0.0.1/32, 10.1.0.0/16, ::ffff:192.168.5.0/120, fd00::7")
	if err != nil {
		t.Fatal(err)
	}
	g := egress.New(egress.Options{Allow: allow})
	for addr, want := range map[string]bool{
		"127.0.0.1": true, "::ffff:127.0.0.1": true, "127.0.0.2": false,
		"10.1.2.3": true, "10.2.0.1": false, "192.168.5.9": true, "192.168.6.9": false,
		"fd00::7": true, "fd00::8": false, "169.254.169.254": false,
	} {
		if got := g.Allowed(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Allowed(%s) = %v, want %v", addr, got, want)
		}
	}
	for _, bad := range []string{"nope", "10.0.0.0/33", "::ffff:10.0.0.0/8"} {
		if _, err := edge.ParsePrefixes(bad); err == nil {
			t.Errorf("ParsePrefixes(%q) accepted", bad)
		}
	}
}

func receiver(t *testing.T, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
			return
		}
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestDialRefusesNameResolvingToLoopback(t *testing.T) {
	srv := receiver(t, "secret from the inside")
	u, _ := url.Parse(srv.URL)
	reg := prometheus.NewRegistry()
	g := egress.New(egress.Options{Registry: reg})
	// localhost resolves to 127.0.0.1 (and ::1): the check happens on the
	// address being connected to, after resolution.
	_, err := g.Client().Get("http://localhost:" + u.Port() + "/")
	if !errors.Is(err, egress.ErrRefused) {
		t.Fatalf("GET via localhost: err = %v, want ErrRefused", err)
	}
	_, err = g.Client().Get(srv.URL)
	if !errors.Is(err, egress.ErrRefused) {
		t.Fatalf("GET 127.0.0.1: err = %v, want ErrRefused", err)
	}
	mfs, _ := reg.Gather()
	if len(mfs) != 1 || mfs[0].GetName() != "bulwark_egress_connections_total" {
		t.Fatalf("metrics: %v", mfs)
	}
	if _, err := g.CheckURL(context.Background(), "https://localhost:"+u.Port()+"/"); err == nil {
		t.Fatal("CheckURL accepted a name resolving to loopback")
	}
}

func TestDialAllowedWhenListedNoRedirectsAndSizeLimit(t *testing.T) {
	srv := receiver(t, strings.Repeat("x", 100))
	g := egress.New(egress.Options{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, MaxResponseBytes: 10})
	resp, err := g.Client().Get(srv.URL + "/redirect")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("redirect was followed: status %d", resp.StatusCode)
	}
	resp, err = g.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, egress.ErrTooLarge) {
		t.Fatalf("reading 100 bytes with a limit of 10: err = %v", err)
	}
	g2 := egress.New(egress.Options{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, MaxResponseBytes: 100})
	resp, err = g2.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, err := io.ReadAll(resp.Body); err != nil || len(b) != 100 {
		t.Fatalf("a body of exactly the limit: %d bytes, %v", len(b), err)
	}
}

func TestProxyFromEnvironmentIgnored(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://8.8.8.8:3128")
	t.Setenv("HTTPS_PROXY", "http://8.8.8.8:3128")
	srv := receiver(t, "ok")
	g := egress.New(egress.Options{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	resp, err := g.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func TestCheckURL(t *testing.T) {
	ctx := context.Background()
	open := egress.New(egress.Options{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	closed := egress.New(egress.Options{})
	for _, tc := range []struct {
		g   *egress.Guard
		url string
		ok  bool
	}{
		{closed, "http://169.254.169.254/latest/meta-data/", false},
		{closed, "https://169.254.169.254/", false},
		{closed, "https://[::1]/", false},
		{closed, "https://[::ffff:10.0.0.1]/", false},
		{closed, "http://127.0.0.1:8080/", false},
		{open, "http://127.0.0.1:8080/hook", true},
		{open, "https://127.0.0.1:8080/hook", true},
		{open, "http://169.254.169.254/", false},
		{closed, "https://8.8.8.8/hook", true},
		{closed, "http://8.8.8.8/hook", false}, // plain http only to allowed hosts
		{closed, "ftp://8.8.8.8/", false},
		{closed, "https://user:pw@8.8.8.8/", false},
		{closed, "/relative", false},
	} {
		_, err := tc.g.CheckURL(ctx, tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("CheckURL(%s): err = %v, want ok %v", tc.url, err, tc.ok)
		}
	}
}

func TestConnectionsCounted(t *testing.T) {
	srv := receiver(t, "ok")
	reg := prometheus.NewRegistry()
	g := egress.New(egress.Options{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, Registry: reg})
	resp, err := g.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, _ = g.Client().Get("http://[::1]:1/")
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	if got["allowed"] != 1 || got["refused"] != 1 {
		t.Fatalf("bulwark_egress_connections_total = %v, want one allowed, one refused", got)
	}
}
