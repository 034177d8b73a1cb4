package bench

import (
	"context"
	"fmt"
	"net/http"

	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/waf"
)

// wafOff turns Bulwark's own web application firewall off, for the runs with
// nginx and ModSecurity in front, which inspect the requests instead.
func wafOff(c *config.Config) { c.WAF = waf.Off }

// edgeOff turns the whole edge off: rate limits, address lists, the bot trap's
// blocks and the WAF (wafOff). It is the one place that says what "edge off"
// means for the benchmark.
func edgeOff(c *config.Config) {
	c.RateLimits = false
	c.IPDeny, c.IPAllow, c.AdminIPAllow = "", "", ""
	c.TrustedProxies = ""
	wafOff(c)
}

// edgeOn is the shipped edge with lists to look through: a deny list of 64
// prefixes that the load never matches, so every request pays for the lookup.
func edgeOn(c *config.Config) {
	deny := ""
	for i := range 64 {
		deny += fmt.Sprintf("198.18.%d.0/24,", i)
	}
	c.IPDeny = deny[:len(deny)-1]
}

// EdgeCost measures checkouts and product reads on SQLite with the whole edge
// on (as shipped, rate limits on but out of the load's reach) and off, and
// reports each on/off ratio.
func EdgeCost(ctx context.Context, o Options) ([][2]Result, error) {
	var on, off []Result
	for _, v := range []struct {
		name   string
		adjust func(*config.Config)
		dst    *[]Result
	}{{"edge on", edgeOn, &on}, {"edge off", edgeOff, &off}} {
		rs, err := mix(ctx, o, v.name, v.adjust, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", v.name, err)
		}
		*v.dst = rs
	}
	var pairs [][2]Result
	for i := range on {
		pairs = append(pairs, [2]Result{on[i], off[i]})
		fmt.Fprintln(o.Out, on[i])
		fmt.Fprintln(o.Out, off[i])
		fmt.Fprintf(o.Out, "  edge on / off: throughput %.2f, p99 %.2f\n",
			on[i].PerSecond()/off[i].PerSecond(), float64(on[i].P99)/float64(off[i].P99))
	}
	return pairs, nil
}

// mix starts a shop with adjust and measures the request mix of the edge
// comparisons: checkouts, then product reads. With front set, the load goes
// through it (a proxy in front of the shop's address, which front is given)
// instead of to the shop. check, when set, is called with the address the
// load goes to before the load.
func mix(ctx context.Context, o Options, name string, adjust func(*config.Config), front func(shopURL string) (url string, stop func(), err error), check func(base string)) ([]Result, error) {
	sh, err := startShop(ctx, o, name, "", "", adjust)
	if err != nil {
		return nil, err
	}
	defer sh.Close()
	carts, err := sh.carts(ctx, o.Checkouts)
	if err != nil {
		return nil, err
	}
	base := sh.url
	if front != nil {
		url, stop, err := front(sh.url)
		if err != nil {
			return nil, err
		}
		defer stop()
		base = url
	}
	if check != nil {
		check(base)
	}
	co, err := load(ctx, name+": checkout", o.Concurrency, o.Checkouts, sh.checkout(base, carts, 0, "mix"), sh.c, http.StatusCreated)
	if err != nil {
		return nil, err
	}
	rd, err := load(ctx, name+": product by id", o.Concurrency, o.Reads, sh.get(base, "/api/v1/products/"+sh.product), sh.c, http.StatusOK)
	if err != nil {
		return nil, err
	}
	return []Result{co, rd}, nil
}
