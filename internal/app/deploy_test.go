package app_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// TestHAProxyConfigIsValid checks deploy/haproxy/haproxy.cfg with
// `haproxy -c`, its certificate files replaced by a throw-away pair (HAProxy
// loads them to check), and that it keeps what the drain relies on.
func TestHAProxyConfigIsValid(t *testing.T) {
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		if os.Getenv(testenv.RequireServicesVar) == "1" {
			t.Fatal("haproxy is not installed (apt-get install haproxy; required by " + testenv.RequireServicesVar + ")")
		}
		t.Skip("haproxy is not installed (apt-get install haproxy)")
	}
	b, err := os.ReadFile("../../deploy/haproxy/haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	for _, want := range []string{"http-check send meth GET uri /readyz", "http-check expect status 200",
		"inter 1s fall 2 rise 2", "option redispatch", "retries ", "retry-on conn-failure", "timeout check 1s"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("haproxy.cfg lacks %q", want)
		}
	}
	if strings.Contains(cfg, "shutdown-sessions") {
		t.Error("haproxy.cfg cuts the sessions of an instance marked down: in-flight requests would not finish")
	}

	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t)
	if err := os.MkdirAll(filepath.Join(dir, "certs"), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"certs/shop.pem": append(append([]byte{}, certPEM...), keyPEM...), "bulwark-backend-ca.pem": certPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	checked := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(checked, []byte(strings.ReplaceAll(cfg, "/etc/haproxy/", dir+"/")), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(haproxy, "-c", "-f", checked).CombinedOutput()
	if err != nil || strings.Contains(string(out), "[WARNING]") {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
}

// TestSystemdUnitIsValid checks deploy/systemd/bulwark.service with
// `systemd-analyze verify` where systemd is installed (not in CI's
// container), and that its stop timeout covers the drain and the shutdown.
func TestSystemdUnitIsValid(t *testing.T) {
	b, err := os.ReadFile("../../deploy/systemd/bulwark.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{"User=bulwark", "NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=/var/lib/bulwark",
		"PrivateTmp=yes", "CapabilityBoundingSet=\n", "EnvironmentFile=/etc/bulwark/bulwark.env", "KillSignal=SIGTERM"} {
		if !strings.Contains(unit, want) {
			t.Errorf("bulwark.service lacks %q", want)
		}
	}
	_, rest, _ := strings.Cut(unit, "\nTimeoutStopSec=")
	stop, err := time.ParseDuration(strings.SplitN(rest, "\n", 2)[0])
	if drain := config.Defaults().DrainDelay; err != nil || stop <= drain+15*time.Second {
		t.Errorf("TimeoutStopSec=%v (%v) does not cover drain-delay (%v) and the 15 s shutdown", stop, err, drain)
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: the unit's syntax is not checked")
	}
	// verify wants the binary and the environment file to exist.
	path := filepath.Join(t.TempDir(), "bulwark.service")
	unit = strings.ReplaceAll(unit, "ExecStart=/usr/local/bin/bulwark", "ExecStart="+bulwarkBinary(t))
	unit = strings.ReplaceAll(unit, "EnvironmentFile=/", "EnvironmentFile=-/")
	if err := os.WriteFile(path, []byte(unit), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", path).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// selfSigned returns a throw-away certificate and its key, PEM-encoded.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bulwark.internal"},
		DNSNames: []string{"bulwark.internal", "shop.example.com"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}
