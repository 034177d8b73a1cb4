package vaultapi_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/keys"
	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/vault"
	"github.com/bulwark-shop/bulwark/internal/vaultapi"
)

const number = "4242424242424242"

// lockedBuffer collects the server's log.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// counting counts the calls that reach the vault.
type counting struct {
	vaultapi.Cards
	calls atomic.Int32
}

func (c *counting) Tokenize(ctx context.Context, card vault.Card) (vault.Token, error) {
	c.calls.Add(1)
	return c.Cards.Tokenize(ctx, card)
}

// trail records what the shop side audits.
type trail struct {
	mu      sync.Mutex
	records []string
}

func (t *trail) Record(_ context.Context, action, target, outcome, detail string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.records = append(t.records, action+" "+target+" "+detail)
	return nil
}

type testVault struct {
	URL   string
	Certs string // the directory of the CA, server and client certificates
	Log   *lockedBuffer
	Cards *counting
}

// mustCerts writes a fresh CA with server and client certificates.
func mustCerts(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "certs")
	if err := vaultapi.WriteCerts(dir, []string{"127.0.0.1", "localhost"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startVault serves a real vault (SQLite, its own keyring) over mutual TLS on a
// loopback port.
func startVault(t *testing.T) *testVault {
	t.Helper()
	dir := t.TempDir()
	certs := mustCerts(t)
	ctx := context.Background()
	db, err := store.OpenVault(ctx, store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ring, err := keys.OpenKeyring(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	aead, err := ring.AEAD("vault")
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cards := &counting{Cards: vault.New(db, aead, vaultapi.LogAuditor{Log: log}, time.Now)}
	tlsConfig, err := vaultapi.TLSConfig(filepath.Join(certs, vaultapi.ServerCertFile), filepath.Join(certs, vaultapi.ServerKeyFile), filepath.Join(certs, vaultapi.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: vaultapi.NewHandler(cards, log), TLSConfig: tlsConfig, ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go srv.ServeTLS(l, "", "")
	t.Cleanup(func() { srv.Close() })
	return &testVault{URL: "https://" + l.Addr().String(), Certs: certs, Log: logs, Cards: cards}
}

func (v *testVault) client(t *testing.T, audit vault.Auditor) *vaultapi.Client {
	t.Helper()
	tlsConfig, err := vaultapi.ClientTLSConfig(filepath.Join(v.Certs, vaultapi.ClientCertFile), filepath.Join(v.Certs, vaultapi.ClientKeyFile), filepath.Join(v.Certs, vaultapi.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	c, err := vaultapi.NewClient(v.URL, tlsConfig, audit, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestClientAndServer(t *testing.T) {
	v := startVault(t)
	tr := &trail{}
	c := v.client(t, tr)
	ctx := context.Background()

	tok, err := c.Tokenize(ctx, vault.Card{Number: "4242 4242 4242 4242", ExpMonth: 12, ExpYear: 2031, Holder: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Brand != vault.Visa || tok.Last4 != "4242" || tok.ExpMonth != 12 || tok.ExpYear != 2031 {
		t.Fatalf("token = %+v", tok)
	}

	t.Run("detokenize returns the card, audited by the shop and the vault", func(t *testing.T) {
		card, err := c.Detokenize(ctx, tok.ID, "authorize ord_test")
		if err != nil || card.Number != number || card.Holder != "Ada" {
			t.Fatalf("Detokenize = %+v, %v", card, err)
		}
		if len(tr.records) != 1 || tr.records[0] != vault.ActionDetokenize+" "+tok.ID+" authorize ord_test" {
			t.Fatalf("shop audit = %v", tr.records)
		}
		if !strings.Contains(v.Log.String(), `"action":"vault.detokenize","target":"`+tok.ID+`"`) || !strings.Contains(v.Log.String(), "CN=bulwark-shop") {
			t.Fatalf("the vault's log has no audit line naming the token and the client:\n%s", v.Log.String())
		}
	})

	t.Run("an invalid card is a validation error naming the field, not the number", func(t *testing.T) {
		_, err := c.Tokenize(ctx, vault.Card{Number: "4242424242424241", ExpMonth: 12, ExpYear: 2031, Holder: "Ada"})
		var e *apperr.Error
		if !errors.As(err, &e) || e.Code != apperr.CodeValidation || len(e.Fields) != 1 || e.Fields[0].Field != "number" {
			t.Fatalf("Tokenize = %v", err)
		}
		if strings.Contains(err.Error(), "4242424242424241") {
			t.Fatalf("the error repeats the number: %v", err)
		}
	})

	t.Run("unknown and malformed tokens are not found", func(t *testing.T) {
		for _, token := range []string{"tok_aaaaaaaaaaaaaaaaaaaaaaaaaa", "nope"} {
			if _, err := c.Detokenize(ctx, token, "test"); !errors.Is(err, vault.ErrNotFound) {
				t.Fatalf("Detokenize(%s) = %v", token, err)
			}
		}
	})

	t.Run("delete destroys the card, and again is no error", func(t *testing.T) {
		if err := c.Delete(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		if err := c.Delete(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Detokenize(ctx, tok.ID, "test"); !errors.Is(err, vault.ErrNotFound) {
			t.Fatalf("Detokenize after delete = %v", err)
		}
	})

	t.Run("no card number in the vault's log", func(t *testing.T) {
		if strings.Contains(v.Log.String(), number) || strings.Contains(v.Log.String(), "4242424242424241") {
			t.Fatalf("the log holds a card number:\n%s", v.Log.String())
		}
	})
}

// TestVaultRefusesClientsWithoutTheRightCertificate tries the vault with every
// client that is not the shop's, and checks that none reaches the vault.
func TestVaultRefusesClientsWithoutTheRightCertificate(t *testing.T) {
	v := startVault(t)
	other := mustCerts(t) // another CA, with its own client certificate
	body := `{"number":"` + number + `","exp_month":12,"exp_year":2031,"holder":"Mallory"}`
	roots := func() *tls.Config {
		c, err := vaultapi.ClientTLSConfig(filepath.Join(v.Certs, vaultapi.ClientCertFile), filepath.Join(v.Certs, vaultapi.ClientKeyFile), filepath.Join(v.Certs, vaultapi.CAFile))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cert := func(dir, certFile, keyFile string) []tls.Certificate {
		c, err := tls.LoadX509KeyPair(filepath.Join(dir, certFile), filepath.Join(dir, keyFile))
		if err != nil {
			t.Fatal(err)
		}
		return []tls.Certificate{c}
	}
	for _, tc := range []struct {
		name string
		url  string
		tls  func() *tls.Config
	}{
		{"no client certificate", v.URL, func() *tls.Config { c := roots(); c.Certificates = nil; return c }},
		{"a client certificate from another CA", v.URL, func() *tls.Config {
			c := roots()
			c.Certificates = cert(other, vaultapi.ClientCertFile, vaultapi.ClientKeyFile)
			return c
		}},
		{"the server's certificate, which is not for clients", v.URL, func() *tls.Config {
			c := roots()
			c.Certificates = cert(v.Certs, vaultapi.ServerCertFile, vaultapi.ServerKeyFile)
			return c
		}},
		{"TLS 1.2", v.URL, func() *tls.Config {
			c := roots()
			c.MinVersion, c.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
			return c
		}},
		{"plain HTTP", strings.Replace(v.URL, "https://", "http://", 1), func() *tls.Config { return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc.tls()}}
			defer client.CloseIdleConnections()
			res, err := client.Post(tc.url+vaultapi.PathTokenize, "application/json", strings.NewReader(body))
			if err == nil {
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode < 400 || bytes.Contains(b, []byte(number)) {
					t.Fatalf("answered %d: %s", res.StatusCode, b)
				}
			}
			if n := v.Cards.calls.Load(); n != 0 {
				t.Fatalf("%d requests reached the vault", n)
			}
		})
	}
	t.Run("the shop's certificate gets in", func(t *testing.T) {
		if _, err := v.client(t, &trail{}).Tokenize(context.Background(), vault.Card{Number: number, ExpMonth: 12, ExpYear: 2031, Holder: "Shop"}); err != nil {
			t.Fatalf("the right client was refused: %v", err)
		}
	})
}

// TestStrictRequests sends the right client's malformed requests.
func TestStrictRequests(t *testing.T) {
	v := startVault(t)
	tlsConfig, err := vaultapi.ClientTLSConfig(filepath.Join(v.Certs, vaultapi.ClientCertFile), filepath.Join(v.Certs, vaultapi.ClientKeyFile), filepath.Join(v.Certs, vaultapi.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	defer client.CloseIdleConnections()
	card := `"number":"` + number + `","exp_month":12,"exp_year":2031,"holder":"A"`
	for _, tc := range []struct {
		name, method, path, contentType, body string
		want                                  int
	}{
		{"an unknown field", "POST", vaultapi.PathTokenize, "application/json", `{` + card + `,"cvc":"123"}`, 400},
		{"a duplicate key", "POST", vaultapi.PathTokenize, "application/json", `{` + card + `,"number":"4000000000000002"}`, 400},
		{"trailing data", "POST", vaultapi.PathTokenize, "application/json", `{` + card + `} {}`, 400},
		{"a wrong type", "POST", vaultapi.PathTokenize, "application/json", `{"number":4242424242424242,"exp_month":12,"exp_year":2031,"holder":"A"}`, 400},
		{"an oversized body", "POST", vaultapi.PathTokenize, "application/json", `{` + card + `,"x":"` + strings.Repeat("a", vaultapi.MaxRequestBytes) + `"}`, 413},
		{"not JSON", "POST", vaultapi.PathTokenize, "text/plain", `{` + card + `}`, 415},
		{"a GET", "GET", vaultapi.PathTokenize, "", "", 405},
		{"a listing", "GET", "/v1/cards", "", "", 404},
		{"a purpose with a newline", "POST", vaultapi.PathDetokenize, "application/json", `{"token":"tok_aaaaaaaaaaaaaaaaaaaaaaaaaa","purpose":"a\nb"}`, 422},
		{"no purpose", "POST", vaultapi.PathDetokenize, "application/json", `{"token":"tok_aaaaaaaaaaaaaaaaaaaaaaaaaa"}`, 422},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, v.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.want || bytes.Contains(b, []byte(number)) {
				t.Fatalf("= %d %s, want %d", res.StatusCode, b, tc.want)
			}
		})
	}
	if n := v.Cards.calls.Load(); n != 0 {
		t.Fatalf("%d malformed requests reached the vault", n)
	}
	if strings.Contains(v.Log.String(), number) {
		t.Fatalf("the log holds the card number:\n%s", v.Log.String())
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"number":"4242424242424242","exp_month":12,"exp_year":2031,"holder":"A"}`))
	f.Add([]byte(`{"token":"tok_x","purpose":"p","token":"tok_y"}`))
	f.Add([]byte(`{"number":"4242424242424242"} x`))
	f.Add([]byte(`[{"number":"4242424242424242"}]`))
	f.Add([]byte("{\"holder\":\"\xff\"}"))
	f.Fuzz(func(t *testing.T, body []byte) {
		var r vaultapi.TokenizeRequest
		err := vaultapi.Decode(body, &r)
		if err != nil {
			var e *apperr.Error
			if !errors.As(err, &e) || e.Code != apperr.CodeInvalidJSON {
				t.Fatalf("Decode error %v is not invalid_json", err)
			}
			if len(body) >= 8 && strings.Contains(e.Message, string(body)) {
				t.Fatalf("the error repeats the input: %v", err)
			}
			if len(r.Number) >= 4 && strings.Contains(e.Message, r.Number) {
				t.Fatalf("the error repeats the number: %v", err)
			}
		}
	})
}

// TestUnixSocketChecksThePeer serves the vault on a Unix socket, first for
// this test's own user id, then for another, whose connections never reach it.
func TestUnixSocketChecksThePeer(t *testing.T) {
	for _, tc := range []struct {
		name  string
		uid   int
		allow bool
	}{{"the allowed user gets in", os.Getuid(), true}, {"another user is refused", os.Getuid() + 1, false}} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "vault.sock")
			logs := &lockedBuffer{}
			log := slog.New(slog.NewJSONHandler(logs, nil))
			l, err := vaultapi.ListenUnix(path, tc.uid, log)
			if err != nil {
				t.Fatal(err)
			}
			if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o660 {
				t.Fatalf("socket: %v, want mode 0660", err)
			}
			dir := t.TempDir()
			db, err := store.OpenVault(context.Background(), store.Options{DataDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			ring, err := keys.OpenKeyring(dir, "")
			if err != nil {
				t.Fatal(err)
			}
			aead, err := ring.AEAD("vault")
			if err != nil {
				t.Fatal(err)
			}
			cards := &counting{Cards: vault.New(db, aead, vaultapi.LogAuditor{Log: log}, time.Now)}
			srv := &http.Server{Handler: vaultapi.NewHandler(cards, log), ReadHeaderTimeout: 5 * time.Second}
			go srv.Serve(l)
			defer srv.Close()
			c, err := vaultapi.NewClient("unix://"+path, nil, &trail{}, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, err = c.Tokenize(context.Background(), vault.Card{Number: number, ExpMonth: 12, ExpYear: 2031, Holder: "A"})
			if tc.allow && err != nil {
				t.Fatalf("the allowed user was refused: %v", err)
			}
			if !tc.allow {
				if err == nil || cards.calls.Load() != 0 {
					t.Fatalf("another user got in: %v, %d calls", err, cards.calls.Load())
				}
				if !strings.Contains(logs.String(), "vault refused a connection on its socket") {
					t.Fatalf("no log of the refusal:\n%s", logs.String())
				}
			}
		})
	}
}
