package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"sync"
	"time"

	"github.com/bulwark-shop/bulwark/internal/config"
)

// RedisOutage measures checkouts and product reads on SQLite with Redis up
// and with Redis down, two ways: "refused", a loopback port where nothing
// listens, so every dial fails at once; and "silent", a port that accepts
// connections and never answers, as a hung Redis or a dropping firewall does
// (each command then waits for go-redis's timeouts, failFast in internal/app,
// which the shop's dependency tracker keeps off the requests once it knows
// Redis is down). Up is a private redis-server started for the run, never a
// shared one.
//
// The three shops are started once and warmed (so both trackers know Redis
// is down), then take turns: in each of o.Rounds rounds every shop serves
// o.Checkouts checkouts, then every shop o.Reads product reads, in an order
// that rotates from round to round, so that the noise of a shared machine
// and any advantage of a position fall on every variant alike. Each round
// prints each down/up ratio of throughput, p99 and CPU per request (the
// process's CPU: the shops' and the load generator's; redis-server's own is
// not in it), and the run ends with each ratio's mean and range.
func RedisOutage(ctx context.Context, o Options) (map[string][]Result, error) {
	rs, err := startRedis(ctx)
	if err != nil {
		return nil, err
	}
	defer rs.stop()
	refused, err := deadPort()
	if err != nil {
		return nil, err
	}
	silent, stopSilent, err := silentRedis()
	if err != nil {
		return nil, err
	}
	defer stopSilent()
	rounds := max(o.Rounds, 1)
	variants := []struct{ name, url string }{{"redis up", rs.url}, {"redis refused", refused}, {"redis silent", silent}}
	shops := make([]*shop, len(variants))
	carts := make([][]string, len(variants))
	for i, v := range variants {
		sh, err := startShop(ctx, o, v.name, "", "", func(c *config.Config) {
			c.RedisURL = v.url
			c.RedisKeyPrefix = fmt.Sprintf("bulwark-bench:%d:%d:", os.Getpid(), i) // budgets start full
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", v.name, err)
		}
		defer sh.Close()
		shops[i] = sh
		if carts[i], err = sh.carts(ctx, o.Checkouts*rounds); err != nil {
			return nil, fmt.Errorf("%s: %w", v.name, err)
		}
		// Warm up: the first requests of a down shop meet Redis down and
		// mark it so; from then on none asks Redis.
		if _, err := load(ctx, "warm-up", o.Concurrency, 500, sh.get(sh.url, "/api/v1/products/"+sh.product), sh.c, http.StatusOK); err != nil {
			return nil, err
		}
	}
	results := map[string][]Result{}
	ratios := map[string][]float64{}
	for round := range rounds {
		for _, what := range []string{"checkout", "product by id"} {
			got := make([]Result, len(shops))
			for k := range shops {
				i := (k + round) % len(shops) // the order rotates
				sh, name := shops[i], fmt.Sprintf("%s (round %d): %s", variants[i].name, round+1, what)
				mk, want := sh.get(sh.url, "/api/v1/products/"+sh.product), http.StatusOK
				n := o.Reads
				if what == "checkout" {
					mk, want, n = sh.checkout(sh.url, carts[i], round*o.Checkouts, "redis"), http.StatusCreated, o.Checkouts
				}
				r, err := load(ctx, name, o.Concurrency, n, mk, sh.c, want)
				if err != nil {
					return nil, err
				}
				got[i] = r
			}
			for i, r := range got {
				fmt.Fprintf(o.Out, "%s   cpu %6.3f ms/req\n", r, ms(r.CPUPerRequest()))
				results[variants[i].name] = append(results[variants[i].name], r)
			}
			up := got[0]
			for i, r := range got[1:] {
				t, p := r.PerSecond()/up.PerSecond(), float64(r.P99)/float64(up.P99)
				c := float64(r.CPUPerRequest()) / float64(up.CPUPerRequest())
				key := variants[i+1].name + " / up, " + what
				fmt.Fprintf(o.Out, "  %s: throughput %.2f, p99 %.2f, cpu/req %.2f\n", key, t, p, c)
				ratios[key+" throughput"] = append(ratios[key+" throughput"], t)
				ratios[key+" p99"] = append(ratios[key+" p99"], p)
				ratios[key+" cpu/req"] = append(ratios[key+" cpu/req"], c)
			}
		}
	}
	for _, key := range sortedKeys(ratios) {
		rs := ratios[key]
		lo, hi, sum := math.Inf(1), math.Inf(-1), 0.0
		for _, r := range rs {
			lo, hi, sum = math.Min(lo, r), math.Max(hi, r), sum+r
		}
		fmt.Fprintf(o.Out, "%s: mean %.2f over %d rounds (%.2f .. %.2f)\n", key, sum/float64(len(rs)), len(rs), lo, hi)
	}
	return results, nil
}

// sortedKeys is m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// privateRedis is a redis-server of the run's own, without persistence.
type privateRedis struct {
	url  string
	stop func()
}

// startRedis starts redis-server (from PATH) on a free loopback port and
// waits until it answers PING.
func startRedis(ctx context.Context) (*privateRedis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("-redis needs redis-server in PATH (Debian: apt-get install redis-server)")
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "bulwark-bench-redis-")
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--daemonize", "no", "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	r := &privateRedis{url: fmt.Sprintf("redis://127.0.0.1:%d/0", port), stop: func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		os.RemoveAll(dir)
	}}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_, _ = c.Write([]byte("PING\r\n"))
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			buf := make([]byte, 7)
			n, _ := io.ReadFull(c, buf)
			c.Close()
			if string(buf[:n]) == "+PONG\r\n" {
				return r, nil
			}
		}
		if time.Now().After(deadline) {
			r.stop()
			return nil, fmt.Errorf("redis-server on %s did not answer", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freePort is a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// deadPort is the URL of a Redis that is down: a loopback port where nothing
// listens.
func deadPort() (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("redis://127.0.0.1:%d/0", port), nil
}

// silentRedis is the URL of a Redis that accepts connections and never
// answers; stop closes it and every connection it holds.
func silentRedis() (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return "redis://" + ln.Addr().String() + "/0", func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}, nil
}
