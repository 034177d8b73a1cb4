package app_test

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// TestSecretsStayOut starts a real server process with secrets in every form
// it takes them (environment, *_FILE) and searches its arguments, its log,
// its metrics and its answers, including error paths that touch the secrets'
// services, for any of them.
func TestSecretsStayOut(t *testing.T) {
	dbs := testenv.Databases(t)
	db := dbs[len(dbs)-1]
	cfg := testConfig(db)
	secrets := []string{"oidc-S3cret-client-value", "smtp-S3cret-mail-pass", "sk_test_S3cretStripeKey"}
	if db.DatabaseURL != "" {
		u, err := url.Parse(cfg.DatabaseURL)
		if err != nil {
			t.Fatal(err)
		}
		if pw, ok := u.User.Password(); ok && !strings.Contains(u.User.Username()+u.Host+u.Path, pw) {
			// The database asks for a password (CI's does): it is a secret to look for.
			secrets = append(secrets, pw)
		} else {
			// A database that trusts loopback accepts a password in the URL and
			// ignores it: one is put there to look for. (A password that is also
			// the user's or the database's name could not be told from them.)
			u.User = url.UserPassword(u.User.Username(), "pg-S3cret-db-pass")
			cfg.DatabaseURL = u.String()
			secrets = append(secrets, "pg-S3cret-db-pass")
		}
	}
	smtpFile := filepath.Join(t.TempDir(), "smtp-url")
	if err := os.WriteFile(smtpFile, []byte("smtp://shop:smtp-S3cret-mail-pass@127.0.0.1:1"), 0o600); err != nil {
		t.Fatal(err)
	}
	stripeFile := filepath.Join(t.TempDir(), "stripe-key")
	if err := os.WriteFile(stripeFile, []byte("sk_test_S3cretStripeKey\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProcessWithEnv(t, cfg, []string{
		"BULWARK_PAYMENT_GATEWAY=stripe", "BULWARK_STRIPE_SECRET_KEY_FILE=" + stripeFile, "BULWARK_STRIPE_API_BASE=http://127.0.0.1:1",
		"BULWARK_OIDC_ISSUER=http://127.0.0.1:1", "BULWARK_OIDC_CLIENT_ID=shop",
		"BULWARK_OIDC_CLIENT_SECRET=oidc-S3cret-client-value", "BULWARK_SMTP_URL_FILE=" + smtpFile,
	}, "--metrics-listen", "127.0.0.1:0", "--log-level", "debug")

	var seen bytes.Buffer
	record := func(r response) { seen.Write(r.Body); seen.WriteString(r.Header.Get("Set-Cookie")) }
	record(p.do(req{method: "GET", path: "/healthz"}))
	record(p.do(req{method: "GET", path: "/readyz"}))
	// The account is an operator's: with the mail server unreachable, a
	// customer's registration could not be verified.
	if code, _, stderr := runCLI(t, p.Config, testPassword+"\n", "admin", "create", "--email", "secret-holder@example.com", "--password-stdin"); code != 0 {
		t.Fatalf("admin create exited %d: %s", code, stderr)
	}
	// Error paths that reach the services behind the secrets: the provider and the
	// mail server are unreachable, so both fail and log.
	record(p.do(req{method: "GET", path: "/api/v1/auth/oidc/begin"}))
	record(p.do(req{method: "POST", path: "/api/v1/auth/password-reset", body: map[string]string{"email": "secret-holder@example.com"}}))
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Logs.String(), "password reset request failed") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(p.Logs.String(), "password reset request failed") {
		t.Fatalf("the mail error path did not run; the test proves nothing:\n%s", p.Logs.String())
	}
	metricsAddr, _ := p.metricsAddr.Load().(string)
	if metricsAddr == "" {
		t.Fatal("no metrics listener")
	}
	res, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	for place, content := range map[string]string{
		"the log": p.Logs.String(), "the answers": seen.String(), "/metrics": string(metrics), "the process's arguments": string(cmdline),
	} {
		for _, secret := range secrets {
			if strings.Contains(content, secret) {
				t.Errorf("%s holds the secret %q", place, secret)
			}
		}
	}
}
