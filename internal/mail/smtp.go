package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/smtp"
	"net/url"
	"os"
	"time"
)

// SMTP delivers over SMTP, always upgraded with STARTTLS: a server that does
// not offer it gets nothing, rather than credentials and reset links in the clear.
type SMTP struct {
	addr, host string
	user, pass string
	from       string // the header value
	envelope   string // the bare address
	tls        *tls.Config
	now        func() time.Time
}

// NewSMTP parses smtp://user:password@host:port; caFile, if set, names PEM
// roots to trust instead of the system's.
func NewSMTP(rawURL, caFile, from string, now func() time.Time) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "smtp" || u.Hostname() == "" {
		return nil, errors.New("smtp-url: want smtp://user:password@host:port") // never echo the URL: it holds a password
	}
	port := u.Port()
	if port == "" {
		port = "587"
	}
	addr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("mail-from: %w", err)
	}
	cfg := &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("smtp-ca-file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, errors.New("smtp-ca-file: no PEM certificate in it")
		}
	}
	pass, _ := u.User.Password()
	return &SMTP{addr: net.JoinHostPort(u.Hostname(), port), host: u.Hostname(), user: u.User.Username(), pass: pass,
		from: from, envelope: addr.Address, tls: cfg, now: now}, nil
}

// Send delivers m.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	msg, err := format(s.from, m, s.now())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("connect to SMTP server: %w", err)
	}
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("SMTP greeting: %w", err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); !ok {
		return errors.New("the SMTP server does not offer STARTTLS; not sending in the clear")
	}
	if err := c.StartTLS(s.tls); err != nil {
		return fmt.Errorf("STARTTLS: %w", err)
	}
	if s.user != "" {
		if err := c.Auth(smtp.PlainAuth("", s.user, s.pass, s.host)); err != nil {
			return fmt.Errorf("SMTP authentication: %w", err)
		}
	}
	if err := c.Mail(s.envelope); err != nil {
		return fmt.Errorf("SMTP MAIL: %w", err)
	}
	if err := c.Rcpt(m.To); err != nil {
		return fmt.Errorf("SMTP RCPT: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("SMTP DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("SMTP DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("SMTP DATA: %w", err)
	}
	return c.Quit()
}

// String and LogValue name the server without its credentials, so printing or
// logging the sender can never leak the password.
func (s *SMTP) String() string { return "smtp://" + s.addr }

// LogValue implements slog.LogValuer.
func (s *SMTP) LogValue() slog.Value { return slog.StringValue(s.String()) }
