// Command bulwark-bench measures checkout and product-read throughput and
// latency over HTTP on each engine, with a bare net/http handler as the
// ceiling; and, opt-in, checkout latency during a login flood (-flood), the
// edge on versus off (-edge), the CPU of the worst requests (-worst), Redis up
// versus down (-redis), a priced checkout (variants, tax, shipping, a
// discount code) versus the plain one (-priced), checkout with three webhook
// endpoints subscribed versus none (-webhooks), and the cost of nginx with ModSecurity and the
// Core Rule Set in front (-nginx, which installs Debian's packages if missing);
// and a soak (-soak 30m -soak-out /tmp/soak.csv): mixed traffic for that long,
// the process's resident memory, live heap, goroutines and open files sampled
// every -soak-every (10 s), judged flat or growing by a stated rule, then a
// login flood on the same shop; the samples go to a CSV with an SVG plot
// beside it.
// See docs/PERFORMANCE.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"time"

	"github.com/bulwark-shop/bulwark/internal/app"
	"github.com/bulwark-shop/bulwark/internal/bench"
	"github.com/bulwark-shop/bulwark/internal/identity/password"
)

func main() {
	// The shops' password hash workers are this executable, started so
	// (app.HashWorkerCommand), as bulwark's are.
	if len(os.Args) == 2 && os.Args[1] == "hash-worker" {
		if err := password.ServeWorker(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bulwark-bench hash-worker:", err)
			os.Exit(1)
		}
		return
	}
	o := bench.Options{Out: os.Stdout}
	flag.IntVar(&o.Concurrency, "concurrency", 32, "concurrent clients")
	flag.IntVar(&o.Checkouts, "checkouts", 5000, "checkouts per engine")
	flag.IntVar(&o.Reads, "reads", 20000, "product reads per engine and for the baseline")
	flag.BoolVar(&o.Flood, "flood", false, "only (with the other modes): checkout p99 quiet and during a login flood at 10x the login capacity")
	flag.IntVar(&o.FloodCheckouts, "flood-checkouts", 400, "checkouts measured quiet and again during the flood (at 40/s)")
	flag.BoolVar(&o.Edge, "edge", false, "only (with the other modes): checkouts and product reads with the edge on versus off")
	flag.BoolVar(&o.Nginx, "nginx", false, "only (with the other modes): the same mix through nginx+ModSecurity+CRS (apt-get installs it if missing)")
	flag.BoolVar(&o.Worst, "worst", false, "only (with the other modes): CPU per request of the most expensive requests the edge lets through, serially, WAF on")
	flag.IntVar(&o.WorstReps, "worst-reps", 15, "repetitions of each request in -worst (the median is reported)")
	flag.BoolVar(&o.Redis, "redis", false, "only (with the other modes): checkouts and product reads with Redis up (a private redis-server) and down (refused, and silent: accepts, never answers), warm shops taking turns")
	flag.IntVar(&o.Rounds, "rounds", 4, "rounds of -redis, -priced and -webhooks (the shops' order rotates each round)")
	flag.BoolVar(&o.Priced, "priced", false, "only (with the other modes): checkouts with variants, tax, shipping and a discount code versus plain ones, two warm shops per engine taking turns")
	flag.BoolVar(&o.Scenarios, "scenarios", false, "only (with the other modes): the attack scenarios of issue 14 replayed on loopback (a scanner's sweep, credential stuffing beside customers behind one NAT address, card testing mixed into regular orders), with their figures")
	flag.StringVar(&o.Scenario, "scenario", "", "with -scenarios: run only this one (scanning, stuffing, card-testing)")
	flag.BoolVar(&o.Webhooks, "webhooks", false, "only (with the other modes): checkouts with three webhook endpoints (receivers on 127.0.0.1) subscribed to the order events versus none, two warm shops per engine taking turns")
	flag.BoolVar(&o.Discovery, "discovery", false, "only (with the other modes): sensitive-data discovery's recall and precision on a labelled corpus, and its throughput on one core")
	flag.BoolVar(&o.Signins, "signins", false, "only (with the other modes): sign-in latency (right passwords, 2/s) quiet and while -concurrency clients make -checkouts checkouts as fast as the shop answers (a sale, not a flood)")
	flag.BoolVar(&o.Pages, "pages", false, "only (with the other modes): the storefront's product page and the console's findings page, edge on, beside the JSON product read, and each page's weight")
	flag.DurationVar(&o.Soak, "soak", 0, "only (with the other modes): mixed traffic (product reads, carts, checkouts, sign-ins right and wrong, a slow login flood) for this long on one shop, sampling memory, goroutines and open files; then -flood's measure on the same shop")
	flag.DurationVar(&o.SoakEvery, "soak-every", 10*time.Second, "with -soak: the sampling interval")
	flag.StringVar(&o.SoakOut, "soak-out", "", "with -soak: write the samples to this CSV file, the plot beside it (.svg) and heap and goroutine profiles at the middle and end (.heap-mid.pprof, .goroutine-end.txt, ...)")
	hashInServer := flag.Bool("hash-in-server", false, "compute password hashes in the server's process, as before 2026-12-05, rather than in worker processes as bulwark serve does")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the run (server and load share the process; each shop's goroutines carry the label shop=<name>) to this file")
	flag.Parse()
	// The shops serve requests in this process, as bulwark serve does.
	if !*hashInServer {
		o.HashWorker = app.HashWorkerCommand
	}
	// PostgreSQL runs when both URLs are set, in the environment (never as arguments).
	o.PostgresURL, o.VaultURL = os.Getenv("BULWARK_BENCH_DATABASE_URL"), os.Getenv("BULWARK_BENCH_VAULT_DATABASE_URL")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o, *cpuProfile); err != nil {
		fmt.Fprintln(os.Stderr, "bulwark-bench:", err)
		os.Exit(1)
	}
}

// run runs the benchmark, under a CPU profile written to cpuProfile when set.
func run(ctx context.Context, o bench.Options, cpuProfile string) error {
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	_, err := bench.Run(ctx, o)
	return err
}
