// Package tlsserve owns how the API speaks TLS: which protocol versions and
// cipher suites it accepts, and where its certificate comes from (files that
// are reloaded when they change, or ACME through autocert).
//
// Guarantees: TLS 1.3 only unless TLS 1.2 is asked for by name, and then only
// forward-secret AEAD suites (ECDHE with AES-GCM or ChaCha20-Poly1305); HTTP/2
// is offered by ALPN; a certificate pair is only put in use when its key
// matches its certificate, and a broken replacement keeps the old pair serving.
package tlsserve

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"

	"golang.org/x/crypto/acme"
)

// Minimum versions, as the tls-min-version setting names them.
const (
	Version13 = "1.3"
	Version12 = "1.2"
)

// suites12 are the only TLS 1.2 suites offered: ECDHE key exchange (forward
// secrecy) with an AEAD cipher. No CBC (padding oracles, Lucky13), no RSA key
// exchange (no forward secrecy, ROBOT). TLS 1.3's suites are all AEAD and not
// configurable in crypto/tls. The AES-128-GCM suites come first because
// HTTP/2 requires them (RFC 7540, 9.2.2).
var suites12 = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// Options say how the API serves TLS: either CertFile and KeyFile, or ACME.
type Options struct {
	// MinVersion is Version13 (the default when empty) or Version12.
	MinVersion string
	// CertFile and KeyFile are a PEM certificate (chain) and its key.
	CertFile, KeyFile string
	// ACME, when it has domains, obtains certificates instead of the files.
	ACME ACMEOptions
	Log  *slog.Logger
}

// Server is the API's TLS: its configuration and, with ACME, the handler that
// answers http-01 challenges on the plain-HTTP listener.
type Server struct {
	config *tls.Config
	acme   *acmeManager
}

// New builds the TLS configuration. It fails when the certificate files do not
// load or match, or the ACME settings are unusable.
func New(o Options) (*Server, error) {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS13,
		// h2 first: the server's preference decides. http.Server keeps an
		// explicit NextProtos, so HTTP/2 stays on with our own GetCertificate.
		NextProtos: []string{"h2", "http/1.1"},
	}
	switch o.MinVersion {
	case "", Version13:
	case Version12:
		cfg.MinVersion = tls.VersionTLS12
		cfg.CipherSuites = slices.Clone(suites12)
	default:
		return nil, fmt.Errorf("tls-min-version %q: want 1.3 or 1.2", o.MinVersion)
	}
	s := &Server{config: cfg}
	switch {
	case len(o.ACME.Domains) > 0 && o.CertFile != "":
		return nil, errors.New("certificate files and ACME: choose one")
	case len(o.ACME.Domains) > 0:
		m, err := newACME(o.ACME)
		if err != nil {
			return nil, err
		}
		s.acme = m
		cfg.GetCertificate = m.GetCertificate
		// tls-alpn-01 challenges arrive on the TLS listener under this protocol.
		cfg.NextProtos = append(cfg.NextProtos, acme.ALPNProto)
	case o.CertFile != "":
		r, err := NewReloader(o.CertFile, o.KeyFile, o.Log)
		if err != nil {
			return nil, err
		}
		cfg.GetCertificate = r.GetCertificate
	default:
		return nil, errors.New("no certificate: set certificate files or ACME domains")
	}
	return s, nil
}

// Config returns the TLS configuration for the API's http.Server.
func (s *Server) Config() *tls.Config { return s.config }

// HTTPHandler wraps the plain-HTTP listener's handler: with ACME it answers
// http-01 challenges under /.well-known/acme-challenge/ and passes everything
// else to next; without ACME it is next.
func (s *Server) HTTPHandler(next http.Handler) http.Handler {
	if s.acme == nil {
		return next
	}
	return s.acme.HTTPHandler(next)
}
