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
	"time"

	"github.com/bulwark-shop/bulwark/internal/config"
)

// RedisOutage measures the request mix of the edge comparisons (checkouts,
// then product reads) on SQLite with Redis up and with Redis down, in
// o.Rounds interleaved rounds (up, down, up, down, ...) so that the noise of a
// shared machine falls on both variants alike, and reports each round's
// down/up ratios and their mean and spread.
//
// Up is a private redis-server started for the run (never a shared one);
// down is a loopback port where nothing listens, so every dial is refused at
// once: the shop's answer to an outage (each instance limits alone in memory,
// the dynamic blocks are not read) without the wait of a dial to a host that
// does not answer, which go-redis bounds by the dial timeout (failFast in
// internal/app).
func RedisOutage(ctx context.Context, o Options) ([][2]Result, error) {
	rs, err := startRedis(ctx)
	if err != nil {
		return nil, err
	}
	defer rs.stop()
	down, err := deadPort()
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
			fmt.Fprintln(o.Out, up[i])
			fmt.Fprintln(o.Out, dn[i])
			t, p := dn[i].PerSecond()/up[i].PerSecond(), float64(dn[i].P99)/float64(up[i].P99)
			fmt.Fprintf(o.Out, "  redis down / up: throughput %.2f, p99 %.2f\n", t, p)
			what := workload(up[i].Name)
			ratios[what+" throughput"] = append(ratios[what+" throughput"], t)
			ratios[what+" p99"] = append(ratios[what+" p99"], p)
		}
	}
	for _, what := range []string{"checkout throughput", "checkout p99", "product by id throughput", "product by id p99"} {
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
