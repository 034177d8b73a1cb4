package edge_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/edge"
)

func TestParsePrefixes(t *testing.T) {
	good := map[string]string{
		"":                            "",
		" 10.0.0.0/8 , 192.168.1.7 ,": "10.0.0.0/8 192.168.1.7/32",
		"2001:db8::/32,::1":           "2001:db8::/32 ::1/128",
		"10.1.2.3/8":                  "10.0.0.0/8",
		"::ffff:10.0.0.1":             "10.0.0.1/32",
		"::ffff:10.0.0.0/104":         "10.0.0.0/8",
	}
	for in, want := range good {
		ps, err := edge.ParsePrefixes(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		var got []string
		for _, p := range ps {
			got = append(got, p.String())
		}
		if strings.Join(got, " ") != want {
			t.Errorf("%q = %v, want %s", in, got, want)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0", "fe80::1%eth0", "10.0.0.0/8/8", "1.2.3.4 5.6.7.8", "::ffff:10.0.0.0/8"} {
		if _, err := edge.ParsePrefixes(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzParsePrefixes: the parser never panics, and every prefix it returns is
// valid, masked, without a zone, and contains its own address.
func FuzzParsePrefixes(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "::1,127.0.0.1", "::ffff:1.2.3.4/120", " , ,", "fe80::1%eth0", "1.2.3.4/-1", "2001:db8::/129"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := edge.ParsePrefixes(s)
		if err != nil {
			return
		}
		for _, p := range ps {
			if !p.IsValid() || p != p.Masked() || p.Addr().Zone() != "" || !p.Contains(p.Addr()) {
				t.Fatalf("%q gave %v", s, p)
			}
		}
	})
}

func TestGuard(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	mustParse := func(s string) []netip.Prefix {
		ps, err := edge.ParsePrefixes(s)
		if err != nil {
			t.Fatal(err)
		}
		return ps
	}
	g := edge.NewGuard(edge.Lists{Deny: mustParse("10.9.0.0/16"), AdminAllow: mustParse("10.0.0.1")}, edge.NewMemoryBlocks(clock), clock)
	ctx := context.Background()
	cases := []struct {
		name  string
		addr  string
		admin bool
		ok    bool
	}{
		{"an ordinary address", "10.0.0.2", false, true},
		{"a denied address", "10.9.1.1", false, false},
		{"a denied address written IPv4-mapped", "::ffff:10.9.1.1", false, false},
		{"an admin address on an admin route", "10.0.0.1", true, true},
		{"another address on an admin route", "10.0.0.2", true, false},
		{"an address that does not parse", "", false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := g.Admit(ctx, c.addr, c.admin)
			if c.ok != (err == nil) || (err != nil && !errors.Is(err, edge.ErrBlocked)) {
				t.Fatalf("Admit(%q, admin %v) = %v, want ok %v", c.addr, c.admin, err, c.ok)
			}
		})
	}
	t.Run("a dynamic block ends on time; a shorter one does not shorten it", func(t *testing.T) {
		_ = g.Block(ctx, "10.0.0.3", time.Hour)
		_ = g.Block(ctx, "10.0.0.3", time.Minute)
		if g.Admit(ctx, "10.0.0.3", false) == nil {
			t.Fatal("blocked address admitted")
		}
		now = now.Add(time.Hour - time.Second)
		if g.Admit(ctx, "10.0.0.3", false) == nil {
			t.Fatal("block ended early")
		}
		now = now.Add(time.Second)
		if err := g.Admit(ctx, "10.0.0.3", false); err != nil {
			t.Fatalf("after the block: %v", err)
		}
	})
}
