package bench_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/bench"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// TestPricedCheckoutRuns runs a tiny -priced on every engine available, so
// the scenario cannot rot: every prepared cart must check out at the total
// its GET showed (a refused checkout is an error), on both shops, in every
// round. It measures nothing.
func TestPricedCheckoutRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: starts two shops per engine and runs checkouts for several seconds")
	}
	o := bench.Options{Concurrency: 2, Checkouts: 6, Rounds: 2, Priced: true, PasswordHash: cheapHashes}
	engines := []string{"sqlite"}
	if base := os.Getenv(testenv.DatabaseURLVar); base != "" {
		o.PostgresURL, o.VaultURL = base, base // PricedCheckout makes schemas of its own there
		engines = append(engines, "postgres")
	} else if os.Getenv(testenv.RequireServicesVar) == "1" {
		t.Fatal(testenv.DatabaseURLVar + " is not set (required by " + testenv.RequireServicesVar + ")")
	}
	var out bytes.Buffer
	o.Out = &out
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	results, err := bench.PricedCheckout(ctx, o)
	if err != nil {
		t.Fatalf("PricedCheckout: %v\n%s", err, out.String())
	}
	for _, e := range engines {
		for _, shop := range []string{"plain", "priced"} {
			rs := results[e+" "+shop]
			if len(rs) != o.Rounds {
				t.Fatalf("%s %s: %d results, want one per round (%d)", e, shop, len(rs), o.Rounds)
			}
			for _, r := range rs {
				if r.Requests != o.Checkouts || r.Errors != 0 {
					t.Errorf("%s: %d requests, %d errors, want %d and none", r.Name, r.Requests, r.Errors, o.Checkouts)
				}
			}
		}
		if !strings.Contains(out.String(), e+": priced / plain throughput") {
			t.Errorf("no verdict for %s in:\n%s", e, out.String())
		}
	}
}
