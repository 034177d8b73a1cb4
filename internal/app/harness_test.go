package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/bulwark-shop/bulwark/internal/app"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/edge"
	"github.com/bulwark-shop/bulwark/internal/identity"
	"github.com/bulwark-shop/bulwark/internal/identity/password"
	"github.com/bulwark-shop/bulwark/internal/logging"
	"github.com/bulwark-shop/bulwark/internal/testenv"
	"github.com/bulwark-shop/bulwark/internal/vaultapi"
)

// clock is a settable time source for session-timeout tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now().UTC()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t: two servers that share state kept on their
// clocks (rate limits in Redis) are set to one time.
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// server is a real Bulwark serving HTTP on loopback ports.
type server struct {
	t          *testing.T
	URL        string
	MetricsURL string
	// RedirectURL is the plain-HTTP listener next to TLS, when configured.
	RedirectURL string
	App         *app.App
	Config      config.Config
	Logs        *testenv.SyncBuffer
	// Vault is the card vault process the shop uses, or nil when it is embedded.
	Vault  *vaultServer
	Clock  *clock
	client *http.Client
	// secrets holds the TOTP secret of every staff account the test made.
	secrets map[string]string
}

// testConfig is the default configuration on db, on loopback ports chosen by the kernel.
func testConfig(db testenv.Database) config.Config {
	cfg := config.Defaults()
	cfg.DataDir = db.DataDir
	cfg.DatabaseURL = db.DatabaseURL
	cfg.VaultDatabaseURL = db.VaultDatabaseURL
	cfg.Listen = "127.0.0.1:0"
	cfg.MetricsListen = "127.0.0.1:0"
	cfg.LogLevel = "debug"
	// The suite makes hundreds of requests from 127.0.0.1 (role matrix, 50
	// concurrent checkouts); the real defaults are tested in ratelimit_test.go.
	cfg.RateLimit = edge.Limits{Auth: roomy, Checkout: roomy, Admin: roomy, Reads: roomy, Writes: roomy}
	cfg.PasswordHashForTests = cheapHashes
	// Posture runs when a test asks (posture_test.go): a scheduled run's
	// findings and records would surprise the tests that count theirs.
	cfg.PostureInterval = 0
	// Every test's server stops at its end: a drain would add drain-delay
	// to each. The drain is tested where it is the subject (drain_test.go).
	cfg.DrainDelay = 0
	return cfg
}

// cheapHashes is the argon2id cost of the suite's servers and commands: 64
// KiB and one pass instead of the production 19 MiB and two. The suite
// registers and logs in hundreds of accounts under -race, where a production
// hash took a tenth of a second of CPU or more (over half of
// TestDailyCapKeepsNoOwnerOut's time); what the tests check of hashing (one
// computation per login, known or unknown; hashes kept as argon2id; a
// refused login costs none) holds at any cost. The tests whose property is
// the cost itself run at the production cost: productionHashes. A server in
// a process of its own (process_test.go) has the production cost, and
// rehashes at login what an in-process server hashed cheaply.
var cheapHashes = password.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// productionHashes puts back the production argon2id cost (password.DefaultParams)
// that testConfig lowers, for a test of the cost itself: a login flood that
// must outrun the hash pool, login timing, the upgrade of old hashes.
func productionHashes(c *config.Config) { c.PasswordHashForTests = password.Params{} }

// roomy is a rate limit the suite never reaches: limits stay on, out of the way.
var roomy = edge.Limit{Count: 100_000, Period: time.Minute, Burst: 100_000}

// startServer builds and serves a Bulwark through app.New, Listen and Serve, the
// path `bulwark serve` takes after reading its settings.
func startServer(t *testing.T, db testenv.Database, adjust ...func(*config.Config)) *server {
	t.Helper()
	return startServerOpts(t, db, nil, adjust...)
}

// startServerOpts is startServer with app options (a test's own gateway).
func startServerOpts(t *testing.T, db testenv.Database, opts []app.Option, adjust ...func(*config.Config)) *server {
	t.Helper()
	cfg := testConfig(db)
	for _, f := range adjust {
		f(&cfg)
	}
	logs := &testenv.SyncBuffer{}
	clk := newClock()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, logging.New(logs, -4), clk.Now, opts...)
	if err != nil {
		cancel()
		t.Fatalf("start server: %v", err)
	}
	ls, err := a.Listen()
	if err != nil {
		cancel()
		a.Close()
		t.Fatalf("listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ls) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		a.Close()
	})
	s := &server{t: t, App: a, Config: cfg, Logs: logs, Clock: clk,
		URL:    "http://" + ls.API.Addr().String(),
		client: &http.Client{Timeout: 30 * time.Second}}
	if ls.Metrics != nil {
		s.MetricsURL = "http://" + ls.Metrics.Addr().String()
	}
	if ls.Redirect != nil {
		s.RedirectURL = "http://" + ls.Redirect.Addr().String()
	}
	return s
}

// vaultMode says where the shop's card vault runs.
type vaultMode string

const (
	embeddedVault vaultMode = "embedded vault"
	remoteVault   vaultMode = "vault process"
	// socketVault is the vault process on a Unix socket instead of mutual TLS.
	socketVault vaultMode = "vault socket"
)

// forEachVault runs fn as a subtest on every engine, once with the card vault
// embedded and once with the vault in a server of its own that the shop
// reaches over mutual TLS: the same end-to-end tests hold in both modes.
func forEachVault(t *testing.T, fn func(t *testing.T, db testenv.Database, mode vaultMode)) {
	t.Helper()
	forVaults(t, []vaultMode{embeddedVault, remoteVault}, fn)
}

// forVaults is forEachVault for the modes given: a test too long for one of
// CI's workers runs each mode in a top-level test of its own.
func forVaults(t *testing.T, modes []vaultMode, fn func(t *testing.T, db testenv.Database, mode vaultMode)) {
	t.Helper()
	for _, mode := range modes {
		t.Run(strings.ReplaceAll(string(mode), " ", "-"), func(t *testing.T) {
			testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) { fn(t, db, mode) })
		})
	}
}

// onEngine runs fn as a subtest on one of the engines testenv.ForEachDatabase
// runs on: a test too long for one of CI's workers runs each engine in a
// top-level test of its own. Where PostgreSQL is not configured, the
// PostgreSQL test runs nothing (and fails when services are required), as
// ForEachDatabase does.
func onEngine(t *testing.T, engine string, fn func(t *testing.T, db testenv.Database)) {
	t.Helper()
	for _, db := range testenv.Databases(t) {
		if db.Engine == engine {
			t.Run(db.Engine, func(t *testing.T) { fn(t, db) })
		}
	}
}

// startServerWith starts a shop whose card vault runs as mode says.
func startServerWith(t *testing.T, db testenv.Database, mode vaultMode, adjust ...func(*config.Config)) *server {
	t.Helper()
	if mode == embeddedVault {
		return startServer(t, db, adjust...)
	}
	v := startVault(t, db, mode == socketVault)
	s := startServer(t, db, append([]func(*config.Config){v.reach}, adjust...)...)
	s.Vault = v
	return s
}

// vaultServer is a card vault served through app.NewVault, Listen and Serve,
// the path `bulwark vault serve` takes, with a data directory (KEK, keyset and,
// on SQLite, vault.db) of its own and db's vault database.
type vaultServer struct {
	URL    string
	Config config.Config // the vault's own settings
	Certs  string        // the directory of `bulwark vault certs`
	Logs   *testenv.SyncBuffer
	app    *app.VaultServer
	// Stop shuts the vault down (and is done at the end of the test).
	Stop func()
}

func startVault(t *testing.T, db testenv.Database, socket bool) *vaultServer {
	t.Helper()
	certs := filepath.Join(t.TempDir(), "certs")
	if code, out, errOut := runCLI(t, config.Config{}, "", "vault", "certs", "--dir", certs); code != 0 {
		t.Fatalf("vault certs exited %d: %s %s", code, out, errOut)
	}
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.VaultDatabaseURL = db.VaultDatabaseURL
	cfg.VaultListen = "127.0.0.1:0"
	cfg.VaultTLSCert = filepath.Join(certs, vaultapi.ServerCertFile)
	cfg.VaultTLSKey = filepath.Join(certs, vaultapi.ServerKeyFile)
	cfg.VaultClientCA = filepath.Join(certs, vaultapi.CAFile)
	if socket {
		cfg.VaultSocket = filepath.Join(t.TempDir(), "vault.sock")
	}
	logs := &testenv.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	v, err := app.NewVault(ctx, cfg, logging.New(logs, -4), time.Now)
	if err != nil {
		cancel()
		t.Fatalf("start vault: %v", err)
	}
	l, err := v.Listen()
	if err != nil {
		cancel()
		v.Close()
		t.Fatalf("vault listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- v.Serve(ctx, l) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("vault serve: %v", err)
			}
			v.Close()
		})
	}
	t.Cleanup(stop)
	url := "https://" + l.Addr().String()
	if socket {
		url = "unix://" + cfg.VaultSocket
	}
	return &vaultServer{URL: url, Config: cfg, Certs: certs, Logs: logs, app: v, Stop: stop}
}

// reach points a shop's settings at the vault: no vault database of its own.
func (v *vaultServer) reach(cfg *config.Config) {
	cfg.VaultDatabaseURL = ""
	cfg.VaultURL = v.URL
	if strings.HasPrefix(v.URL, "unix:") {
		return
	}
	cfg.VaultClientCert = filepath.Join(v.Certs, vaultapi.ClientCertFile)
	cfg.VaultClientKey = filepath.Join(v.Certs, vaultapi.ClientKeyFile)
	cfg.VaultCA = filepath.Join(v.Certs, vaultapi.CAFile)
}

// vaultConfig is the configuration whose data directory and vault database
// hold the shop's cards.
func (s *server) vaultConfig() config.Config {
	if s.Vault != nil {
		return s.Vault.Config
	}
	return s.Config
}

// closeStores flushes every database file (the shop's and the vault's) to disk.
func (s *server) closeStores() {
	s.App.Close()
	if s.Vault != nil {
		s.Vault.app.Close()
	}
}

// metric reads one unlabelled sample from the metrics listener.
// metricLines returns the lines of the server's /metrics page.
func (s *server) metricLines() []string {
	s.t.Helper()
	res, err := http.Get(s.MetricsURL + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return strings.Split(string(b), "\n")
}

func (s *server) metric(name string) float64 {
	s.t.Helper()
	lines := s.metricLines()
	for _, line := range lines {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				s.t.Fatalf("metric %s = %q", name, v)
			}
			return f
		}
	}
	s.t.Fatalf("no metric %s in:\n%s", name, strings.Join(lines, "\n"))
	return 0
}

// metricSum returns the sum of every series of the labelled metric name.
func (s *server) metricSum(name string) float64 {
	s.t.Helper()
	total := 0.0
	for _, line := range s.metricLines() {
		if rest, ok := strings.CutPrefix(line, name+"{"); ok {
			_, v, _ := strings.Cut(rest, "} ")
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				s.t.Fatalf("metric %s: %q", name, line)
			}
			total += f
		}
	}
	return total
}

// response is what a request got back.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test when it is not JSON.
func (r response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("response %d is not JSON: %v\n%s", r.Status, err, r.Body)
	}
}

// Code returns the problem code of an error response.
func (r response) Code(t testing.TB) string {
	t.Helper()
	var p struct{ Code string }
	r.JSON(t, &p)
	return p.Code
}

// req describes a request: body is sent as JSON unless it is a string or []byte,
// which are sent as they are.
type req struct {
	method, path string
	token        string
	body         any
	header       map[string]string
}

func (s *server) do(r req) response {
	s.t.Helper()
	res, err := s.try(r)
	if err != nil {
		s.t.Fatal(err)
	}
	return res
}

// try sends r and returns the response, or the error of a request that got
// none (a connection closed, a timeout).
func (s *server) try(r req) (response, error) {
	s.t.Helper()
	var body io.Reader
	switch b := r.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			s.t.Fatalf("marshal request: %v", err)
		}
		body = bytes.NewReader(j)
	}
	hr, err := http.NewRequest(r.method, s.URL+r.path, body)
	if err != nil {
		s.t.Fatalf("new request: %v", err)
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	res, err := s.client.Do(hr)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, fmt.Errorf("read %s %s: %w", r.method, r.path, err)
	}
	return response{Status: res.StatusCode, Header: res.Header, Body: b}, nil
}

// must sends r and fails the test unless the status is want.
func (s *server) must(want int, r req) response {
	s.t.Helper()
	res := s.do(r)
	if res.Status != want {
		s.t.Fatalf("%s %s = %d, want %d\n%s", r.method, r.path, res.Status, want, res.Body)
	}
	return res
}

const testPassword = "a long passphrase nobody guesses"

type user struct {
	ID    string   `json:"id"`
	Email string   `json:"email"`
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
}

// register creates a customer account the way a customer does: it asks for
// one (202), takes the verification mail out of the outbox, and confirms the
// address with its token.
func (s *server) register(email string) user {
	s.t.Helper()
	return s.registerAs(email, testPassword, "Test Customer")
}

// registerAs is register with a password and a name of the test's choosing.
func (s *server) registerAs(email, password, name string) user {
	s.t.Helper()
	s.must(202, req{method: "POST", path: "/api/v1/auth/register",
		body: map[string]string{"email": email, "password": password, "name": name}})
	return s.verify(s.takeVerification(email))
}

// verify confirms an address with a verification token and returns the account.
func (s *server) verify(token string) user {
	s.t.Helper()
	var out struct{ User user }
	s.must(200, req{method: "POST", path: "/api/v1/auth/verify-email", body: map[string]string{"token": token}}).JSON(s.t, &out)
	return out.User
}

var verifyLink = regexp.MustCompile(`#token=(bwv_[A-Za-z0-9_-]+)`)

// takeVerification takes the verification mail to email out of the outbox
// and returns its token.
func (s *server) takeVerification(email string) string {
	s.t.Helper()
	return verifyLink.FindStringSubmatch(s.takeMail(email, "#token=bwv_"))[1]
}

// takeMail waits (bounded: mail is written just after the answer) for a mail
// to email that contains text, removes it from the outbox, so that tests
// counting mails see only their own, and returns it.
func (s *server) takeMail(email, text string) string {
	s.t.Helper()
	return s.findMail(email, text, true)
}

// waitMail is takeMail that leaves the mail in the outbox.
func (s *server) waitMail(email, text string) string {
	s.t.Helper()
	return s.findMail(email, text, false)
}

func (s *server) findMail(email, text string, remove bool) string {
	s.t.Helper()
	to := "\r\nTo: " + identity.NormalizeEmail(email) + "\r\n"
	dir := filepath.Join(s.Config.DataDir, app.OutboxDir)
	deadline := time.Now().Add(10 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				continue // taken by another reader
			}
			if m := string(b); strings.Contains(m, to) && strings.Contains(m, text) {
				if !remove {
					return m
				}
				if err := os.Remove(f); err != nil {
					s.t.Fatal(err)
				}
				return m
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no mail to %s with %q in the outbox", email, text)
		}
		time.Sleep(time.Millisecond)
	}
}

// login returns a session token.
func (s *server) login(email, password string) string {
	s.t.Helper()
	var out struct{ Token string }
	s.must(200, req{method: "POST", path: "/api/v1/auth/login",
		body: map[string]string{"email": email, "password": password}}).JSON(s.t, &out)
	return out.Token
}

// createAdmin bootstraps an admin the way an operator does, through
// `bulwark admin create`, turns its TOTP on with the one-time enrolment code
// the command printed, and returns a session token for it.
func (s *server) createAdmin(email string) string {
	s.t.Helper()
	code, stdout, stderr := runCLI(s.t, s.Config, testPassword+"\n", "admin", "create", "--email", email, "--password-stdin")
	if code != 0 {
		s.t.Fatalf("admin create exited %d: %s", code, stderr)
	}
	token := s.login(email, testPassword)
	s.rememberSecret(email, s.enableMFAWith(token, enrollmentCodeIn(s.t, stdout)))
	return token
}

// enrollmentCodeIn returns the enrolment code that `bulwark admin create` printed.
func enrollmentCodeIn(t testing.TB, stdout string) string {
	t.Helper()
	for _, line := range strings.Split(stdout, "\n") {
		if _, c, ok := strings.Cut(line, "): "); ok && strings.HasPrefix(line, "enrollment code") && strings.HasPrefix(c, "bwe_") {
			return c
		}
	}
	t.Fatalf("no enrollment code in the output of admin create:\n%s", stdout)
	return ""
}

func (s *server) rememberSecret(email, secret string) {
	if s.secrets == nil {
		s.secrets = map[string]string{}
	}
	s.secrets[email] = secret
}

// now is the server's clock: the test's settable one, or the real one for a
// server in a process of its own.
func (s *server) now() time.Time {
	if s.Clock != nil {
		return s.Clock.Now()
	}
	return time.Now()
}

// loginWithMFA logs in an account that has TOTP on, with the code of the next
// time step (inside the accepted skew): the current step's code may have been
// used to confirm enrolment, and each code works once.
func (s *server) loginWithMFA(email, secret string) string {
	s.t.Helper()
	code, err := totp.GenerateCode(secret, s.now().Add(30*time.Second))
	if err != nil {
		s.t.Fatal(err)
	}
	var out struct{ Token string }
	s.must(200, req{method: "POST", path: "/api/v1/auth/login",
		body: map[string]string{"email": email, "password": testPassword, "otp": code}}).JSON(s.t, &out)
	return out.Token
}

// enableMFA turns TOTP on for the token's account and returns the secret. A
// staff account's first second factor needs its enrolment code: enableMFAWith.
func (s *server) enableMFA(token string) string {
	s.t.Helper()
	return s.enableMFAWith(token, "")
}

// enableMFAWith turns TOTP on, giving enrollmentCode when it is not "", and
// returns the secret.
func (s *server) enableMFAWith(token, enrollmentCode string) string {
	s.t.Helper()
	var e struct{ Secret string }
	var body any
	if enrollmentCode != "" {
		body = map[string]string{"enrollment_code": enrollmentCode}
	}
	s.must(201, req{method: "POST", path: "/api/v1/me/mfa/totp", token: token, body: body}).JSON(s.t, &e)
	code, err := totp.GenerateCode(e.Secret, s.now())
	if err != nil {
		s.t.Fatal(err)
	}
	s.must(200, req{method: "POST", path: "/api/v1/me/mfa/totp/confirm", token: token, body: map[string]string{"otp": code}})
	return e.Secret
}

// staff creates an account holding role, turns its TOTP on with the one-time
// enrolment code the admin was shown, and returns its token.
func (s *server) staff(adminToken, email, role string) string {
	s.t.Helper()
	u := s.register(email)
	code := s.grantRoles(adminToken, u.ID, role)
	token := s.login(email, testPassword)
	s.rememberSecret(email, s.enableMFAWith(token, code))
	return token
}

// grantRoles sets the account's roles and returns the enrolment code the
// answer carries ("" when the account needs none).
func (s *server) grantRoles(adminToken, userID string, roles ...string) string {
	s.t.Helper()
	if roles == nil {
		roles = []string{}
	}
	var out struct {
		EnrollmentCode string `json:"enrollment_code"`
	}
	s.must(200, req{method: "POST", path: "/api/v1/admin/users/" + userID + "/roles", token: adminToken,
		body: map[string][]string{"roles": roles}}).JSON(s.t, &out)
	return out.EnrollmentCode
}

type product struct {
	ID          string `json:"id"`
	SKU         string `json:"sku"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Price       struct {
		Amount   int64  `json:"amount"`
		Currency string `json:"currency"`
	} `json:"price"`
	Stock  int64 `json:"stock"`
	Active bool  `json:"active"`
}

func (s *server) createProduct(token, sku string, stock int64) product {
	s.t.Helper()
	var p product
	s.must(201, req{method: "POST", path: "/api/v1/admin/products", token: token, body: map[string]any{
		"sku": sku, "name": "Product " + sku, "description": "A fine thing.",
		"price": map[string]any{"amount": 1999, "currency": "EUR"}, "stock": stock,
	}}).JSON(s.t, &p)
	return p
}

// runCLI runs a bulwark command in-process against cfg's database.
func runCLI(t testing.TB, cfg config.Config, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := cliEnv(cfg)
	code = app.Main(context.Background(), args, app.Env{
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return env[k] }, PasswordHashForTests: cfg.PasswordHashForTests,
	})
	return code, out.String(), errb.String()
}

// cliEnv is cfg as the environment a command reads: the shop's or the vault's settings.
func cliEnv(cfg config.Config) map[string]string {
	return map[string]string{
		"BULWARK_DATA_DIR":           cfg.DataDir,
		"BULWARK_DATABASE_URL":       cfg.DatabaseURL,
		"BULWARK_VAULT_DATABASE_URL": cfg.VaultDatabaseURL,
		"BULWARK_VAULT_URL":          cfg.VaultURL,
		"BULWARK_VAULT_CLIENT_CERT":  cfg.VaultClientCert,
		"BULWARK_VAULT_CLIENT_KEY":   cfg.VaultClientKey,
		"BULWARK_VAULT_CA":           cfg.VaultCA,
		"BULWARK_VAULT_TLS_CERT":     cfg.VaultTLSCert,
		"BULWARK_VAULT_TLS_KEY":      cfg.VaultTLSKey,
		"BULWARK_VAULT_CLIENT_CA":    cfg.VaultClientCA,
	}
}
