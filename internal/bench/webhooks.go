package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/webhook"
)

// WebhooksGoal is the throughput a checkout must keep with three webhook
// endpoints subscribed to the order events, as a share of the checkout's
// with none (issue 13: delivery must not slow checkout; within 5 %).
const WebhooksGoal = 0.95

// webhookEndpoints is how many endpoints the "hooks" shop has.
const webhookEndpoints = 3

// WebhookCheckout compares checkout throughput with webhook endpoints
// subscribed to the order events against none, on each engine (SQLite;
// PostgreSQL too when o.PostgresURL and o.VaultURL are set, in four fresh
// schemas dropped afterwards).
//
// Two shops are started per engine with the same settings — the defaults,
// with the egress guard allowing loopback so that the shop may call the
// receivers — and the same carts (one unit of the one product each): "none",
// with no webhook endpoint, and "hooks", with three endpoints registered
// through the admin API, each subscribed to every order event. Each
// endpoint is a receiver started here on 127.0.0.1 that reads the body and
// answers 204 at once; so each checkout of the hooks shop writes an
// order.paid event and three deliveries in its transaction, and the shop's
// delivery worker sends them, signed, through the egress guard while the
// checkouts go on: that is the cost measured. Only POST /api/v1/checkout is
// timed.
//
// After a warm-up of o.Concurrency checkouts each, the shops take turns for
// o.Rounds rounds of o.Checkouts checkouts, the order swapping every round,
// as PricedCheckout does; each engine ends with the geometric means of the
// hooks/none ratios and whether throughput meets WebhooksGoal. Each hooks
// turn's deliveries are waited for before the next turn, and each turn
// starts with both shops settled (no event or order mail waiting), so
// neither shop pays for the other's. Then it waits
// (at most a minute) until the receivers have had every order.paid delivery
// — an error otherwise — and prints how long after the last checkout the
// outbox was drained. The results are keyed "<engine> none" and
// "<engine> hooks", one per round.
func WebhookCheckout(ctx context.Context, o Options) (map[string][]Result, error) {
	type engine struct{ name, noneDB, noneVault, hooksDB, hooksVault string }
	engines := []engine{{name: "sqlite"}}
	if o.PostgresURL != "" && o.VaultURL != "" {
		urls, drop, err := pgSchemas(ctx, []string{o.PostgresURL, o.VaultURL, o.PostgresURL, o.VaultURL})
		if err != nil {
			return nil, err
		}
		defer drop()
		engines = append(engines, engine{"postgres", urls[0], urls[1], urls[2], urls[3]})
	}
	results := map[string][]Result{}
	for _, e := range engines {
		if err := hooksVersusNone(ctx, o, e.name, [2][2]string{{e.noneDB, e.noneVault}, {e.hooksDB, e.hooksVault}}, results); err != nil {
			return nil, fmt.Errorf("%s: %w", e.name, err)
		}
	}
	return results, nil
}

// receivers are webhook endpoints on 127.0.0.1 that count what they get, by
// event type.
type receivers struct {
	servers []*http.Server
	urls    []string
	mu      sync.Mutex
	byType  map[string]int
	last    time.Time
}

func startReceivers(n int) (*receivers, error) {
	r := &receivers{byType: map[string]int{}}
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			r.Close()
			return nil, err
		}
		srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			var ev struct{ Type string }
			body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
			if err == nil {
				err = json.Unmarshal(body, &ev)
			}
			if err != nil || req.Header.Get("webhook-signature") == "" {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			r.mu.Lock()
			r.byType[ev.Type]++
			r.last = time.Now()
			r.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		})}
		go srv.Serve(ln)
		r.servers = append(r.servers, srv)
		// By name: the Core Rule Set refuses an address literal in a URL.
		r.urls = append(r.urls, fmt.Sprintf("http://localhost:%d/hooks", ln.Addr().(*net.TCPAddr).Port))
	}
	return r, nil
}

// count is how many deliveries of typ the receivers had, and when the last
// delivery of any type came.
func (r *receivers) count(typ string) (int, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byType[typ], r.last
}

// wait returns once the receivers have had want deliveries of typ, or an
// error after timeout.
func (r *receivers) wait(ctx context.Context, typ string, want int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		got, _ := r.count(typ)
		switch {
		case got >= want:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("%d of %d %s deliveries received after %s", got, want, typ, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (r *receivers) Close() {
	for _, s := range r.servers {
		s.Close()
	}
}

// loopbackReceivers lets the shop call receivers on loopback, as an operator
// does for a receiver on their own network (docs/OPERATIONS.md): the egress
// guard's allow list, and the Core Rule Set's SSRF rule switched off for the
// registration's url field only.
func loopbackReceivers(c *config.Config) {
	c.EgressAllow = "127.0.0.1/32,::1/128"
	c.WAFExclusions = config.DefaultWAFExclusions + ";POST /api/v1/admin/webhooks url=934110"
}

// orderEvents are the event types an endpoint of the hooks shop subscribes to.
func orderEvents() []string {
	return slices.DeleteFunc(webhook.Types(), func(t string) bool { return !strings.HasPrefix(t, "order.") })
}

// hooksVersusNone runs WebhookCheckout on one engine; dbs are the none and
// the hooks shop's database and vault URLs ("" for SQLite).
func hooksVersusNone(ctx context.Context, o Options, engine string, dbs [2][2]string, results map[string][]Result) error {
	rounds := max(o.Rounds, 1)
	warm := o.Concurrency
	n := warm + rounds*o.Checkouts
	names := [2]string{engine + " none", engine + " hooks"}
	recv, err := startReceivers(webhookEndpoints)
	if err != nil {
		return err
	}
	defer recv.Close()
	var shops [2]*shop
	var carts [2][]string
	for i, name := range names {
		sh, err := startShop(ctx, o, name, dbs[i][0], dbs[i][1], loopbackReceivers)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		defer sh.Close()
		shops[i] = sh
		if i == 1 {
			for _, u := range recv.urls {
				if err := sh.call("POST", "/api/v1/admin/webhooks", sh.admin, nil, map[string]any{"url": u, "events": orderEvents()}, 201, nil); err != nil {
					return fmt.Errorf("%s: register %s: %w", name, u, err)
				}
			}
		}
		if carts[i], err = sh.carts(ctx, n); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		r, err := load(ctx, name+": warm-up", o.Concurrency, warm, sh.checkout(sh.url, carts[i], 0, "hooks"), sh.c, http.StatusCreated)
		if err != nil {
			return err
		}
		if r.Errors > 0 {
			return fmt.Errorf("%s: %d of %d warm-up checkouts failed", name, r.Errors, warm)
		}
		if i == 1 {
			if err := recv.wait(ctx, webhook.OrderPaid, warm*webhookEndpoints, 30*time.Second); err != nil {
				return fmt.Errorf("%s: warm-up: %w", name, err)
			}
		}
	}
	ratios := map[string][]float64{}
	var lastCheckout time.Time
	for round := range rounds {
		var got [2]Result
		for k := range shops {
			i := (k + round) % len(shops) // the order swaps every round
			sh := shops[i]
			// Each turn starts with both shops idle: the mail and the
			// deliveries of earlier turns, deferred while checkouts ran,
			// sent; otherwise a turn pays for the shop before it.
			for _, other := range shops {
				if err := other.settle(ctx, time.Minute); err != nil {
					return fmt.Errorf("%s (round %d): settling: %w", names[i], round+1, err)
				}
			}
			r, err := load(ctx, fmt.Sprintf("%s (round %d): checkout", names[i], round+1), o.Concurrency, o.Checkouts,
				sh.checkout(sh.url, carts[i], warm+round*o.Checkouts, "hooks"), sh.c, http.StatusCreated)
			if err != nil {
				return err
			}
			if i == 1 {
				lastCheckout = time.Now()
				// The round's deliveries are waited out before the other
				// shop's turn: left running, they would be paid for by the
				// shop without webhooks (and flatter the one with them).
				if err := recv.wait(ctx, webhook.OrderPaid, (warm+(round+1)*o.Checkouts)*webhookEndpoints, 30*time.Second); err != nil {
					return fmt.Errorf("%s (round %d): %w", names[i], round+1, err)
				}
			}
			got[i] = r
		}
		for i, r := range got {
			fmt.Fprintf(o.Out, "%s   cpu %6.3f ms/req\n", r, ms(r.CPUPerRequest()))
			results[names[i]] = append(results[names[i]], r)
		}
		none, hooks := got[0], got[1]
		for _, x := range []struct {
			what string
			v    float64
		}{
			{"throughput", hooks.PerSecond() / none.PerSecond()},
			{"p50", float64(hooks.P50) / float64(max(none.P50, 1))},
			{"p99", float64(hooks.P99) / float64(max(none.P99, 1))},
			{"cpu/req", float64(hooks.CPUPerRequest()) / float64(max(none.CPUPerRequest(), 1))},
		} {
			ratios[x.what] = append(ratios[x.what], x.v)
		}
		fmt.Fprintf(o.Out, "  %s hooks / none (round %d, %s first): throughput %.2f, p50 %.2f, p99 %.2f, cpu/req %.2f\n", engine, round+1,
			[2]string{"none", "hooks"}[round%2], ratios["throughput"][round], ratios["p50"][round], ratios["p99"][round], ratios["cpu/req"][round])
	}
	for _, what := range []string{"throughput", "p50", "p99", "cpu/req"} {
		g, lo, hi := geomean(ratios[what])
		fmt.Fprintf(o.Out, "%s hooks / none, %s: geometric mean %.2f over %d rounds (%.2f .. %.2f)\n", engine, what, g, rounds, lo, hi)
	}
	g, _, _ := geomean(ratios["throughput"])
	sorted := slices.Sorted(slices.Values(ratios["throughput"]))
	median := (sorted[(len(sorted)-1)/2] + sorted[len(sorted)/2]) / 2
	verdict := "within 5 %: goal met"
	if g < WebhooksGoal {
		verdict = "more than 5 % slower: goal NOT met"
	}
	fmt.Fprintf(o.Out, "%s: hooks / none checkout throughput %.2f (geometric mean of rounds; median %.2f): %s\n", engine, g, median, verdict)

	// Every checkout of the hooks shop must reach every receiver: a
	// benchmark whose deliveries failed would measure nothing.
	want := n * webhookEndpoints
	deadline := time.Now().Add(time.Minute)
	for {
		got, last := recv.count(webhook.OrderPaid)
		if got >= want {
			fmt.Fprintf(o.Out, "%s hooks: %d order.paid deliveries received, the last %.1f s after the last checkout\n",
				engine, got, last.Sub(lastCheckout).Seconds())
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("hooks: %d of %d order.paid deliveries received a minute after the last checkout", got, want)
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), fmt.Errorf("hooks: %d of %d order.paid deliveries received", got, want))
		case <-time.After(50 * time.Millisecond):
		}
	}
}
