package app_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// TestLoginTimingRevealsLittle compares failed-login latency for known and
// unknown emails. Both do one argon2 verification (checked exactly by
// TestLoginRevealsNothing); this measures what is left. Machines here are small
// and noisy, so the test reports the difference and asserts only a generous
// bound: the medians within a factor of two.
func TestLoginTimingRevealsLittle(t *testing.T) {
	// Both sides at the production hash cost: what is left beside it is measured.
	s := startServer(t, testenv.Databases(t)[0], productionHashes)
	const perSide = 18 // under every throttle: 6 attempts per known account, 36 from this address
	for i := range 3 {
		s.register(fmt.Sprintf("timing%d@example.com", i))
	}
	measure := func(email string) time.Duration {
		start := time.Now()
		s.must(401, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": email, "password": "not the right password"}})
		return time.Since(start)
	}
	var known, unknown []time.Duration
	for i := range perSide { // interleaved, so drift in the machine's load hits both sides
		known = append(known, measure(fmt.Sprintf("timing%d@example.com", i%3)))
		unknown = append(unknown, measure(fmt.Sprintf("nobody%d@example.com", i)))
	}
	slices.Sort(known)
	slices.Sort(unknown)
	mk, mu := known[perSide/2], unknown[perSide/2]
	t.Logf("failed login, median of %d: known email %v, unknown email %v (difference %v)", perSide, mk, mu, mk-mu)
	if mk > 2*mu || mu > 2*mk {
		t.Fatalf("medians differ by more than a factor of two: known %v, unknown %v", mk, mu)
	}
}
