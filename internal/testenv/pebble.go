package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// PebbleVar names the Pebble binary when it is not on PATH.
const PebbleVar = "BULWARK_TEST_PEBBLE"

// Pebble is a running Pebble, Let's Encrypt's ACME test server, that
// validates challenges against loopback: its DNS server is ours and answers
// 127.0.0.1 for every name under Zone.
type Pebble struct {
	// DirectoryURL is the ACME directory.
	DirectoryURL string
	// CAFile holds the certificate of Pebble's own HTTPS listeners (made by
	// the test), to trust for DirectoryURL.
	CAFile   string
	mgmtURL  string
	mgmtHTTP *http.Client
	out      *SyncBuffer
}

// Output is what Pebble has logged so far.
func (p *Pebble) Output() string { return p.out.String() }

// PebbleZone is the DNS zone the test resolver answers: every name in it is 127.0.0.1.
const PebbleZone = "bulwark.test"

// StartPebble runs Pebble until the test ends, validating tls-alpn-01 on
// tlsPort and http-01 on httpPort of 127.0.0.1. It skips (fails under
// BULWARK_TEST_REQUIRE_SERVICES=1) when the binary is missing:
// go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.1.
func StartPebble(t testing.TB, tlsPort, httpPort int) *Pebble {
	t.Helper()
	bin := os.Getenv(PebbleVar)
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("pebble"); err != nil {
			missing(t, "pebble is not on PATH (go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.1, or set "+PebbleVar+"): ACME tests did not run")
			t.SkipNow()
		}
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "pebble-cert.pem"), filepath.Join(dir, "pebble-key.pem")
	writeLoopbackCert(t, certFile, keyFile)
	dns := startDNS(t)
	listen, mgmt := FreePort(t), FreePort(t)
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress":                  "127.0.0.1:" + strconv.Itoa(listen),
		"managementListenAddress":        "127.0.0.1:" + strconv.Itoa(mgmt),
		"certificate":                    certFile,
		"privateKey":                     keyFile,
		"httpPort":                       httpPort,
		"tlsPort":                        tlsPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"profiles":                       map[string]any{"default": map[string]any{"description": "test", "validityPeriod": 7776000}},
	}}
	confFile := filepath.Join(dir, "pebble-config.json")
	b, _ := json.Marshal(conf)
	if err := os.WriteFile(confFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	p := &Pebble{DirectoryURL: fmt.Sprintf("https://127.0.0.1:%d/dir", listen), CAFile: certFile,
		mgmtURL: fmt.Sprintf("https://127.0.0.1:%d", mgmt)}
	cmd := exec.Command(bin, "-config", confFile, "-dnsserver", dns)
	// No random sleep before validating, and no nonces refused on purpose:
	// validation itself is real.
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	out := &SyncBuffer{}
	p.out = out
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start pebble: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("pebble output:\n%s", out.String())
		}
	})
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(certFile)
	pool.AppendCertsFromPEM(pem)
	p.mgmtHTTP = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := p.mgmtHTTP.Get(p.DirectoryURL)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not come up: %v\n%s", err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return p
}

// Root returns Pebble's issuing root certificate, from its management API
// (Pebble makes a new one at every start).
func (p *Pebble) Root(t testing.TB) *x509.Certificate {
	t.Helper()
	res, err := p.mgmtHTTP.Get(p.mgmtURL + "/roots/0")
	if err != nil {
		t.Fatalf("pebble root: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	block, _ := pem.Decode(body)
	if res.StatusCode != 200 || block == nil {
		t.Fatalf("pebble root: %d %s", res.StatusCode, body)
	}
	root, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// FreePort returns a loopback TCP port that was free a moment ago, for a
// server whose port must be known before it starts.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startDNS serves DNS over TCP (as Pebble asks) on loopback: A 127.0.0.1 for
// names in PebbleZone, no AAAA, NXDOMAIN for anything else.
func startDNS(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveDNS(c)
		}
	}()
	return ln.Addr().String()
}

func serveDNS(c net.Conn) {
	defer c.Close()
	for {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		var n uint16
		if err := binary.Read(c, binary.BigEndian, &n); err != nil {
			return
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(c, msg); err != nil {
			return
		}
		answer, err := answerDNS(msg)
		if err != nil {
			return
		}
		if err := binary.Write(c, binary.BigEndian, uint16(len(answer))); err != nil {
			return
		}
		if _, err := c.Write(answer); err != nil {
			return
		}
	}
}

func answerDNS(query []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	name := strings.ToLower(strings.TrimSuffix(q.Name.String(), "."))
	inZone := name == PebbleZone || strings.HasSuffix(name, "."+PebbleZone)
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired}
	if !inZone {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	if inZone && q.Type == dnsmessage.TypeA {
		if err := b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60},
			dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}}); err != nil {
			return nil, err
		}
	}
	return b.Finish()
}

// writeLoopbackCert writes a self-signed certificate for 127.0.0.1 and localhost.
func writeLoopbackCert(t testing.TB, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "pebble test listener"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// SyncBuffer collects output written from several goroutines: a server's
// log, or a process's two pipes.
type SyncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
