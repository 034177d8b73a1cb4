package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-shop/bulwark/internal/config"
)

// Login flood parameters. Checkouts are sent open-loop at a fixed rate (a busy
// small shop), not by clients that wait for each other: a closed loop at
// saturation would measure lost throughput, not the latency a shopper sees.
const (
	checkoutRate    = 40  // checkouts per second, quiet and during the flood
	floodFactor     = 10  // the flood is this many times the measured login capacity
	floodInFlight   = 200 // the flooder's connections at most (under max-in-flight)
	capacityWorkers = 8
	capacityLogins  = 160
)

// FloodResult is the outcome of one login-flood run.
type FloodResult struct {
	Name                  string
	Quiet, Flooded        Result  // the checkouts
	Capacity              float64 // logins/s measured before the flood
	FloodRate             float64 // logins/s the flooder aimed at
	Sent                  int
	QuietRuntime          runtimeDelta // the Go runtime during the quiet checkouts
	FloodRuntime          runtimeDelta // and during the flooded ones
	Statuses              map[int]int  // flood answers by status (0: transport error or cut off)
	CheckoutP99Multiplier float64      // Flooded.P99 / Quiet.P99
}

func (f FloodResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: login capacity %.0f/s; flood aimed at %.0f/s (%dx), %d sent, answers %v\n",
		f.Name, f.Capacity, f.FloodRate, floodFactor, f.Sent, f.Statuses)
	fmt.Fprintf(&b, "  %s\n    %s\n  %s\n    %s\n", f.Quiet, f.QuietRuntime, f.Flooded, f.FloodRuntime)
	fmt.Fprintf(&b, "  checkout p99 during the flood / quiet p99 = %.2f (goal: at most 2)", f.CheckoutP99Multiplier)
	return b.String()
}

// LoginFlood measures checkout latency at checkoutRate, quiet and then during
// a flood of failed logins at floodFactor times the login capacity measured
// first, on SQLite. The flood comes from random addresses through
// X-Forwarded-For, with 127.0.0.1 a trusted proxy, so the per-address rate
// limit (left at its real default for logins) does not simply stop it: the
// hash pool has to hold. It runs twice: with the shipped hash pool, and with
// the pool as it was before (every CPU, any number waiting) for comparison.
func LoginFlood(ctx context.Context, o Options) ([]FloodResult, error) {
	var out []FloodResult
	for _, v := range []struct {
		name   string
		adjust func(*config.Config)
	}{
		{"hash pool: half the CPUs, queue 8 (shipped)", nil},
		{"hash pool: every CPU, unbounded queue (before)", func(c *config.Config) {
			c.HashWorkers, c.HashQueue = runtime.NumCPU(), 1<<16
		}},
	} {
		r, err := loginFlood(ctx, o, v.name, v.adjust)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", v.name, err)
		}
		fmt.Fprintln(o.Out, r)
		out = append(out, r)
	}
	return out, nil
}

func loginFlood(ctx context.Context, o Options, name string, adjust func(*config.Config)) (FloodResult, error) {
	sh, err := startShop(ctx, o, name, "", "", func(c *config.Config) {
		c.TrustedProxies = "127.0.0.1/32"
		c.RateLimit.Auth = config.Defaults().RateLimit.Auth
		if adjust != nil {
			adjust(c)
		}
	})
	if err != nil {
		return FloodResult{}, err
	}
	defer sh.Close()
	carts, err := sh.carts(ctx, 2*o.FloodCheckouts)
	if err != nil {
		return FloodResult{}, err
	}
	return sh.loginFlood(ctx, o, name, carts)
}

// loginFlood measures, on a running shop that trusts the loopback proxy and
// keeps the real per-address login limit, the login capacity, then checkouts
// of the first half of carts quiet and of the second half during a login
// flood at floodFactor times that capacity. Its connections are closed when
// it returns.
func (sh *shop) loginFlood(ctx context.Context, o Options, name string, carts []string) (FloodResult, error) {
	n := len(carts) / 2
	res := FloodResult{Name: name, Statuses: map[int]int{}}

	// Login capacity: failed logins (unknown accounts: a dummy verification, a
	// counted failure and an audit record each) from distinct addresses.
	flooder := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: floodInFlight, MaxConnsPerHost: floodInFlight}}
	// Without this, the flooder's idle connections (and the server's
	// goroutines serving them) would outlive the flood: a leak of the bench,
	// not of the shop, that a soak would count against the shop.
	defer flooder.CloseIdleConnections()
	logins := capacityLogins
	if o.capacityLogins > 0 {
		logins = o.capacityLogins
	}
	capacity, err := load(ctx, "login capacity", capacityWorkers, logins, func(int) (*http.Request, error) {
		return badLogin(sh.url), nil
	}, flooder, http.StatusUnauthorized)
	if err != nil {
		return res, err
	}
	if capacity.Errors > 0 {
		return res, fmt.Errorf("measuring login capacity: %d of %d logins were not answered 401", capacity.Errors, capacity.Requests)
	}
	res.Capacity = capacity.PerSecond()
	res.FloodRate = floodFactor * res.Capacity

	before := readRuntimeStats()
	if res.Quiet, err = paced(ctx, name+": checkout, quiet", checkoutRate, n, sh.checkout(sh.url, carts, 0, "quiet"), sh.c, 201); err != nil {
		return res, err
	}
	res.QuietRuntime = readRuntimeStats().since(before)

	// The flood: open-loop at FloodRate for as long as the checkouts take and a
	// second to build up, bounded by count, with at most floodInFlight
	// outstanding (past that the flooder skips a beat rather than the server
	// seeing more connections than max-in-flight).
	fctx, stopFlood := context.WithCancel(ctx)
	defer stopFlood()
	var mu sync.Mutex
	var sent atomic.Int64
	var wg sync.WaitGroup
	total := int(res.FloodRate * (float64(n)/checkoutRate + 3))
	slots := make(chan struct{}, floodInFlight)
	go func() {
		tick := time.NewTicker(time.Duration(float64(time.Second) / res.FloodRate))
		defer tick.Stop()
		for range total {
			select {
			case <-fctx.Done():
				return
			case <-tick.C:
			}
			select {
			case slots <- struct{}{}:
			default:
				continue // the flooder is at its connection cap
			}
			sent.Add(1)
			wg.Go(func() {
				defer func() { <-slots }()
				status := 0
				if r, err := flooder.Do(badLogin(sh.url).WithContext(fctx)); err == nil {
					io.Copy(io.Discard, r.Body)
					r.Body.Close()
					status = r.StatusCode
				}
				mu.Lock()
				res.Statuses[status]++
				mu.Unlock()
			})
		}
	}()
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
		return res, ctx.Err()
	}
	before = readRuntimeStats()
	res.Flooded, err = paced(ctx, name+": checkout, login flood", checkoutRate, n, sh.checkout(sh.url, carts, n, "flood"), sh.c, 201)
	res.FloodRuntime = readRuntimeStats().since(before)
	stopFlood()
	wg.Wait()
	res.Sent = int(sent.Load())
	if err != nil {
		return res, err
	}
	res.CheckoutP99Multiplier = float64(res.Flooded.P99) / float64(res.Quiet.P99)
	return res, nil
}

// badLogin is a login for an unknown account from a random address of
// 10.0.0.0/8, as a credential-stuffing botnet would send it through a proxy.
func badLogin(base string) *http.Request {
	body := fmt.Sprintf(`{"email":"nobody%d@example.com","password":"not the password, %d"}`, rand.Uint64(), rand.Uint64())
	r, _ := http.NewRequest("POST", base+"/api/v1/auth/login", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Forwarded-For", fmt.Sprintf("10.%d.%d.%d", rand.IntN(256), rand.IntN(256), rand.IntN(256)))
	return r
}

// paced sends n requests open-loop at rate per second, each in its own
// goroutine, and measures them: a slow answer delays no later request.
func paced(ctx context.Context, name string, rate float64, n int, mk func(i int) (*http.Request, error), c *http.Client, want int) (Result, error) {
	lat := make([]time.Duration, n)
	errs := make([]bool, n)
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	start := time.Now()
	for i := range n {
		select {
		case <-ctx.Done():
			wg.Wait()
			return Result{}, ctx.Err()
		case <-tick.C:
		}
		r, err := mk(i)
		if err != nil {
			return Result{}, err
		}
		wg.Go(func() {
			t0 := time.Now()
			res, err := c.Do(r.WithContext(ctx))
			if err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
			lat[i] = time.Since(t0)
			errs[i] = err != nil || res.StatusCode != want
		})
	}
	wg.Wait()
	nerr := 0
	for _, e := range errs {
		if e {
			nerr++
		}
	}
	slices.Sort(lat)
	return Result{Name: name, Requests: n, Errors: nerr, Elapsed: time.Since(start),
		P50: lat[n*50/100], P99: lat[min(n-1, n*99/100)]}, nil
}
