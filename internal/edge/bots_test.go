package edge_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/edge"
)

func TestTrapHitCrossSite(t *testing.T) {
	host := "shop.example"
	for _, tc := range []struct {
		name      string
		hit       edge.TrapHit
		crossSite bool
	}{
		{"a bot sends no browser headers", edge.TrapHit{}, false},
		{"a typed URL in a browser", edge.TrapHit{SecFetchSite: "none", SecFetchDest: "document"}, false},
		{"a same-origin fetch", edge.TrapHit{SecFetchSite: "same-origin", SecFetchDest: "empty"}, false},
		{"an <img> on another site", edge.TrapHit{SecFetchSite: "cross-site", SecFetchDest: "image"}, true},
		{"a link on another site", edge.TrapHit{SecFetchSite: "cross-site", SecFetchDest: "document"}, true},
		{"a sibling host", edge.TrapHit{SecFetchSite: "same-site", SecFetchDest: "empty"}, true},
		{"a same-origin script load", edge.TrapHit{SecFetchSite: "same-origin", SecFetchDest: "script"}, true},
		{"an old browser's Referer from another site", edge.TrapHit{Referer: "https://evil.example/x"}, true},
		{"a Referer from the shop itself", edge.TrapHit{Referer: "https://shop.example/page"}, false},
		{"a null Origin", edge.TrapHit{Origin: "null"}, true},
		{"another Origin", edge.TrapHit{Origin: "https://evil.example"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.hit.Host = host
			if got := tc.hit.CrossSite() != ""; got != tc.crossSite {
				t.Errorf("CrossSite() = %q, want cross-site %v", tc.hit.CrossSite(), tc.crossSite)
			}
		})
	}
}

func TestExempt(t *testing.T) {
	trusted, _ := edge.ParsePrefixes("10.0.0.0/8")
	for addr, want := range map[string]bool{
		"127.0.0.1": true, "127.0.0.2": true, "::1": true, "::ffff:127.0.0.1": true, "10.1.2.3": true,
		"0.0.0.0": true, "garbage": true, "203.0.113.7": false, "2001:db8::1": false,
	} {
		if got := edge.Exempt(addr, trusted); got != want {
			t.Errorf("Exempt(%s) = %v, want %v", addr, got, want)
		}
	}
}

type recorder struct{ actions []string }

func (r *recorder) Record(_ context.Context, action, target, _, detail string) error {
	r.actions = append(r.actions, action+" "+target+" "+detail)
	return nil
}

func TestBlocklist(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	mem := edge.NewMemoryBlocks(clk.Now)
	rec := &recorder{}
	l := edge.NewBlocklist(mem, rec)
	g := edge.NewGuard(edge.Lists{}, mem, clk.Now)
	ctx := context.Background()
	_ = g.BlockBecause(ctx, "203.0.113.7", time.Hour, "bot trap: GET /x")
	_ = g.BlockBecause(ctx, "2001:db8::1", 2*time.Hour, "operator")
	bs, err := l.List(ctx)
	if err != nil || len(bs) != 2 || bs[0].Address != "2001:db8::1" || bs[1].Reason != "bot trap: GET /x" {
		t.Fatalf("List = %+v, %v", bs, err)
	}
	if a, err := edge.ParseBlockID(bs[1].ID); err != nil || a != netip.MustParseAddr("203.0.113.7") {
		t.Fatalf("ParseBlockID(%s) = %v, %v", bs[1].ID, a, err)
	}
	if err := l.Lift(ctx, bs[1].ID, "cli"); err != nil {
		t.Fatal(err)
	}
	if g.Admit(ctx, "203.0.113.7", false) != nil {
		t.Error("a lifted address is still refused")
	}
	if len(rec.actions) != 1 || rec.actions[0] != edge.ActionBlockLifted+" 203.0.113.7 lifted by cli" {
		t.Errorf("audit = %q", rec.actions)
	}
	for _, id := range []string{bs[1].ID, "blk_zz", "nonsense", ""} {
		if err := l.Lift(ctx, id, "cli"); err != edge.ErrNoBlock {
			t.Errorf("Lift(%q) = %v, want ErrNoBlock", id, err)
		}
	}
	clk.Advance(2 * time.Hour)
	if bs, _ := l.List(ctx); len(bs) != 0 {
		t.Errorf("expired blocks listed: %+v", bs)
	}
}
