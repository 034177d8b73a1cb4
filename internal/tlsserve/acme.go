package tlsserve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// LetsEncrypt is the default ACME directory: Let's Encrypt's production CA.
const LetsEncrypt = acme.LetsEncryptURL

// ACMEOptions configure automatic certificates.
type ACMEOptions struct {
	// Domains are the only names a certificate is requested for; a handshake
	// for any other name is refused before the CA is asked.
	Domains []string
	// Directory is the ACME directory URL (default LetsEncrypt).
	Directory string
	// Email is the account's contact, optional.
	Email string
	// CAFile, when set, holds the PEM roots trusted for the ACME server
	// instead of the system's (a private or test CA).
	CAFile string
	// CacheDir keeps the account key and certificates (created 0700, files 0600).
	CacheDir string
}

// acmeManager is autocert's Manager: it answers tls-alpn-01 challenges in
// GetCertificate and http-01 ones in HTTPHandler, caches what it obtains and
// renews certificates before they expire.
type acmeManager struct {
	*autocert.Manager
}

func newACME(o ACMEOptions) (*acmeManager, error) {
	if o.CacheDir == "" {
		return nil, errors.New("acme: no cache directory")
	}
	// autocert creates the directory 0700 when it first writes; make it now so
	// that a directory left too open by someone else is noticed at start.
	if err := os.MkdirAll(o.CacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("acme cache: %w", err)
	}
	if fi, err := os.Stat(o.CacheDir); err != nil {
		return nil, fmt.Errorf("acme cache: %w", err)
	} else if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("acme cache %s: permissions %v let other users read private keys; want 0700", o.CacheDir, fi.Mode().Perm())
	}
	directory := o.Directory
	if directory == "" {
		directory = LetsEncrypt
	}
	httpClient, err := acmeHTTPClient(o.CAFile)
	if err != nil {
		return nil, err
	}
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(o.CacheDir),
		HostPolicy: hostPolicy(o.Domains),
		Email:      o.Email,
		Client:     &acme.Client{DirectoryURL: directory, HTTPClient: httpClient, UserAgent: "bulwark"},
	}
	return &acmeManager{m}, nil
}

// hostPolicy allows exactly the configured names. The Host header of an
// http-01 validation request carries the port when it is not 80, which
// autocert.HostWhitelist would refuse; the port says nothing about the name.
func hostPolicy(domains []string) autocert.HostPolicy {
	names := make([]string, 0, len(domains))
	for _, d := range domains {
		names = append(names, strings.ToLower(strings.TrimSuffix(d, ".")))
	}
	return func(_ context.Context, host string) error {
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if !slices.Contains(names, strings.ToLower(strings.TrimSuffix(host, "."))) {
			return fmt.Errorf("acme: host %q is not one of acme-domain", host)
		}
		return nil
	}
}

// acmeHTTPClient talks to the ACME server, trusting caFile's roots when set.
func acmeHTTPClient(caFile string) (*http.Client, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("acme-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("acme-ca-file %s: no PEM certificate", caFile)
		}
		t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: t, Timeout: time.Minute}, nil
}
