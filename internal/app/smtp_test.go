package app_test

import (
	"crypto/tls"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// mailbox is a real SMTP server (emersion/go-smtp) on loopback that keeps what it receives.
type mailbox struct {
	mu       sync.Mutex
	messages []string
	tls      []bool // whether each message came over TLS
}

type mboxSession struct {
	box *mailbox
	c   *smtp.Conn
}

func (s *mboxSession) Reset()                               {}
func (s *mboxSession) Logout() error                        { return nil }
func (s *mboxSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mboxSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *mboxSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := s.c.TLSConnectionState()
	s.box.mu.Lock()
	defer s.box.mu.Unlock()
	s.box.messages = append(s.box.messages, string(b))
	s.box.tls = append(s.box.tls, isTLS)
	return nil
}

func startMailbox(t *testing.T, withTLS bool) (*mailbox, string, string) {
	t.Helper()
	box := &mailbox{}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &mboxSession{box: box, c: c}, nil }))
	srv.Domain = "127.0.0.1"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	certFile, keyFile := writeSelfSigned(t, t.TempDir())
	if withTLS {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return box, ln.Addr().String(), certFile
}

func (b *mailbox) wait(n int) ([]string, []bool) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.mu.Lock()
		m, tl := append([]string(nil), b.messages...), append([]bool(nil), b.tls...)
		b.mu.Unlock()
		if len(m) >= n || time.Now().After(deadline) {
			return m, tl
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestResetMailOverSMTP(t *testing.T) {
	t.Run("delivered over STARTTLS", func(t *testing.T) {
		box, addr, ca := startMailbox(t, true)
		s := startServer(t, testenv.Databases(t)[0], func(c *config.Config) { c.SMTPURL, c.SMTPCAFile = "smtp://"+addr, ca })
		s.must(202, req{method: "POST", path: "/api/v1/auth/register",
			body: map[string]string{"email": "smtp@example.com", "password": testPassword, "name": "Mailed"}})
		msgs, overTLS := box.wait(1)
		if len(msgs) != 1 || !overTLS[0] || !verifyLink.MatchString(msgs[0]) {
			t.Fatalf("messages %q over TLS %v", msgs, overTLS)
		}
		s.verify(verifyLink.FindStringSubmatch(msgs[0])[1])
		s.must(202, req{method: "POST", path: "/api/v1/auth/password-reset", body: map[string]string{"email": "smtp@example.com"}})
		msgs, overTLS = box.wait(2)
		if len(msgs) != 2 || !overTLS[1] || !strings.Contains(msgs[1], "To: smtp@example.com") || !resetLink.MatchString(msgs[1]) {
			t.Fatalf("messages %q over TLS %v", msgs, overTLS)
		}
	})
	t.Run("a server without STARTTLS gets nothing", func(t *testing.T) {
		box, addr, ca := startMailbox(t, false)
		s := startServer(t, testenv.Databases(t)[0], func(c *config.Config) { c.SMTPURL, c.SMTPCAFile = "smtp://"+addr, ca })
		// An operator's account: a customer's could not be verified without mail.
		if code, _, stderr := runCLI(t, s.Config, testPassword+"\n", "admin", "create", "--email", "plain@example.com", "--password-stdin"); code != 0 {
			t.Fatalf("admin create exited %d: %s", code, stderr)
		}
		s.must(202, req{method: "POST", path: "/api/v1/auth/password-reset", body: map[string]string{"email": "plain@example.com"}})
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(s.Logs.String(), "does not offer STARTTLS") {
			if time.Now().After(deadline) {
				t.Fatalf("no refusal logged:\n%s", s.Logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		if msgs, _ := box.wait(0); len(msgs) != 0 {
			t.Fatalf("a message went out in the clear: %q", msgs)
		}
	})
}
