package bench

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Sign-ins under the shop's own load: a few customers signing in while
// the shop is as busy as it gets with its own buyers (a sale), not flooded.
// No one queues for a hashing slot at this rate, so the hashes run at the
// requests' priority: this measures what a customer waits to sign in when
// the CPUs are full of checkouts.
const (
	signinRate = 2  // sign-ins per second, quiet and under load
	signins    = 20 // measured each time
)

// SigninResult is the outcome of a SigninsUnderLoad run.
type SigninResult struct {
	Quiet, Loaded Result // the sign-ins
	Checkouts     Result // the load: closed-loop checkouts by o.Concurrency clients
}

func (s SigninResult) String() string {
	return fmt.Sprintf("%s\n%s\n%s\n  sign-in p99 under load / quiet p99 = %.2f", s.Quiet, s.Loaded, s.Checkouts,
		float64(s.Loaded.P99)/float64(s.Quiet.P99))
}

// SigninsUnderLoad measures sign-ins (right passwords, paced at signinRate)
// on a SQLite shop, quiet and then while o.Concurrency clients check out
// as fast as the shop answers (o.Checkouts of them, which must outlast the
// sign-ins: at least ~12 s of checkouts).
func SigninsUnderLoad(ctx context.Context, o Options) (SigninResult, error) {
	var res SigninResult
	sh, err := startShop(ctx, o, "sign-ins", "", "", nil)
	if err != nil {
		return res, err
	}
	defer sh.Close()
	carts, err := sh.carts(ctx, o.Checkouts)
	if err != nil {
		return res, err
	}
	signin := func(i int) (*http.Request, error) {
		return sh.request("POST", "/api/v1/auth/login", "", nil,
			map[string]string{"email": fmt.Sprintf("bench%d@example.com", i%len(sh.customers)), "password": "bench customer passphrase"})
	}
	if res.Quiet, err = paced(ctx, "sign-in, quiet", signinRate, signins, signin, sh.c, http.StatusOK); err != nil {
		return res, err
	}
	loaded := make(chan error, 1)
	go func() {
		var err error
		res.Checkouts, err = load(ctx, "checkout, the load", o.Concurrency, o.Checkouts, sh.checkout(sh.url, carts, 0, "signins"), sh.c, http.StatusCreated)
		loaded <- err
	}()
	select { // the load at full speed first
	case <-time.After(time.Second):
	case err := <-loaded:
		return res, fmt.Errorf("the checkouts ended within a second: raise -checkouts (%v)", err)
	}
	res.Loaded, err = paced(ctx, "sign-in, under checkout load", signinRate, signins, signin, sh.c, http.StatusOK)
	if lerr := <-loaded; err == nil {
		err = lerr
	}
	if err == nil && res.Checkouts.Elapsed < time.Second+time.Duration(signins)*time.Second/signinRate {
		err = fmt.Errorf("the checkouts (%v) ended before the sign-ins: raise -checkouts", res.Checkouts.Elapsed.Round(time.Millisecond))
	}
	return res, err
}
