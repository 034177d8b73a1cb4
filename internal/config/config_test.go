package config_test

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/config"
)

func load(t *testing.T, args []string, env map[string]string) (config.Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := config.Bind(fs)
	if err := fs.Parse(args); err != nil {
		return config.Config{}, err
	}
	return f.Load(func(k string) string { return env[k] })
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsAreSafe(t *testing.T) {
	c, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:8080" || c.MetricsListen != "127.0.0.1:9090" || c.DataDir != "./data" || c.DatabaseURL != "" || c.InsecureHTTP || c.MaxBodyBytes != 1<<20 {
		t.Fatalf("defaults = %+v", c)
	}
	if c != config.Defaults() {
		t.Fatal("Load with nothing set differs from Defaults")
	}
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, "bulwark.json", `{"listen": "127.0.0.1:1001", "currency": "USD", "max-body-bytes": 4096, "insecure-http": false}`)
	env := map[string]string{"BULWARK_CONFIG": file, "BULWARK_LISTEN": "127.0.0.1:1002"}
	c, err := load(t, []string{"--currency", "GBP"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:1002" {
		t.Errorf("environment should beat the file: listen = %s", c.Listen)
	}
	if c.Currency != "GBP" {
		t.Errorf("flag should beat the file: currency = %s", c.Currency)
	}
	if c.MaxBodyBytes != 4096 {
		t.Errorf("file should beat the default: max-body-bytes = %d", c.MaxBodyBytes)
	}
	c, err = load(t, []string{"--listen", "127.0.0.1:1003"}, env)
	if err != nil || c.Listen != "127.0.0.1:1003" {
		t.Errorf("flag should beat the environment: %s %v", c.Listen, err)
	}
}

func TestSecrets(t *testing.T) {
	t.Run("a password in a flag is refused", func(t *testing.T) {
		for _, u := range []string{"postgres://shop:pw@127.0.0.1/shop", "postgres://127.0.0.1/shop?password=pw"} {
			_, err := load(t, []string{"--database-url", u}, nil)
			if err == nil || strings.Contains(err.Error(), "pw@") {
				t.Fatalf("--database-url %s: err = %v", u, err)
			}
		}
		if _, err := load(t, []string{"--redis-url", "redis://:pw@127.0.0.1:6379"}, nil); err == nil {
			t.Fatal("--redis-url with a password accepted")
		}
		for _, f := range []string{"--oidc-client-secret", "--kek"} {
			if _, err := load(t, []string{f, "anything"}, nil); err == nil || strings.Contains(err.Error(), "anything") {
				t.Fatalf("%s as a flag: %v", f, err)
			}
		}
	})
	t.Run("a URL without credentials may be a flag", func(t *testing.T) {
		c, err := load(t, []string{"--database-url", "postgres://127.0.0.1/shop", "--vault-database-url", "postgres://127.0.0.1/vault"}, nil)
		if err != nil || c.DatabaseURL != "postgres://127.0.0.1/shop" {
			t.Fatalf("%+v %v", c, err)
		}
	})
	t.Run("from the environment and from files", func(t *testing.T) {
		vault := map[string]string{"BULWARK_VAULT_DATABASE_URL": "postgres://vault:pw@127.0.0.1/vault"}
		c, err := load(t, nil, map[string]string{"BULWARK_DATABASE_URL": "postgres://shop:pw@127.0.0.1/shop", "BULWARK_VAULT_DATABASE_URL": "postgres://vault:pw@127.0.0.1/vault"})
		if err != nil || c.DatabaseURL != "postgres://shop:pw@127.0.0.1/shop" {
			t.Fatalf("env: %v", err)
		}
		f := writeFile(t, "db", "postgres://shop:fromfile@127.0.0.1/shop\n")
		c, err = load(t, nil, map[string]string{"BULWARK_DATABASE_URL_FILE": f, "BULWARK_VAULT_DATABASE_URL_FILE": writeFile(t, "v", vault["BULWARK_VAULT_DATABASE_URL"])})
		if err != nil || c.DatabaseURL != "postgres://shop:fromfile@127.0.0.1/shop" {
			t.Fatalf("env file: %+v %v", c, err)
		}
		c, err = load(t, []string{"--redis-url-file", writeFile(t, "r", "redis://:pw@127.0.0.1:6379/0")}, nil)
		if err != nil || c.RedisURL != "redis://:pw@127.0.0.1:6379/0" {
			t.Fatalf("flag file: %+v %v", c, err)
		}
	})
}

func TestCurrencies(t *testing.T) {
	c, err := load(t, nil, nil)
	if err != nil || !slices.Equal(c.SoldCurrencies(), []string{"EUR"}) {
		t.Fatalf("default: %v %v", c.SoldCurrencies(), err)
	}
	c, err = load(t, []string{"--currencies", "USD, EUR"}, nil)
	if err != nil || !slices.Equal(c.SoldCurrencies(), []string{"USD", "EUR"}) || c.Currency != "USD" {
		t.Fatalf("USD, EUR: %v (default %s) %v", c.SoldCurrencies(), c.Currency, err)
	}
}

func TestRefusedSettings(t *testing.T) {
	cases := map[string]struct {
		args []string
		file string
	}{
		"plain HTTP on every interface":     {args: []string{"--listen", ":8080"}},
		"plain HTTP on a public address":    {args: []string{"--listen", "192.0.2.10:8080"}},
		"a certificate without a key":       {args: []string{"--tls-cert", "c.pem"}},
		"a bad currency":                    {args: []string{"--currency", "euro"}},
		"a tax mode that is neither":        {args: []string{"--tax-mode", "both"}},
		"a bad currency in currencies":      {args: []string{"--currencies", "EUR,usd"}},
		"a currency sold twice":             {args: []string{"--currencies", "EUR,USD,EUR"}},
		"an empty entry in currencies":      {args: []string{"--currencies", "EUR,"}},
		"a zero timeout":                    {args: []string{"--session-idle-timeout", "0s"}},
		"a tiny body limit":                 {args: []string{"--max-body-bytes", "10"}},
		"a bad log level":                   {args: []string{"--log-level", "loud"}},
		"a MySQL URL":                       {args: []string{"--database-url", "mysql://127.0.0.1/shop"}},
		"an unknown key in the file":        {file: `{"lisen": "127.0.0.1:1"}`},
		"a duplicate-free but nested file":  {file: `{"listen": {"host": "x"}}`},
		"not JSON":                          {file: `listen = 1`},
		"a plain-HTTP vault":                {args: []string{"--vault-url", "http://127.0.0.1:8443", "--vault-client-cert", "c", "--vault-client-key", "k", "--vault-ca", "ca"}},
		"a vault URL with a path":           {args: []string{"--vault-url", "https://127.0.0.1:8443/x", "--vault-client-cert", "c", "--vault-client-key", "k", "--vault-ca", "ca"}},
		"a vault URL with credentials":      {args: []string{"--vault-url", "https://u:p@127.0.0.1:8443", "--vault-client-cert", "c", "--vault-client-key", "k", "--vault-ca", "ca"}},
		"a vault without a client cert":     {args: []string{"--vault-url", "https://127.0.0.1:8443", "--vault-ca", "ca"}},
		"a relative vault socket URL":       {args: []string{"--vault-url", "unix:vault.sock"}},
		"a vault URL and a vault database":  {args: []string{"--vault-url", "unix:///run/v.sock", "--vault-database-url", "postgres://127.0.0.1/vault"}},
		"a vault cert without a key":        {args: []string{"--vault-tls-cert", "c.pem"}},
		"a negative socket uid":             {args: []string{"--vault-socket", "/run/v.sock", "--vault-socket-uid", "-1"}},
		"a CORS origin with a path":         {args: []string{"--cors-origins", "https://shop.example.com/"}},
		"a CORS wildcard":                   {args: []string{"--cors-origins", "*"}},
		"a CORS origin null":                {args: []string{"--cors-origins", "null"}},
		"an http security contact":          {args: []string{"--security-contact", "http://example.com/report"}},
		"a bad CIDR in ip-deny":             {args: []string{"--ip-deny", "10.0.0.0/33"}},
		"a host name in ip-allow":           {args: []string{"--ip-allow", "example.com"}},
		"a zero bot block":                  {args: []string{"--bot-block", "0s"}},
		"no room in flight":                 {args: []string{"--max-in-flight", "0"}},
		"a negative hash queue":             {args: []string{"--password-hash-queue", "-1"}},
		"hash workers that are not a count": {args: []string{"--password-hash-workers", "half"}},
		"a zero header timeout":             {args: []string{"--read-header-timeout", "0s"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{}
			if c.file != "" {
				env["BULWARK_CONFIG"] = writeFile(t, "c.json", c.file)
			}
			if _, err := load(t, c.args, env); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	t.Run("a vault process instead of a vault database, with PostgreSQL", func(t *testing.T) {
		c, err := load(t, []string{"--vault-url", "https://vault.internal:8443", "--vault-client-cert", "c", "--vault-client-key", "k", "--vault-ca", "ca"},
			map[string]string{"BULWARK_DATABASE_URL": "postgres://127.0.0.1/shop"})
		if err != nil || c.VaultURL != "https://vault.internal:8443" || c.VaultTimeout != 10*time.Second {
			t.Fatalf("%+v %v", c, err)
		}
		if c, err := load(t, []string{"--vault-url", "unix:///run/v.sock"}, nil); err != nil || c.VaultSocketUID != -1 {
			t.Fatalf("a socket vault: %v", err)
		}
	})
	t.Run("plain HTTP beyond loopback when asked for by name", func(t *testing.T) {
		if _, err := load(t, []string{"--listen", "0.0.0.0:8080", "--insecure-http"}, nil); err != nil {
			t.Fatal(err)
		}
	})
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:80": true, "[::1]:80": true, "localhost:80": true, "127.9.9.9:1": true,
		":80": false, "0.0.0.0:80": false, "[::]:80": false, "10.0.0.1:80": false, "example.com:80": false,
	} {
		if got := config.IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v", addr, got)
		}
	}
}

func FuzzParseFile(f *testing.F) {
	f.Add([]byte(`{"listen": "127.0.0.1:1"}`))
	f.Add([]byte(`{"max-body-bytes": 1e400}`))
	f.Add([]byte(`{"insecure-http": true, "currency": "EUR"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := config.ParseFile(b)
		if err != nil {
			return
		}
		for k := range m {
			if k == "config" {
				t.Fatal("the config file named another config file")
			}
		}
	})
}

func TestKEKSettings(t *testing.T) {
	module := []string{"--kek-pkcs11-module", "/usr/lib/softhsm/libsofthsm2.so", "--kek-pkcs11-token", "shop"}
	t.Run("an HSM from flags with the PIN from the environment or a file", func(t *testing.T) {
		c, err := load(t, module, map[string]string{"BULWARK_KEK_PKCS11_PIN": "1234"})
		if err != nil || c.KEKPKCS11Module == "" || c.KEKPKCS11Token != "shop" || c.KEKPKCS11PIN != "1234" || c.KEKPKCS11Key != "bulwark-kek" {
			t.Fatalf("%+v %v", c, err)
		}
		c, err = load(t, append(module, "--kek-pkcs11-pin-file", writeFile(t, "pin", "5678\n")), nil)
		if err != nil || c.KEKPKCS11PIN != "5678" {
			t.Fatalf("pin file: %v", err)
		}
		c, err = load(t, nil, map[string]string{"BULWARK_KEK_PKCS11_MODULE": "/m.so", "BULWARK_KEK_PKCS11_TOKEN": "t",
			"BULWARK_KEK_PKCS11_PIN": "1", "BULWARK_KEK_PKCS11_KEY": "k"})
		if err != nil || c.KEKPKCS11Module != "/m.so" || c.KEKPKCS11Key != "k" {
			t.Fatalf("environment: %+v %v", c, err)
		}
	})
	for name, c := range map[string]struct {
		args []string
		env  map[string]string
	}{
		"the PIN as a flag":              {args: append(module, "--kek-pkcs11-pin", "4321")},
		"the new KEK as a flag":          {args: []string{"--new-kek", "4321"}},
		"an HSM and a secret KEK":        {args: module, env: map[string]string{"BULWARK_KEK_PKCS11_PIN": "4321", "BULWARK_KEK": "{}"}},
		"an HSM without a PIN":           {args: module},
		"an HSM without a token":         {args: []string{"--kek-pkcs11-module", "/m.so"}, env: map[string]string{"BULWARK_KEK_PKCS11_PIN": "4321"}},
		"a PIN without an HSM":           {env: map[string]string{"BULWARK_KEK_PKCS11_PIN": "4321"}},
		"a new KEK without a secret KEK": {env: map[string]string{"BULWARK_NEW_KEK": "{}"}},
	} {
		t.Run(name+" is refused", func(t *testing.T) {
			_, err := load(t, c.args, c.env)
			if err == nil || strings.Contains(err.Error(), "4321") {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// TestEffectiveSettings: the settings recorded at each start hide every
// secret's value, and Diff names exactly the settings that changed.
func TestEffectiveSettings(t *testing.T) {
	env := map[string]string{"BULWARK_STRIPE_SECRET_KEY": "sk_test_secretvalue123", "BULWARK_PAYMENT_GATEWAY": "stripe",
		"BULWARK_STRIPE_WEBHOOK_SECRET": "whsec_secretvalue456", "BULWARK_DATABASE_URL": "postgres://u:hunter2@db.example/shop",
		"BULWARK_VAULT_DATABASE_URL": "postgres://v:hunter2@db.example/vault"}
	c, err := load(t, nil, env)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"secretvalue123", "secretvalue456", "hunter2"} {
		if strings.Contains(c.Effective, secret) {
			t.Fatalf("a secret in the effective settings: %s", c.Effective)
		}
	}
	if !strings.Contains(c.Effective, "stripe-secret-key=(set)\n") || !strings.Contains(c.Effective, "payment-gateway=stripe\n") {
		t.Fatalf("effective settings: %s", c.Effective)
	}
	env["BULWARK_WAF_PARANOIA"] = "2"
	env["BULWARK_STRIPE_SECRET_KEY"] = "sk_test_othervalue789"
	d, err := load(t, nil, env)
	if err != nil {
		t.Fatal(err)
	}
	if got := config.Diff(c.Effective, d.Effective); got != "waf-paranoia: 1 -> 2" {
		t.Fatalf("diff: %q", got)
	}
	if got := config.Diff("a=1\nb=\n", "b=x\nc=3\n"); got != `b: "" -> x; c: (absent) -> 3; a: 1 -> (absent)` {
		t.Fatalf("diff of listings: %q", got)
	}
}

func TestDrift(t *testing.T) {
	cfg, err := load(t, nil, map[string]string{"BULWARK_WAF": "detect", "BULWARK_REDIS_URL": "redis://127.0.0.1:6379/0"})
	if err != nil {
		t.Fatal(err)
	}
	base, err := config.ParseFile([]byte(`{"waf": "block", "rate-limits": "on", "redis-url": "", "listen": "127.0.0.1:8080"}`))
	if err != nil {
		t.Fatal(err)
	}
	got := config.Drift(cfg.Effective, base)
	want := []string{`redis-url: baseline "(not set)", running "(set)"`, `waf: baseline "block", running "detect"`}
	if !slices.Equal(got, want) {
		t.Fatalf("drift %q, want %q", got, want)
	}
	for _, d := range got {
		if strings.Contains(d, "6379") {
			t.Fatalf("a secret's value in the drift: %s", d)
		}
	}
}
