// Command bulwark-bench measures checkout and product-read throughput and
// latency over HTTP on each engine, with a bare net/http handler as the
// ceiling. See docs/PERFORMANCE.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/bulwark-shop/bulwark/internal/bench"
)

func main() {
	o := bench.Options{Out: os.Stdout}
	flag.IntVar(&o.Concurrency, "concurrency", 32, "concurrent clients")
	flag.IntVar(&o.Checkouts, "checkouts", 5000, "checkouts per engine")
	flag.IntVar(&o.Reads, "reads", 20000, "product reads per engine and for the baseline")
	flag.Parse()
	// PostgreSQL runs when both URLs are set, in the environment (never as arguments).
	o.PostgresURL, o.VaultURL = os.Getenv("BULWARK_BENCH_DATABASE_URL"), os.Getenv("BULWARK_BENCH_VAULT_DATABASE_URL")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if _, err := bench.Run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bulwark-bench:", err)
		os.Exit(1)
	}
}
