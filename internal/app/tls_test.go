package app_test

import (
	"bufio"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/app"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/logging"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// testCert is a self-signed certificate for 127.0.0.1 written as PEM files.
type testCert struct {
	CertFile, KeyFile string
	Cert              *x509.Certificate
}

// writeCert writes a self-signed certificate for 127.0.0.1 (and dnsNames)
// with key and serial to dir/cert.pem and dir/key.pem, replacing what is there.
func writeCert(t *testing.T, dir string, key crypto.Signer, serial int64, dnsNames ...string) testCert {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: dnsNames,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c := testCert{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem"), Cert: cert}
	writeFile(t, c.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	writeFile(t, c.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	return c
}

// writeFile replaces path's content in one step (a rename), as a certificate
// renewal tool does.
func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func ecKey(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// writeSelfSigned writes a fresh ECDSA certificate for 127.0.0.1 into dir.
func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	c := writeCert(t, dir, ecKey(t), 1)
	return c.CertFile, c.KeyFile
}

func poolOf(certs ...*x509.Certificate) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool
}

// handshake connects to addr with cfg and returns the connection state, or the
// handshake's error.
func handshake(addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: cfg}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState(), nil
}

// tlsAddr is the host:port of s's API listener.
func tlsAddr(s *server) string { return strings.TrimPrefix(s.URL, "http://") }

// TestTLSVersionsAndSuites: TLS 1.3 only by default; TLS 1.2 only when named,
// and then only forward-secret AEAD suites. HTTP/2 is negotiated by ALPN and
// HSTS is sent on a real TLS connection.
func TestTLSVersionsAndSuites(t *testing.T) {
	testenv.ForEachDatabase(t, testTLSVersionsAndSuites)
}

func testTLSVersionsAndSuites(t *testing.T, db testenv.Database) {
	t.Run("default is TLS 1.3 only, with HTTP/2 and HSTS", func(t *testing.T) {
		c := writeCert(t, t.TempDir(), ecKey(t), 1)
		s := startServer(t, db, func(cfg *config.Config) { cfg.TLSCert, cfg.TLSKey = c.CertFile, c.KeyFile })
		roots := poolOf(c.Cert)
		st, err := handshake(tlsAddr(s), &tls.Config{RootCAs: roots, NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Fatalf("TLS 1.3 client: %v", err)
		}
		if st.Version != tls.VersionTLS13 || st.NegotiatedProtocol != "h2" {
			t.Fatalf("negotiated %s with ALPN %q, want TLS 1.3 and h2", tls.VersionName(st.Version), st.NegotiatedProtocol)
		}
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS11, tls.VersionTLS10} {
			if _, err := handshake(tlsAddr(s), &tls.Config{RootCAs: roots, MinVersion: v, MaxVersion: v}); err == nil {
				t.Errorf("a %s client connected", tls.VersionName(v))
			}
		}
		// An ordinary HTTPS client speaks HTTP/2 and gets HSTS.
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
		res, err := client.Get("https://" + tlsAddr(s) + "/api/v1/products")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 || res.ProtoMajor != 2 {
			t.Errorf("GET over TLS = %d %s, want 200 over HTTP/2", res.StatusCode, res.Proto)
		}
		if got := res.Header.Get("Strict-Transport-Security"); got != "max-age=31536000; includeSubDomains" {
			t.Errorf("HSTS = %q", got)
		}
	})
	t.Run("TLS 1.2 by name: AEAD suites with ECDHE only", func(t *testing.T) {
		// An RSA certificate, so that RSA key exchange and ECDHE-RSA CBC
		// suites would be possible if the server allowed them.
		rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		c := writeCert(t, t.TempDir(), rsaKey, 1)
		s := startServer(t, db, func(cfg *config.Config) {
			cfg.TLSCert, cfg.TLSKey, cfg.TLSMinVersion = c.CertFile, c.KeyFile, "1.2"
		})
		tls12 := func(suites ...uint16) *tls.Config {
			return &tls.Config{RootCAs: poolOf(c.Cert), MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, CipherSuites: suites}
		}
		for _, suite := range []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256} {
			st, err := handshake(tlsAddr(s), tls12(suite))
			if err != nil {
				t.Errorf("AEAD suite %s refused: %v", tls.CipherSuiteName(suite), err)
			} else if st.Version != tls.VersionTLS12 || st.CipherSuite != suite {
				t.Errorf("negotiated %s %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
			}
		}
		for _, suite := range []uint16{
			tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
			tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_RSA_WITH_AES_128_CBC_SHA,
			tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA,
		} {
			if st, err := handshake(tlsAddr(s), tls12(suite)); err == nil {
				t.Errorf("suite %s accepted (%s)", tls.CipherSuiteName(suite), tls.CipherSuiteName(st.CipherSuite))
			}
		}
		if _, err := handshake(tlsAddr(s), &tls.Config{RootCAs: poolOf(c.Cert), MaxVersion: tls.VersionTLS11}); err == nil {
			t.Error("a TLS 1.1 client connected")
		}
		st, err := handshake(tlsAddr(s), &tls.Config{RootCAs: poolOf(c.Cert), NextProtos: []string{"h2"}})
		if err != nil || st.Version != tls.VersionTLS13 || st.NegotiatedProtocol != "h2" {
			t.Errorf("a modern client got %s %q: %v", tls.VersionName(st.Version), st.NegotiatedProtocol, err)
		}
	})
}

// TestTLSCertificateHotReload replaces the certificate files under a running
// server: the next handshake (after the once-a-second check) presents the new
// certificate; a broken replacement is logged and the old one stays.
func TestTLSCertificateHotReload(t *testing.T) {
	dir := t.TempDir()
	first := writeCert(t, dir, ecKey(t), 1)
	s := startServer(t, testenv.Databases(t)[0], func(cfg *config.Config) { cfg.TLSCert, cfg.TLSKey = first.CertFile, first.KeyFile })
	serial := func(want *x509.Certificate) string {
		t.Helper()
		st, err := handshake(tlsAddr(s), &tls.Config{RootCAs: poolOf(want)})
		if err != nil {
			return "handshake: " + err.Error()
		}
		return st.PeerCertificates[0].SerialNumber.String()
	}
	if got := serial(first.Cert); got != "1" {
		t.Fatalf("first certificate: %s", got)
	}
	second := writeCert(t, dir, ecKey(t), 2)
	waitFor(t, "the new certificate to be served", func() bool { return serial(second.Cert) == "2" })

	t.Run("a key that does not match keeps the old pair", func(t *testing.T) {
		other := writeCert(t, t.TempDir(), ecKey(t), 3)
		key, err := os.ReadFile(other.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, second.KeyFile, key) // certificate 2 with the key of certificate 3
		// The files are looked at during handshakes, at most once a second.
		waitFor(t, "the broken pair to be noticed", func() bool {
			serial(second.Cert)
			return strings.Contains(s.Logs.String(), "new TLS certificate files do not load")
		})
		if got := serial(second.Cert); got != "2" {
			t.Fatalf("after a broken replacement the server presents %s, want 2", got)
		}
	})
	t.Run("a half-written certificate keeps the old pair", func(t *testing.T) {
		before := strings.Count(s.Logs.String(), "new TLS certificate files do not load")
		writeFile(t, second.CertFile, []byte("-----BEGIN CERTIFICATE-----\nMIIB"))
		waitFor(t, "the broken file to be noticed", func() bool {
			serial(second.Cert)
			return strings.Count(s.Logs.String(), "new TLS certificate files do not load") > before
		})
		if got := serial(second.Cert); got != "2" {
			t.Fatalf("after a truncated certificate the server presents %s, want 2", got)
		}
	})
	t.Run("a good pair after a broken one is taken", func(t *testing.T) {
		third := writeCert(t, dir, ecKey(t), 4)
		waitFor(t, "the repaired pair to be served", func() bool { return serial(third.Cert) == "4" })
	})
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestHTTPSRedirectListener: the optional plain-HTTP listener sends page
// requests to the configured https origin (never to the Host header's) and
// refuses API requests with 403 https_required instead of redirecting them.
func TestHTTPSRedirectListener(t *testing.T) {
	testenv.ForEachDatabase(t, testHTTPSRedirectListener)
}

func testHTTPSRedirectListener(t *testing.T, db testenv.Database) {
	c := writeCert(t, t.TempDir(), ecKey(t), 1)
	s := startServer(t, db, func(cfg *config.Config) {
		cfg.TLSCert, cfg.TLSKey = c.CertFile, c.KeyFile
		cfg.HTTPRedirectListen = "127.0.0.1:0"
		cfg.PublicURL = "https://shop.example.com"
	})
	if s.RedirectURL == "" {
		t.Fatal("no redirect listener")
	}
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(method, path string, body io.Reader, header map[string]string) *http.Response {
		t.Helper()
		r, err := http.NewRequest(method, s.RedirectURL+path, body)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			r.Header.Set(k, v)
		}
		if h := header["Host"]; h != "" {
			r.Host = h
		}
		res, err := client.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	for _, tc := range []struct {
		name, method, path, host, location string
	}{
		{"page", "GET", "/products/red-shoes?size=42", "", "https://shop.example.com/products/red-shoes?size=42"},
		{"HEAD of the root", "HEAD", "/", "", "https://shop.example.com/"},
		{"a hostile Host header is ignored", "GET", "/account", "evil.example", "https://shop.example.com/account"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := send(tc.method, tc.path, nil, map[string]string{"Host": tc.host})
			if res.StatusCode != http.StatusPermanentRedirect || res.Header.Get("Location") != tc.location {
				t.Fatalf("= %d Location %q, want 308 %q", res.StatusCode, res.Header.Get("Location"), tc.location)
			}
		})
	}
	for _, tc := range []struct{ name, method, path string }{
		{"API read", "GET", "/api/v1/products"},
		{"API login with a password", "POST", "/api/v1/auth/login"},
		{"API root", "GET", "/api"},
		{"form post outside the API", "POST", "/checkout"},
	} {
		t.Run(tc.name+" is refused, not redirected", func(t *testing.T) {
			r, err := http.NewRequest(tc.method, s.RedirectURL+tc.path, strings.NewReader(`{"email":"a@example.com","password":"x"}`))
			if err != nil {
				t.Fatal(err)
			}
			res, err := client.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var p struct{ Code string }
			if err := json.NewDecoder(res.Body).Decode(&p); err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != 403 || p.Code != "https_required" || res.Header.Get("Location") != "" ||
				!strings.HasPrefix(res.Header.Get("Content-Type"), "application/problem+json") {
				t.Fatalf("= %d %s Location %q, want 403 https_required", res.StatusCode, p.Code, res.Header.Get("Location"))
			}
		})
	}
	// Targets a browser would not send, written raw: none may become a
	// redirect off the shop (an opaque target glued to the origin's host) or
	// an API request passed off as a page (a path the HTTPS side cleans).
	for _, target := range []string{"http:.evil.example", "http:@evil.example/x", "https:evil.example", "//evil.example/x",
		"//api/v1/auth/login", "/./api/v1/orders", "/x/../api/v1/orders"} {
		t.Run("raw target "+target+" is refused, not redirected", func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(s.RedirectURL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck // a failure shows as a read error
			if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: shop.example.com\r\nConnection: close\r\n\r\n", target); err != nil {
				t.Fatal(err)
			}
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if loc := res.Header.Get("Location"); res.StatusCode/100 == 3 || loc != "" {
				t.Fatalf("= %d Location %q: want a refusal", res.StatusCode, loc)
			}
		})
	}
	// Plain HTTP never reaches the API behind the listener.
	res := send("GET", "/healthz", nil, nil)
	if res.StatusCode != http.StatusPermanentRedirect {
		t.Errorf("GET /healthz over plain HTTP = %d, want a redirect", res.StatusCode)
	}
}

// TestTLSSettingsAreChecked starts nothing: inconsistent TLS settings are
// refused by app.New with the setting named.
func TestTLSSettingsAreChecked(t *testing.T) {
	dir := t.TempDir()
	c := writeCert(t, dir, ecKey(t), 1)
	other := writeCert(t, t.TempDir(), ecKey(t), 2)
	mismatched := filepath.Join(dir, "other-key.pem")
	if b, err := os.ReadFile(other.KeyFile); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(mismatched, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(testenv.Database{Engine: "sqlite", DataDir: t.TempDir()})
	cfg.TLSCert, cfg.TLSKey = c.CertFile, mismatched
	if _, err := app.New(context.Background(), cfg, logging.New(io.Discard, 0), time.Now); err == nil || !strings.Contains(err.Error(), "tls") {
		t.Fatalf("a key that does not match its certificate: %v", err)
	}
	if entries, _ := os.ReadDir(cfg.DataDir); len(entries) != 0 {
		t.Errorf("a refused start wrote %d files to the data directory", len(entries))
	}
}

// startACMEShop starts a shop with ACME for name and a Pebble that validates
// its challenges on the shop's listeners.
func startACMEShop(t *testing.T, name string, http01 bool) (*server, *testenv.Pebble) {
	t.Helper()
	db := testenv.Database{Engine: "sqlite", DataDir: t.TempDir()}
	apiPort, redirectPort := testenv.FreePort(t), testenv.FreePort(t)
	tlsPort := apiPort
	if http01 {
		// Pebble tries tls-alpn-01 on a port where nothing listens, so only
		// the http-01 challenge on the redirect listener can succeed.
		tlsPort = testenv.FreePort(t)
	}
	p := testenv.StartPebble(t, tlsPort, redirectPort)
	s := startServer(t, db, func(cfg *config.Config) {
		cfg.Listen = "127.0.0.1:" + strconv.Itoa(apiPort)
		cfg.ACMEDomains = name
		cfg.ACMEDirectory = p.DirectoryURL
		cfg.ACMECAFile = p.CAFile
		cfg.ACMEEmail = "ops@example.com"
		cfg.HTTPRedirectListen = "127.0.0.1:" + strconv.Itoa(redirectPort)
	})
	return s, p
}

// TestACMEIssuanceFromPebble (on SQLite only: certificates live in files,
// not in the database, and TestTLSVersionsAndSuites covers both engines) obtains a real certificate from Pebble, the ACME
// test server, which validates the challenge against the running shop on
// loopback (its DNS resolver answers 127.0.0.1 for names in bulwark.test):
// tls-alpn-01 on the TLS listener, and http-01 on the plain-HTTP listener.
func TestACMEIssuanceFromPebble(t *testing.T) {
	for _, tc := range []struct {
		challenge string
		http01    bool
	}{{"tls-alpn-01", false}, {"http-01", true}} {
		t.Run(tc.challenge, func(t *testing.T) {
			name := "shop." + testenv.PebbleZone
			s, p := startACMEShop(t, name, tc.http01)
			roots := poolOf(p.Root(t))
			st, err := handshake(tlsAddr(s), &tls.Config{ServerName: name, RootCAs: roots, NextProtos: []string{"h2"}})
			if err != nil {
				t.Fatalf("handshake for %s: %v\nshop log:\n%s", name, err, s.Logs.String())
			}
			// Pebble really validated, with the challenge under test.
			log := p.Output()
			if !strings.Contains(log, "set VALID by completed challenge") || strings.Contains(log, "Skipping real validation") ||
				strings.Contains(log, "Attempting to validate w/ HTTP") != tc.http01 {
				t.Fatalf("Pebble did not validate with %s:\n%s", tc.challenge, log)
			}
			leaf := st.PeerCertificates[0]
			if len(st.VerifiedChains) == 0 || leaf.VerifyHostname(name) != nil || leaf.IsCA {
				t.Fatalf("served %v, not a certificate for %s chaining to Pebble's root", leaf.DNSNames, name)
			}
			if st.Version != tls.VersionTLS13 || st.NegotiatedProtocol != "h2" {
				t.Errorf("negotiated %s %q", tls.VersionName(st.Version), st.NegotiatedProtocol)
			}
			// The API answers over the issued certificate.
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				TLSClientConfig: &tls.Config{ServerName: name, RootCAs: roots}, ForceAttemptHTTP2: true}}
			res, err := client.Get("https://" + tlsAddr(s) + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 200 || res.Header.Get("Strict-Transport-Security") == "" {
				t.Errorf("GET /healthz = %d, HSTS %q", res.StatusCode, res.Header.Get("Strict-Transport-Security"))
			}
			// The cache keeps the account key and the certificate private.
			cache := filepath.Join(s.Config.DataDir, app.ACMECacheDir)
			fi, err := os.Stat(cache)
			if err != nil || fi.Mode().Perm() != 0o700 {
				t.Fatalf("cache directory %s: %v %v", cache, fi.Mode().Perm(), err)
			}
			entries, _ := os.ReadDir(cache)
			if len(entries) < 2 {
				t.Errorf("cache holds %d files, want the account key and the certificate", len(entries))
			}
			for _, e := range entries {
				if info, err := e.Info(); err != nil || info.Mode().Perm() != 0o600 {
					t.Errorf("cache file %s: %v %v", e.Name(), info.Mode().Perm(), err)
				}
			}
			// A name outside acme-domain gets no certificate (the CA is not asked).
			if _, err := handshake(tlsAddr(s), &tls.Config{ServerName: "other." + testenv.PebbleZone, RootCAs: roots}); err == nil {
				t.Error("a handshake for a name outside acme-domain succeeded")
			}
			if _, err := handshake(tlsAddr(s), &tls.Config{ServerName: name, RootCAs: roots, MaxVersion: tls.VersionTLS12}); err == nil {
				t.Error("a TLS 1.2 client connected")
			}
		})
	}
}
