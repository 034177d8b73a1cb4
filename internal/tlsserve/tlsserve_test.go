package tlsserve

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestTLS12SuitesAreForwardSecretAEAD(t *testing.T) {
	for _, id := range suites12 {
		name := tls.CipherSuiteName(id)
		if !strings.HasPrefix(name, "TLS_ECDHE_") || !(strings.Contains(name, "_GCM_") || strings.Contains(name, "CHACHA20_POLY1305")) {
			t.Errorf("%s is not ECDHE with an AEAD cipher", name)
		}
		if !slices.ContainsFunc(tls.CipherSuites(), func(s *tls.CipherSuite) bool { return s.ID == id }) {
			t.Errorf("%s is on crypto/tls's insecure list", name)
		}
	}
}

func TestNewRefusesUnsafeOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"TLS 1.1", Options{MinVersion: "1.1", CertFile: "c", KeyFile: "k"}, "tls-min-version"},
		{"no certificate", Options{}, "no certificate"},
		{"files and ACME", Options{CertFile: "c", KeyFile: "k", ACME: ACMEOptions{Domains: []string{"a.example"}}}, "choose one"},
		{"missing files", Options{CertFile: "/nonexistent/c", KeyFile: "/nonexistent/k"}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestACMECacheMustBePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "acme")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // past the umask
		t.Fatal(err)
	}
	_, err := New(Options{ACME: ACMEOptions{Domains: []string{"shop.example.com"}, CacheDir: dir}})
	if err == nil || !strings.Contains(err.Error(), "want 0700") {
		t.Fatalf("a cache readable by others: %v", err)
	}
	fresh := filepath.Join(t.TempDir(), "acme")
	s, err := New(Options{ACME: ACMEOptions{Domains: []string{"shop.example.com"}, CacheDir: fresh}})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(fresh); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("new cache directory: %v %v", fi.Mode().Perm(), err)
	}
	if !slices.Contains(s.Config().NextProtos, "acme-tls/1") || s.Config().NextProtos[0] != "h2" {
		t.Errorf("NextProtos = %v, want h2 first and acme-tls/1 for tls-alpn-01", s.Config().NextProtos)
	}
}

func TestHostPolicyAllowsOnlyTheConfiguredNames(t *testing.T) {
	policy := hostPolicy([]string{"Shop.Example.com", "www.example.com."})
	for host, ok := range map[string]bool{
		"shop.example.com": true, "shop.example.com:5002": true, "WWW.example.com": true, "www.example.com.": true,
		"evil.example.com": false, "example.com": false, "shop.example.com.evil.example": false, "": false,
	} {
		if err := policy(context.Background(), host); (err == nil) != ok {
			t.Errorf("%q: err = %v, want allowed %v", host, err, ok)
		}
	}
}
