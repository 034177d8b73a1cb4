// Package bench measures Bulwark over HTTP: checkouts and product reads at a
// given concurrency against a real server on each engine, and the same load
// against a bare net/http handler on the same machine as the ceiling. It
// reports throughput and latency percentiles; it asserts nothing.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/bulwark-shop/bulwark/internal/app"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/edge"
	"github.com/bulwark-shop/bulwark/internal/identity/password"
	"github.com/bulwark-shop/bulwark/internal/logging"
	"github.com/bulwark-shop/bulwark/internal/store"
)

// Options configure a run.
type Options struct {
	Concurrency int
	Checkouts   int // checkouts per engine
	Reads       int // product reads per engine and for the baseline
	// PostgresURL and VaultURL, when set, add a PostgreSQL run; they should name
	// empty databases (or schemas).
	PostgresURL, VaultURL string
	Out                   io.Writer
	// The opt-in modes; when any is set, only those run.
	Flood          bool // checkout latency during a login flood (LoginFlood)
	FloodCheckouts int  // checkouts measured quiet, and again during the flood
	Edge           bool // the edge on versus off (EdgeCost)
	Nginx          bool // nginx with ModSecurity and the Core Rule Set in front (NginxCost)
	Worst          bool // CPU per request of the most expensive requests (Worst)
	WorstReps      int  // repetitions of each request in Worst
	Redis          bool // checkouts and product reads with Redis up and down (RedisOutage)
	Rounds         int  // rounds of RedisOutage, PricedCheckout and WebhookCheckout
	Priced         bool // a priced checkout versus the plain one (PricedCheckout)
	Webhooks       bool // checkout with three webhook endpoints versus none (WebhookCheckout)
	Scenarios      bool // the attack scenarios of issue 14 (Scenarios)
	Discovery      bool // sensitive-data discovery's recall, precision and speed (Discovery)
	Pages          bool // the product and findings pages against the JSON read, and their weight (PagesCost)
	Signins        bool // sign-in latency quiet and under the shop's own checkout load (SigninsUnderLoad)
	// Soak, when set, runs mixed traffic for this long and samples memory,
	// goroutines and open files (Soak); SoakEvery is the sampling interval
	// (10 s when zero) and SoakOut the CSV of the samples (the plot and
	// profiles are written beside it).
	Soak      time.Duration
	SoakEvery time.Duration
	SoakOut   string
	// PasswordHash, when not the zero value, is the argon2id cost of the
	// shops' new password hashes instead of production's: the tests' short
	// runs lower it, as the end-to-end tests do, since under -race each
	// production hash of the setup's accounts took seconds. A measured run
	// leaves it zero.
	PasswordHash password.Params
	// HashWorker, when set, starts the shops' password hash workers as
	// bulwark serve does (app.WithHashWorkers); nil hashes in the server.
	HashWorker func() *exec.Cmd
	// capacityLogins, when set, replaces the failed logins that measure the
	// login capacity before a flood (the tests' short runs).
	capacityLogins int
	// Scenario, when set, runs only the scenario of that name (scanning,
	// stuffing, card-testing).
	Scenario string
}

// Result is one measured workload.
type Result struct {
	Name     string
	Requests int
	Errors   int
	Elapsed  time.Duration
	P50, P99 time.Duration
	// CPU is the process's CPU time (user + system) during the load: the
	// shop's and the load generator's, which share the process. It varies far
	// less than throughput with what else runs on a shared machine.
	CPU time.Duration
}

// CPUPerRequest is CPU divided by the requests.
func (r Result) CPUPerRequest() time.Duration { return r.CPU / time.Duration(max(r.Requests, 1)) }

// PerSecond is the throughput.
func (r Result) PerSecond() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

func (r Result) String() string {
	return fmt.Sprintf("%-34s %7d req %5d err %9.0f req/s   p50 %7.2f ms   p99 %7.2f ms   cpu %6.2f ms/req",
		r.Name, r.Requests, r.Errors, r.PerSecond(), ms(r.P50), ms(r.P99), float64(r.CPUPerRequest().Microseconds())/1000)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Run measures every workload and prints one line each; with an opt-in mode
// set, it runs only the modes set.
func Run(ctx context.Context, o Options) ([]Result, error) {
	if o.Flood || o.Edge || o.Nginx || o.Worst || o.Redis || o.Priced || o.Webhooks || o.Scenarios || o.Discovery || o.Pages || o.Signins || o.Soak > 0 {
		return nil, runModes(ctx, o)
	}
	var results []Result
	base, err := baseline(ctx, o)
	if err != nil {
		return nil, err
	}
	results = append(results, base)
	fmt.Fprintln(o.Out, base)
	engines := []struct{ name, db, vault string }{{"sqlite", "", ""}}
	if o.PostgresURL != "" {
		engines = append(engines, struct{ name, db, vault string }{"postgres", o.PostgresURL, o.VaultURL})
	}
	for _, e := range engines {
		rs, err := engine(ctx, o, e.name, e.db, e.vault)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.name, err)
		}
		for _, r := range rs {
			fmt.Fprintln(o.Out, r)
		}
		results = append(results, rs...)
	}
	return results, nil
}

func runModes(ctx context.Context, o Options) error {
	if o.Signins {
		r, err := SigninsUnderLoad(ctx, o)
		if err != nil {
			return fmt.Errorf("sign-ins under load: %w", err)
		}
		fmt.Fprintln(o.Out, r)
	}
	if o.Flood {
		if _, err := LoginFlood(ctx, o); err != nil {
			return fmt.Errorf("login flood: %w", err)
		}
	}
	if o.Edge {
		if _, err := EdgeCost(ctx, o); err != nil {
			return fmt.Errorf("edge: %w", err)
		}
	}
	if o.Nginx {
		if _, err := NginxCost(ctx, o); err != nil {
			return fmt.Errorf("nginx: %w", err)
		}
	}
	if o.Worst {
		if _, err := Worst(ctx, o); err != nil {
			return fmt.Errorf("worst: %w", err)
		}
	}
	if o.Redis {
		if _, err := RedisOutage(ctx, o); err != nil {
			return fmt.Errorf("redis: %w", err)
		}
	}
	if o.Priced {
		if _, err := PricedCheckout(ctx, o); err != nil {
			return fmt.Errorf("priced: %w", err)
		}
	}
	if o.Webhooks {
		if _, err := WebhookCheckout(ctx, o); err != nil {
			return fmt.Errorf("webhooks: %w", err)
		}
	}
	if o.Scenarios {
		if err := Scenarios(ctx, o); err != nil {
			return fmt.Errorf("scenarios: %w", err)
		}
	}
	if o.Discovery {
		if err := Discovery(ctx, o); err != nil {
			return fmt.Errorf("discovery: %w", err)
		}
	}
	if o.Pages {
		if _, err := PagesCost(ctx, o); err != nil {
			return fmt.Errorf("pages: %w", err)
		}
	}
	if o.Soak > 0 {
		if _, err := Soak(ctx, o); err != nil {
			return fmt.Errorf("soak: %w", err)
		}
	}
	return nil
}

// baseline serves a fixed small JSON document from a bare handler.
func baseline(ctx context.Context, o Options) (Result, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Result{}, err
	}
	body := []byte(`{"items":[{"id":"prod_x","name":"baseline"}]}`)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(body)
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	c := newClient(o.Concurrency)
	url := "http://" + ln.Addr().String() + "/"
	return load(ctx, "baseline: bare net/http handler", o.Concurrency, o.Reads, func(int) (*http.Request, error) {
		return http.NewRequest("GET", url, nil)
	}, c, http.StatusOK)
}

func newClient(concurrency int) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: concurrency * 2, MaxIdleConnsPerHost: concurrency * 2, IdleConnTimeout: time.Minute}}
}

// load sends n requests from concurrency workers and measures them.
func load(ctx context.Context, name string, concurrency, n int, mk func(i int) (*http.Request, error), c *http.Client, want int) (Result, error) {
	lat := make([]time.Duration, n)
	errs := make([]bool, n)
	next := make(chan int)
	var wg sync.WaitGroup
	start, cpu0 := time.Now(), cpuTime()
	for range concurrency {
		wg.Go(func() {
			for i := range next {
				r, err := mk(i)
				if err != nil {
					errs[i] = true
					continue
				}
				t0 := time.Now()
				res, err := c.Do(r.WithContext(ctx))
				if err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
				lat[i] = time.Since(t0)
				errs[i] = err != nil || res.StatusCode != want
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	nerr := 0
	for _, e := range errs {
		if e {
			nerr++
		}
	}
	slices.Sort(lat)
	return Result{Name: name, Requests: n, Errors: nerr, Elapsed: elapsed,
		P50: lat[n*50/100], P99: lat[min(n-1, n*99/100)], CPU: cpu}, nil
}

// engine starts a real Bulwark on a fresh database and measures it.
func engine(ctx context.Context, o Options, name, dbURL, vaultURL string) ([]Result, error) {
	sh, err := startShop(ctx, o, name, dbURL, vaultURL, nil)
	if err != nil {
		return nil, err
	}
	defer sh.Close()
	carts, err := sh.carts(ctx, o.Checkouts)
	if err != nil {
		return nil, err
	}
	var results []Result
	shop0, vault0 := sh.app.DB.CommitStats(), sh.app.VaultDB.CommitStats()
	r, err := load(ctx, name+": checkout", o.Concurrency, o.Checkouts, sh.checkout(sh.url, carts, 0, "bench"), sh.c, 201)
	if err != nil {
		return nil, err
	}
	results = append(results, r)
	printCommits(o, name, r.Requests, shop0, sh.app.DB.CommitStats(), vault0, sh.app.VaultDB.CommitStats())
	r, err = load(ctx, name+": product list (20 items)", o.Concurrency, o.Reads, sh.get(sh.url, "/api/v1/products?limit=20"), sh.c, 200)
	if err != nil {
		return nil, err
	}
	results = append(results, r)
	r, err = load(ctx, name+": product by id", o.Concurrency, o.Reads, sh.get(sh.url, "/api/v1/products/"+sh.product), sh.c, 200)
	if err != nil {
		return nil, err
	}
	return append(results, r), nil
}

// printCommits says how many commits the checkouts made on SQLite's two
// databases and how many transactions each commit held (group commit): each
// commit is one fsync of the write-ahead log under synchronous=FULL.
func printCommits(o Options, name string, checkouts int, shop0, shop1, vault0, vault1 store.CommitStats) {
	c := shop1.Commits - shop0.Commits + vault1.Commits - vault0.Commits
	t := shop1.Transactions - shop0.Transactions + vault1.Transactions - vault0.Transactions
	if c == 0 || checkouts == 0 {
		return // PostgreSQL: its connections commit on their own
	}
	fmt.Fprintf(o.Out, "%s: %d checkouts made %d transactions in %d commits: %.2f commits per checkout, %.1f transactions per commit\n",
		name, checkouts, t, c, float64(c)/float64(checkouts), float64(t)/float64(c))
}

// roomy is a rate limit the benchmark never reaches: its load comes from one
// address, and the limits stay on (their cost is part of what is measured).
var roomy = edge.Limit{Count: 1_000_000, Period: time.Minute, Burst: 1_000_000}

// shop is a running Bulwark with customers who have a saved card, and one
// product in stock.
type shop struct {
	*session
	cfg       config.Config
	app       *app.App
	customers []customer
	product   string
	admin     string // a staff session with a second factor, for further setup
	stop      func()
}

type customer struct{ token, method string }

// startShop starts a real Bulwark through app.New on a fresh database with
// the default settings (but roomy rate limits) changed by adjust, and sets up
// o.Concurrency customers and a product. Close stops it.
func startShop(ctx context.Context, o Options, name, dbURL, vaultURL string, adjust func(*config.Config)) (*shop, error) {
	return startShopWith(ctx, o, name, dbURL, vaultURL, adjust)
}

// startShopWith is startShop with the application's options (a scenario's
// counting processor).
func startShopWith(ctx context.Context, o Options, name, dbURL, vaultURL string, adjust func(*config.Config), opts ...app.Option) (*shop, error) {
	dir, err := os.MkdirTemp("", "bulwark-bench-")
	if err != nil {
		return nil, err
	}
	cfg := config.Defaults()
	cfg.DataDir, cfg.DatabaseURL, cfg.VaultDatabaseURL = dir, dbURL, vaultURL
	cfg.Listen, cfg.MetricsListen = "127.0.0.1:0", ""
	cfg.RateLimit = edge.Limits{Auth: roomy, Checkout: roomy, Admin: roomy, Reads: roomy, Writes: roomy}
	cfg.PasswordHashForTests = o.PasswordHash
	if adjust != nil {
		adjust(&cfg)
	}
	if o.HashWorker != nil {
		opts = append(opts, app.WithHashWorkers(o.HashWorker))
	}
	// Request logs are written, as in production, but to nowhere.
	a, err := app.New(ctx, cfg, logging.New(io.Discard, slog.LevelInfo), time.Now, opts...)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	ls, err := a.Listen()
	if err != nil {
		a.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	served := make(chan struct{})
	go func() {
		// The shop's goroutines carry its name, so a CPU profile of a run
		// with several shops (bulwark-bench -cpuprofile) tells them apart:
		// go tool pprof -tagfocus 'shop=sqlite priced'.
		pprof.Do(sctx, pprof.Labels("shop", name), func(ctx context.Context) { a.Serve(ctx, ls) })
		close(served)
	}()
	sh := &shop{session: &session{url: "http://" + ls.API.Addr().String(), c: newClient(o.Concurrency), spread: cfg.TrustedProxies != ""}, cfg: cfg, app: a,
		stop: func() {
			cancel()
			<-served
			a.Close()
			os.RemoveAll(dir)
		}}
	if err := sh.setup(ctx, o, name); err != nil {
		sh.Close()
		return nil, err
	}
	return sh, nil
}

// settle waits, at most timeout, until the shop has no work left from
// earlier checkouts: no event waiting in its outbox and no order mail
// waiting to be sent. A mode that compares two shops turn by turn settles
// both before each turn, so that neither pays for the other's mail or
// deliveries (the workers defer them while checkouts run).
func (sh *shop) settle(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		events, err := sh.app.DB.EventOutboxLength(ctx)
		if err != nil {
			return err
		}
		mails, _, err := sh.app.DB.MailBacklog(ctx)
		if err != nil {
			return err
		}
		if events == 0 && mails == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d events and %d mails still waiting after %s", events, mails, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Close stops the shop and removes its data.
func (sh *shop) Close() { sh.stop() }

func (sh *shop) setup(ctx context.Context, o Options, name string) error {
	fmt.Fprintf(o.Out, "%s: setting up %d customers...\n", name, o.Concurrency)
	_, enrollment, err := sh.app.Identity.CreateAdmin(ctx, "bench-admin@example.com", "bench admin passphrase", "Bench")
	if err != nil {
		return err
	}
	admin, err := sh.login("bench-admin@example.com", "bench admin passphrase")
	if err != nil {
		return err
	}
	if err := sh.enableMFA(admin, enrollment); err != nil { // staff routes need a second factor
		return err
	}
	sh.admin = admin
	var prod struct{ ID string }
	if err := sh.call("POST", "/api/v1/admin/products", admin, nil, map[string]any{"sku": "BENCH-1", "name": "Bench", "description": "",
		"price": map[string]any{"amount": 1000, "currency": sh.cfg.Currency}, "stock": 1_000_000_000}, 201, &prod); err != nil {
		return err
	}
	sh.product = prod.ID
	return sh.addCustomers(o.Concurrency)
}

// addCustomers signs up customers, each with a saved card, until the shop
// has n.
func (sh *shop) addCustomers(n int) error {
	for i := len(sh.customers); i < n; i++ {
		email := fmt.Sprintf("bench%d@example.com", i)
		if err := sh.register(email, "bench customer passphrase"); err != nil {
			return err
		}
		tok, err := sh.login(email, "bench customer passphrase")
		if err != nil {
			return err
		}
		var m struct{ ID string }
		if err := sh.call("POST", "/api/v1/payment-methods", tok, nil, map[string]any{"number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "holder": "B"}, 201, &m); err != nil {
			return err
		}
		sh.customers = append(sh.customers, customer{tok, m.ID})
	}
	return nil
}

// verifyLink is the token of a verification mail.
var verifyLink = regexp.MustCompile(`#token=(bwv_[A-Za-z0-9_-]+)`)

// register makes a customer the way a customer does: it asks for the
// account, takes the verification link from the outbox and uses it.
func (sh *shop) register(email, password string) error {
	if err := sh.call("POST", "/api/v1/auth/register", "", nil, map[string]string{"email": email, "password": password, "name": "B"}, 202, nil); err != nil {
		return err
	}
	dir := filepath.Join(sh.cfg.DataDir, app.OutboxDir)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil || !strings.Contains(string(b), "\r\nTo: "+email+"\r\n") {
				continue
			}
			if m := verifyLink.FindSubmatch(b); m != nil {
				os.Remove(f)
				return sh.call("POST", "/api/v1/auth/verify-email", "", nil, map[string]string{"token": string(m[1])}, 200, nil)
			}
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("no verification mail to %s", email)
}

// carts prepares n carts, one per checkout, each holding one unit of the
// product; setup is not measured.
func (sh *shop) carts(ctx context.Context, n int) ([]string, error) {
	carts := make([]string, n)
	prep, err := load(ctx, "setup", len(sh.customers), n, func(i int) (*http.Request, error) {
		cu := sh.customers[i%len(sh.customers)]
		var c struct{ ID string }
		if err := sh.call("POST", "/api/v1/carts", cu.token, nil, nil, 201, &c); err != nil {
			return nil, err
		}
		carts[i] = c.ID
		return sh.request("PUT", "/api/v1/carts/"+c.ID+"/items/"+sh.product, cu.token, nil, map[string]int{"quantity": 1})
	}, sh.c, 200)
	if err != nil || prep.Errors > 0 {
		return nil, fmt.Errorf("setting up carts: %d errors, %v", prep.Errors, err)
	}
	return carts, nil
}

// checkout makes the i-th checkout request, of carts[from+i] (and so of that
// cart's owner), sent to base (the shop, or a proxy in front of it); run names
// its idempotency keys.
func (sh *shop) checkout(base string, carts []string, from int, run string) func(i int) (*http.Request, error) {
	return sh.checkoutExpecting(base, carts, nil, from, run)
}

// checkoutExpecting is checkout sending, when totals is set, totals[from+i]
// as the expected_total of carts[from+i]: the total the customer was shown.
func (sh *shop) checkoutExpecting(base string, carts []string, totals []money, from int, run string) func(i int) (*http.Request, error) {
	s := &session{url: base, c: sh.c, spread: sh.spread}
	return func(i int) (*http.Request, error) {
		i += from
		var total *money
		if totals != nil {
			total = &totals[i]
		}
		return s.checkoutRequest(sh.customers[i%len(sh.customers)], carts[i], fmt.Sprintf("%s-%d", run, i), total)
	}
}

// checkoutRequest is the checkout of cart, owned by cu, paid with cu's saved
// card, under the idempotency key key; total, when set, is the expected_total.
func (s *session) checkoutRequest(cu customer, cart, key string, total *money) (*http.Request, error) {
	body := map[string]any{
		"cart_id": cart, "payment_method": cu.method, "cvc": "123",
		"shipping_address": map[string]string{"name": "B", "line1": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}}
	if total != nil {
		body["expected_total"] = *total
	}
	return s.request("POST", "/api/v1/checkout", cu.token, map[string]string{"Idempotency-Key": key}, body)
}

// money is the API's Money.
type money struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// get makes a GET of path sent to base.
func (sh *shop) get(base, path string) func(int) (*http.Request, error) {
	s := &session{url: base, c: sh.c}
	return func(int) (*http.Request, error) { return s.request("GET", path, "", nil, nil) }
}

// session is a small JSON client for setting up a run.
type session struct {
	url string
	c   *http.Client
	// spread sends each request from a random address of 192.168.0.0/16 in
	// X-Forwarded-For, for a shop that trusts the loopback proxy and keeps a
	// real per-address limit: the setup's sign-ups and logins stay under it.
	spread bool
}

func (s *session) request(method, path, token string, header map[string]string, body any) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	r, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	if s.spread {
		r.Header.Set("X-Forwarded-For", fmt.Sprintf("192.168.%d.%d", rand.IntN(256), rand.IntN(256)))
	}
	return r, nil
}

func (s *session) call(method, path, token string, header map[string]string, body any, want int, out any) error {
	r, err := s.request(method, path, token, header, body)
	if err != nil {
		return err
	}
	res, err := s.c.Do(r)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		return fmt.Errorf("%s %s = %d: %s", method, path, res.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// enableMFA turns TOTP on; a new staff account gives its enrolment code.
func (s *session) enableMFA(token, enrollmentCode string) error {
	var e struct{ Secret string }
	if err := s.call("POST", "/api/v1/me/mfa/totp", token, nil, map[string]string{"enrollment_code": enrollmentCode}, 201, &e); err != nil {
		return err
	}
	code, err := totp.GenerateCode(e.Secret, time.Now())
	if err != nil {
		return err
	}
	return s.call("POST", "/api/v1/me/mfa/totp/confirm", token, nil, map[string]string{"otp": code}, 200, nil)
}

func (s *session) login(email, password string) (string, error) {
	var out struct{ Token string }
	err := s.call("POST", "/api/v1/auth/login", "", nil, map[string]string{"email": email, "password": password}, 200, &out)
	return out.Token, err
}
