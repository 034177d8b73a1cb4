package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwark-shop/bulwark/internal/edge"
	"github.com/bulwark-shop/bulwark/internal/finding"
	"github.com/bulwark-shop/bulwark/internal/response"
	"github.com/bulwark-shop/bulwark/internal/store"
)

// liftRecorded is the edge's block list with the record of response
// blocks kept in step: an address lifted through the edge's list (its API
// route, `bulwark blocks lift`) has its response blocks marked lifted, so a
// later scan from it is acted on again rather than taken as still blocked.
type liftRecorded struct {
	edge.Blocks
	db  *store.DB
	now func() time.Time
}

func (l liftRecorded) Lift(ctx context.Context, a netip.Addr) (bool, error) {
	lifted, err := l.Blocks.Lift(ctx, a)
	if err != nil {
		return lifted, err
	}
	if err := l.db.LiftResponseBlocksOf(ctx, finding.Subject{Kind: finding.IP, ID: a.String()}, "edge block list", l.now()); err != nil {
		return lifted, err
	}
	return lifted, nil
}

// addressLifter lifts an address at the edge for response.Admin.
type addressLifter struct{ blocks edge.Blocks }

func (l addressLifter) LiftAddress(ctx context.Context, addr string) error {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return nil // nothing the edge could have blocked
	}
	if _, err := l.blocks.Lift(ctx, a.Unmap().WithZone("")); err != nil {
		return fmt.Errorf("lift %s at the edge: %w", addr, err)
	}
	return nil
}

// responses builds the responses to findings (package response) with the
// rules of the detection settings (the defaults unless configured): address blocks go to the edge's block list (Redis when
// configured, so every instance refuses at once; else the database, read
// at most once a second per instance), card and account blocks to a
// checker refreshed twice a second. The loopback and the trusted proxies
// are never blocked. bulwark_blocks_active counts the blocks in force.
// a.CardBlocks, made before checkout, which asks it, is the checker.
func (a *App) responses(db *store.DB, rules []response.Rule, proxies []netip.Prefix, log *slog.Logger, now func() time.Time) error {
	policy, err := response.NewPolicy(rules)
	if err != nil {
		return err
	}
	a.responder = response.NewResponder(response.Config{Policy: policy, Store: db, Edge: a.Edge,
		Exempt: exemptAddress(proxies), Checker: a.CardBlocks, Log: log, Now: now})
	a.BlockAdmin = response.NewAdmin(db, addressLifter{a.blocks}, a.CardBlocks, now)
	return a.registry.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "bulwark_blocks_active",
		Help: "Blocks raised by responses to findings (address, card, account) in force, as this instance's copy (at most 0.5 s old) sees them.",
	}, func() float64 { return float64(a.CardBlocks.Active()) }))
}

// exemptAddress reports whether an address key (an address, or an IPv6
// client's /64) stands for more than one client — the loopback, a trusted
// proxy — so that nothing is decided about it as about one client: never
// blocked by a response, and never counted as a client's address by fraud
// scoring.
func exemptAddress(proxies []netip.Prefix) func(string) bool {
	return func(addr string) bool {
		if p, err := netip.ParsePrefix(addr); err == nil {
			// An IPv6 client's /64: exempt when it holds the loopback or
			// a trusted proxy (the responder does not block prefixes).
			return p.Contains(netip.IPv6Loopback()) || slices.ContainsFunc(proxies, p.Overlaps)
		}
		return edge.Exempt(addr, proxies)
	}
}
