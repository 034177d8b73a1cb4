package bench

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to make and drop the shops' schemas

	"github.com/bulwark-shop/bulwark/internal/config"
)

// PricedGoal is the throughput a priced checkout must keep, as a share of
// the plain checkout's (issue 12: within 10 %).
const PricedGoal = 0.90

// PricedCheckout compares a priced checkout with the plain one on each
// engine (SQLite; PostgreSQL too when o.PostgresURL and o.VaultURL are set:
// it makes four fresh schemas in their databases and drops them afterwards).
//
// Two shops are started per engine, both with the default settings: "plain",
// the shop of the default run (one single-variant product; no tax rates,
// shipping options or discount codes), whose carts hold one unit of that
// product; and "priced", whose product has two options (size × colour) and
// nine variants, with a 19 % tax rate for Germany, a flat shipping option
// there and a 10 % discount code without a use limit. Each priced cart holds
// one unit of a variant (the i-th cart the i-th variant, round robin), has
// the code applied and the option chosen, and its checkout sends the total a
// GET of the cart showed, as a storefront does. Preparing the carts is not
// measured; only POST /api/v1/checkout is. So that applying the code to
// every cart stays under the shop's guessing limits, both shops trust the
// loopback proxy and see each request from a random address, and have a
// customer per codesPerCustomer carts (at least o.Concurrency).
//
// After a warm-up of o.Concurrency checkouts each, the shops take turns for
// o.Rounds rounds of o.Checkouts checkouts, the order swapping every round
// (plain first, then priced first, ...), so a shared machine's noise and the
// advantage of a position fall on both. Each round prints priced/plain
// ratios of throughput, p50, p99 and CPU per request; each engine ends with
// their geometric means and ranges, and whether the throughput ratio meets
// PricedGoal. The results are keyed "<engine> plain" and "<engine> priced",
// one per round.
func PricedCheckout(ctx context.Context, o Options) (map[string][]Result, error) {
	type engine struct{ name, plainDB, plainVault, pricedDB, pricedVault string }
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
		if err := pricedVersusPlain(ctx, o, e.name, [2][2]string{{e.plainDB, e.plainVault}, {e.pricedDB, e.pricedVault}}, results); err != nil {
			return nil, fmt.Errorf("%s: %w", e.name, err)
		}
	}
	return results, nil
}

// pricedVersusPlain runs PricedCheckout on one engine; dbs are the plain and
// the priced shop's database and vault URLs ("" for SQLite).
func pricedVersusPlain(ctx context.Context, o Options, engine string, dbs [2][2]string, results map[string][]Result) error {
	rounds := max(o.Rounds, 1)
	warm := o.Concurrency
	n := warm + rounds*o.Checkouts
	names := [2]string{engine + " plain", engine + " priced"}
	var shops [2]*shop
	var carts [2][]string
	var totals [2][]money // nil for the plain shop: it sends no expected_total
	for i, name := range names {
		sh, err := startShop(ctx, o, name, dbs[i][0], dbs[i][1], behindProxy)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		defer sh.Close()
		shops[i] = sh
		// Both shops get as many customers (the vault caches each one's key).
		if err := sh.addCustomers(max(o.Concurrency, (n+codesPerCustomer-1)/codesPerCustomer)); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if i == 0 {
			carts[i], err = sh.carts(ctx, n)
		} else {
			carts[i], totals[i], err = sh.pricedCarts(ctx, n)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		r, err := load(ctx, name+": warm-up", o.Concurrency, warm, sh.checkoutExpecting(sh.url, carts[i], totals[i], 0, "priced"), sh.c, http.StatusCreated)
		if err != nil {
			return err
		}
		if r.Errors > 0 {
			return fmt.Errorf("%s: %d of %d warm-up checkouts failed", name, r.Errors, warm)
		}
	}
	ratios := map[string][]float64{}
	for round := range rounds {
		var got [2]Result
		for k := range shops {
			i := (k + round) % len(shops) // the order swaps every round
			sh := shops[i]
			r, err := load(ctx, fmt.Sprintf("%s (round %d): checkout", names[i], round+1), o.Concurrency, o.Checkouts,
				sh.checkoutExpecting(sh.url, carts[i], totals[i], warm+round*o.Checkouts, "priced"), sh.c, http.StatusCreated)
			if err != nil {
				return err
			}
			got[i] = r
		}
		for i, r := range got {
			fmt.Fprintf(o.Out, "%s   cpu %6.3f ms/req\n", r, ms(r.CPUPerRequest()))
			results[names[i]] = append(results[names[i]], r)
		}
		plain, priced := got[0], got[1]
		for _, x := range []struct {
			what string
			v    float64
		}{
			{"throughput", priced.PerSecond() / plain.PerSecond()},
			{"p50", float64(priced.P50) / float64(max(plain.P50, 1))},
			{"p99", float64(priced.P99) / float64(max(plain.P99, 1))},
			{"cpu/req", float64(priced.CPUPerRequest()) / float64(max(plain.CPUPerRequest(), 1))},
		} {
			ratios[x.what] = append(ratios[x.what], x.v)
		}
		fmt.Fprintf(o.Out, "  %s priced / plain (round %d, %s first): throughput %.2f, p50 %.2f, p99 %.2f, cpu/req %.2f\n", engine, round+1,
			[2]string{"plain", "priced"}[round%2], ratios["throughput"][round], ratios["p50"][round], ratios["p99"][round], ratios["cpu/req"][round])
	}
	for _, what := range []string{"throughput", "p50", "p99", "cpu/req"} {
		g, lo, hi := geomean(ratios[what])
		fmt.Fprintf(o.Out, "%s priced / plain, %s: geometric mean %.2f over %d rounds (%.2f .. %.2f)\n", engine, what, g, rounds, lo, hi)
	}
	var pooled [2]float64
	for i, name := range names {
		var reqs int
		var elapsed time.Duration
		for _, r := range results[name] {
			reqs, elapsed = reqs+r.Requests, elapsed+r.Elapsed
		}
		pooled[i] = float64(reqs) / elapsed.Seconds()
		fmt.Fprintf(o.Out, "%s: %.0f checkouts/s over %d rounds\n", name, pooled[i], rounds)
	}
	g, _, _ := geomean(ratios["throughput"])
	sorted := slices.Sorted(slices.Values(ratios["throughput"]))
	median := (sorted[(len(sorted)-1)/2] + sorted[len(sorted)/2]) / 2
	verdict := "within 10 %: goal met"
	if g < PricedGoal {
		verdict = "more than 10 % slower: goal NOT met"
	}
	fmt.Fprintf(o.Out, "%s: priced / plain throughput %.2f (geometric mean of rounds; median %.2f, pooled %.2f): %s\n", engine, g, median, pooled[1]/pooled[0], verdict)
	return nil
}

// geomean is the geometric mean of xs, and their least and greatest.
func geomean(xs []float64) (mean, lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	sum := 0.0
	for _, x := range xs {
		sum += math.Log(x)
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	return math.Exp(sum / float64(max(len(xs), 1))), lo, hi
}

// pricedCode is the priced shop's discount code.
const pricedCode = "BENCH10"

// codesPerCustomer is how many carts of one customer get the code: a shop
// may count every code tried against its guessing limits (10 an hour per
// customer, 30 per address), so the priced shop has a customer per this
// many carts, and both shops see each request from a random address
// (behindProxy).
const codesPerCustomer = 10

// behindProxy makes the shop trust the loopback proxy, so that each request
// the benchmark sends comes from a random address in X-Forwarded-For.
func behindProxy(c *config.Config) { c.TrustedProxies = "127.0.0.1/32" }

// pricedSetup gives the shop what a priced checkout uses: a product with
// two options and nine variants, a tax rate and a flat shipping option for
// Germany, and a 10 % discount code without a use limit. It returns the
// variants' ids and the option's.
func (sh *shop) pricedSetup() (variants []string, option string, err error) {
	cur := sh.cfg.Currency
	var vs []map[string]any
	for i, size := range []string{"S", "M", "L"} {
		for j, colour := range []string{"red", "green", "blue"} {
			vs = append(vs, map[string]any{"sku": fmt.Sprintf("BENCH-V-%s-%s", size, colour),
				"options": map[string]string{"size": size, "colour": colour},
				"prices":  []money{{Amount: int64(1000 + 100*i + 10*j), Currency: cur}}, "stock": 1_000_000_000, "weight_grams": 200})
		}
	}
	var prod struct{ Variants []struct{ ID string } }
	if err := sh.call("POST", "/api/v1/admin/products", sh.admin, nil, map[string]any{"name": "Bench tee", "description": "", "status": "active",
		"options":  []map[string]any{{"name": "size", "values": []string{"S", "M", "L"}}, {"name": "colour", "values": []string{"red", "green", "blue"}}},
		"variants": vs}, 201, &prod); err != nil {
		return nil, "", err
	}
	for _, v := range prod.Variants {
		variants = append(variants, v.ID)
	}
	if len(variants) != len(vs) {
		return nil, "", fmt.Errorf("product made with %d variants, not %d", len(variants), len(vs))
	}
	if err := sh.call("POST", "/api/v1/admin/tax-rates", sh.admin, nil, map[string]any{"country": "DE", "rate_ppm": 190_000, "name": "MwSt"}, 201, nil); err != nil {
		return nil, "", err
	}
	var ship struct{ ID string }
	if err := sh.call("POST", "/api/v1/admin/shipping-options", sh.admin, nil, map[string]any{"name": "DHL", "zones": []map[string]string{{"country": "DE"}},
		"kind": "flat", "prices": []money{{Amount: 490, Currency: cur}}, "active": true}, 201, &ship); err != nil {
		return nil, "", err
	}
	if err := sh.call("POST", "/api/v1/admin/discounts", sh.admin, nil, map[string]any{"code": pricedCode, "kind": "percent", "basis_points": 1000,
		"max_uses": 0, "active": true}, 201, nil); err != nil { // 0: no limit
		return nil, "", err
	}
	return variants, ship.ID, nil
}

// pricedCart is the API's Cart, as far as the benchmark reads it.
type pricedCart struct {
	ID       string
	Discount *struct{ Amount money }
	Shipping *struct{ Amount money }
	Tax      money
	Total    money
	Problems []struct{ Code string }
}

// pricedCarts sets the shop up for priced checkouts (pricedSetup) and
// prepares n carts, one per checkout, as a storefront would: a variant, the
// discount code, the destination and the shipping option, then a GET of the
// cart for the total to expect. Setup is not measured.
func (sh *shop) pricedCarts(ctx context.Context, n int) (carts []string, totals []money, err error) {
	variants, option, err := sh.pricedSetup()
	if err != nil {
		return nil, nil, err
	}
	carts, totals = make([]string, n), make([]money, n)
	err = parallel(ctx, min(len(sh.customers), 32), n, func(i int) error {
		cu := sh.customers[i%len(sh.customers)]
		var c pricedCart
		if err := sh.call("POST", "/api/v1/carts", cu.token, nil, nil, 201, &c); err != nil {
			return err
		}
		path := "/api/v1/carts/" + c.ID
		if err := sh.call("PUT", path+"/items/"+variants[i%len(variants)], cu.token, nil, map[string]int{"quantity": 1}, 200, nil); err != nil {
			return err
		}
		if err := sh.call("PUT", path+"/discount", cu.token, nil, map[string]string{"code": pricedCode}, 200, nil); err != nil {
			return err
		}
		if err := sh.call("PUT", path+"/shipping", cu.token, nil, map[string]any{"address": map[string]string{"country": "DE"}, "shipping_option": option}, 200, nil); err != nil {
			return err
		}
		if err := sh.call("GET", path, cu.token, nil, nil, 200, &c); err != nil {
			return err
		}
		if len(c.Problems) > 0 || c.Discount == nil || c.Discount.Amount.Amount == 0 || c.Shipping == nil || c.Shipping.Amount.Amount == 0 || c.Tax.Amount == 0 {
			return fmt.Errorf("cart %s is not priced as set up: %+v", c.ID, c)
		}
		carts[i], totals[i] = c.ID, c.Total
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("setting up priced carts: %w", err)
	}
	return carts, totals, nil
}

// parallel calls fn(0) … fn(n-1) from workers goroutines and returns the
// first error; after an error no further call starts.
func parallel(ctx context.Context, workers, n int, fn func(i int) error) error {
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	failed := func() bool { mu.Lock(); defer mu.Unlock(); return first != nil }
	for range max(workers, 1) {
		wg.Go(func() {
			for i := range next {
				if failed() {
					continue
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// pgSchemas makes a fresh schema in the database of each of bases and
// returns bases with search_path set to them; drop removes them.
func pgSchemas(ctx context.Context, bases []string) (urls []string, drop func(), err error) {
	type made struct {
		db     *sql.DB
		schema string
	}
	var all []made
	drop = func() {
		for _, m := range slices.Backward(all) {
			dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, _ = m.db.ExecContext(dctx, "DROP SCHEMA "+m.schema+" CASCADE")
			cancel()
			m.db.Close()
		}
	}
	for _, base := range bases {
		u, err := url.Parse(base)
		if err != nil {
			drop()
			return nil, nil, errors.New("parse a PostgreSQL URL: invalid") // the URL holds a password: never echo it
		}
		db, err := sql.Open("pgx", base)
		if err != nil {
			drop()
			return nil, nil, fmt.Errorf("open PostgreSQL: %w", err)
		}
		var b [8]byte
		_, _ = rand.Read(b[:])
		// The name is made here from hex digits, never from input; identifiers cannot be bind parameters.
		schema := "bench_" + hex.EncodeToString(b[:])
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err = db.ExecContext(cctx, "CREATE SCHEMA "+schema)
		cancel()
		if err != nil {
			db.Close()
			drop()
			return nil, nil, fmt.Errorf("create schema: %w", err)
		}
		all = append(all, made{db, schema})
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		urls = append(urls, u.String())
	}
	return urls, drop, nil
}
