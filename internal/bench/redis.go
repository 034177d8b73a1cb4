package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/bulwark-shop/bulwark/internal/config"
)

// RedisOutage measures the request mix of the edge comparisons (checkouts,
// then product reads) on SQLite with Redis up and with Redis down, in
// o.Rounds interleaved rounds (up, down, up, down, ...) so that the noise of a
// shared machine falls on both variants alike, and reports each round's
// down/up ratios (throughput, p99, and CPU per request, which the machine's
// other load moves far less than throughput; redis-server's own CPU is not
// in it) and their mean and spread.
//
// Up is a private redis-server started for the run (never a shared one).
// Down (o.RedisDown) is "refused", a loopback port where nothing listens, so
// every dial fails at once; or "silent", a port that accepts connections and
// never answers, as a hung Redis or a firewall that drops does: each command
// then waits for go-redis's timeouts (failFast in internal/app), which only
// the shop's dependency tracker (Redis known down: no request asks it) keeps
// off the requests.
func RedisOutage(ctx context.Context, o Options) ([][2]Result, error) {
	rs, err := startRedis(ctx)
	if err != nil {
		return nil, err
	}
	defer rs.stop()
	var down string
	switch o.RedisDown {
	case "", "refused":
		down, err = deadPort()
	case "silent":
		var stop func()
		down, stop, err = silentRedis()
		if stop != nil {
			defer stop()
		}
	default:
		err = fmt.Errorf("-redis-down %q: want refused or silent", o.RedisDown)
	}
	if err != nil {
		return nil, err
	}
	rounds := max(o.Rounds, 1)
	var pairs [][2]Result
	ratios := map[string][]float64{}
	for round := 1; round <= rounds; round++ {
		var up, dn []Result
		for _, v := range []struct {
			name, url string
			dst       *[]Result
		}{{"redis up", rs.url, &up}, {"redis down", down, &dn}} {
			name := fmt.Sprintf("%s (round %d)", v.name, round)
			res, err := mix(ctx, o, name, func(c *config.Config) {
				c.RedisURL = v.url
				// A key prefix of its own per run: the budgets start full.
				c.RedisKeyPrefix = fmt.Sprintf("bulwark-bench:%d:%d:", os.Getpid(), round)
			}, nil, nil)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			*v.dst = res
		}
		for i := range up {
			pairs = append(pairs, [2]Result{up[i], dn[i]})
			for _, r := range []Result{up[i], dn[i]} {
				fmt.Fprintf(o.Out, "%s   cpu %6.3f ms/req\n", r, ms(r.CPUPerRequest()))
			}
			t, p := dn[i].PerSecond()/up[i].PerSecond(), float64(dn[i].P99)/float64(up[i].P99)
			c := float64(dn[i].CPUPerRequest()) / float64(up[i].CPUPerRequest())
			fmt.Fprintf(o.Out, "  redis down / up: throughput %.2f, p99 %.2f, cpu/req %.2f\n", t, p, c)
			what := workload(up[i].Name)
			ratios[what+" throughput"] = append(ratios[what+" throughput"], t)
			ratios[what+" p99"] = append(ratios[what+" p99"], p)
			ratios[what+" cpu/req"] = append(ratios[what+" cpu/req"], c)
		}
	}
	for _, what := range []string{"checkout throughput", "checkout p99", "checkout cpu/req", "product by id throughput", "product by id p99", "product by id cpu/req"} {
		rs := ratios[what]
		if len(rs) == 0 {
			continue
		}
		lo, hi, sum := math.Inf(1), math.Inf(-1), 0.0
		for _, r := range rs {
			lo, hi, sum = math.Min(lo, r), math.Max(hi, r), sum+r
		}
		fmt.Fprintf(o.Out, "redis down / up, %s: mean %.2f over %d rounds (%.2f .. %.2f)\n", what, sum/float64(len(rs)), len(rs), lo, hi)
	}
	return pairs, nil
}

// workload is the part of a result's name after the variant ("checkout").
func workload(name string) string {
	for i := range len(name) - 1 {
		if name[i] == ':' && name[i+1] == ' ' {
			return name[i+2:]
		}
	}
	return name
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
