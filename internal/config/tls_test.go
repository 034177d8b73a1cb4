package config_test

import (
	"strings"
	"testing"
)

// TestTLSSettings: inconsistent TLS settings are refused with the setting named.
func TestTLSSettings(t *testing.T) {
	refused := []struct {
		name string
		args []string
		want string
	}{
		{"files and ACME at once", []string{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--acme-domain", "shop.example.com"}, "tls-cert and acme-domain"},
		{"a certificate without its key", []string{"--tls-cert", "c.pem"}, "tls-cert and tls-key go together"},
		{"an unknown minimum version", []string{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-min-version", "1.1"}, "tls-min-version"},
		{"a minimum version not named exactly", []string{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-min-version", "TLS1.2"}, "tls-min-version"},
		{"a redirect listener without TLS", []string{"--http-redirect-listen", "127.0.0.1:8081"}, "http-redirect-listen: only with TLS"},
		{"a redirect listener with nowhere to send clients", []string{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--http-redirect-listen", "127.0.0.1:8081"}, "set public-url"},
		{"a redirect listener that is no address", []string{"--acme-domain", "shop.example.com", "--http-redirect-listen", "8081"}, "http-redirect-listen: want host:port"},
		{"an ACME name with one label", []string{"--acme-domain", "localhost"}, `acme-domain "localhost"`},
		{"an ACME wildcard", []string{"--acme-domain", "*.example.com"}, "acme-domain"},
		{"an ACME IP address", []string{"--acme-domain", "shop.example.com,192.0.2.1"}, `acme-domain "192.0.2.1"`},
		{"an ACME directory over plain HTTP", []string{"--acme-domain", "shop.example.com", "--acme-directory", "http://ca.example/dir"}, "acme-directory"},
		{"an ACME email without ACME", []string{"--acme-email", "ops@example.com"}, "need acme-domain"},
	}
	for _, tc := range refused {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			_, err := load(t, tc.args, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %q", err, tc.want)
			}
		})
	}
	t.Run("ACME with a redirect listener", func(t *testing.T) {
		c, err := load(t, []string{"--listen", "0.0.0.0:443", "--acme-domain", "shop.example.com, www.example.com", "--http-redirect-listen", ":80"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !c.TLS() || strings.Join(c.Domains(), " ") != "shop.example.com www.example.com" || c.TLSMinVersion != "1.3" {
			t.Fatalf("= %+v", c)
		}
		if c.RedirectOrigin() != "https://shop.example.com" {
			t.Errorf("redirect origin %q", c.RedirectOrigin())
		}
	})
	t.Run("public-url over https decides the redirect origin", func(t *testing.T) {
		c, err := load(t, []string{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-min-version", "1.2",
			"--public-url", "https://shop.example.com:8443/store", "--http-redirect-listen", "127.0.0.1:8081"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.RedirectOrigin() != "https://shop.example.com:8443" || c.TLSMinVersion != "1.2" {
			t.Errorf("redirect origin %q, min version %q", c.RedirectOrigin(), c.TLSMinVersion)
		}
	})
}
