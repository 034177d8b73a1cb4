package app_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// amountText is how the mails write an amount of a two-decimal currency.
func amountText(amount int64, currency string) string {
	return fmt.Sprintf("%d.%02d %s", amount/100, amount%100, currency)
}

type mailTemplateJSON struct {
	Name    string  `json:"name"`
	Subject string  `json:"subject"`
	Body    string  `json:"body"`
	Custom  bool    `json:"custom"`
	Updated *string `json:"updated_at"`
}

func (s *server) mailTemplates(token string) map[string]mailTemplateJSON {
	s.t.Helper()
	var list struct{ Items []mailTemplateJSON }
	s.must(200, req{method: "GET", path: "/api/v1/admin/mail-templates", token: token}).JSON(s.t, &list)
	out := map[string]mailTemplateJSON{}
	for _, t := range list.Items {
		out[t.Name] = t
	}
	return out
}

// TestOrderMail: a checkout mails the confirmation with the order's number
// and total, a refund mails the refund; a template the shop changed is used
// for the next mail, a hostile one is refused 422 and changes nothing, and a
// reset puts the default back. Only admins manage templates.
func TestOrderMail(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("mail-admin@example.com")
		p := s.createProduct(admin, "MAIL-1", 10)
		const email = "mail-shopper@example.com"
		pat := s.shopper(email, "4242424242424242")

		var o orderJSON
		s.must(201, checkoutReq(pat, "mail-1", s.cartWith(pat, 2, p.ID), "123")).JSON(t, &o)
		m := s.takeMail(email, "Your order "+o.ID+" is confirmed")
		for _, want := range []string{"Subject: Your order " + o.ID + " is confirmed", "Total: " + amountText(o.Total.Amount, o.Total.Currency),
			"2 x ", s.Config.PublicURL + "/orders/" + o.ID} {
			if !strings.Contains(m, want) {
				t.Fatalf("the confirmation lacks %q:\n%s", want, m)
			}
		}

		finance := s.staff(admin, "mail-finance@example.com", "finance")
		s.must(200, req{method: "POST", path: "/api/v1/admin/orders/" + o.ID + "/refund", token: finance,
			header: map[string]string{"Idempotency-Key": "mail-refund"}, body: map[string]any{"amount": map[string]any{"amount": 150, "currency": o.Total.Currency}}})
		m = s.takeMail(email, "A refund of "+amountText(150, o.Total.Currency)+" on your order "+o.ID)
		if !strings.Contains(m, "In all, "+amountText(150, o.Total.Currency)+" of "+amountText(o.Total.Amount, o.Total.Currency)) {
			t.Fatalf("the refund mail:\n%s", m)
		}

		// Only admins: finance (and every other role) is refused.
		s.must(403, req{method: "GET", path: "/api/v1/admin/mail-templates", token: finance})
		s.must(403, req{method: "PUT", path: "/api/v1/admin/mail-templates/confirmation", token: finance,
			body: map[string]string{"subject": "x", "body": "y"}})

		ts := s.mailTemplates(admin)
		if len(ts) != 5 || ts["confirmation"].Custom || !strings.Contains(ts["confirmation"].Subject, "{{.OrderNumber}}") {
			t.Fatalf("templates %+v", ts)
		}
		custom := map[string]string{"subject": "Thanks for {{.OrderNumber}}!",
			"body": "Dear {{.CustomerName}}, you pay {{.Total}} for{{range .Lines}} {{.Quantity}} {{.SKU}}{{end}}.\n"}
		var put mailTemplateJSON
		s.must(200, req{method: "PUT", path: "/api/v1/admin/mail-templates/confirmation", token: admin, body: custom}).JSON(t, &put)
		if !put.Custom || put.Subject != custom["subject"] || put.Updated == nil {
			t.Fatalf("put %+v", put)
		}

		// Hostile templates: refused, and the template stays as it was.
		for name, body := range map[string]map[string]string{
			"huge output":      {"subject": "x", "body": "{{range .Lines}}" + strings.Repeat("A", 3000) + "{{end}}"},
			"infinite range":   {"subject": "x", "body": "{{range 1000000000000}}{{end}}"},
			"header injection": {"subject": "Hi\r\nBcc: everyone@example.com", "body": "x"},
			"unknown field":    {"subject": "x", "body": "{{.CustomerEmail}}"},
			"recursion":        {"subject": "x", "body": `{{define "r"}}{{template "r" .}}{{end}}{{template "r" .}}`},
			"call":             {"subject": "x", "body": "{{call .OrderURL}}"},
			"does not parse":   {"subject": "x", "body": "{{if}}"},
		} {
			res := s.do(req{method: "PUT", path: "/api/v1/admin/mail-templates/confirmation", token: admin, body: body})
			if res.Status != 422 || res.Code(t) != "validation_failed" {
				t.Fatalf("%s: %d %s", name, res.Status, res.Body)
			}
		}
		s.must(404, req{method: "PUT", path: "/api/v1/admin/mail-templates/invoice", token: admin, body: custom})
		if got := s.mailTemplates(admin)["confirmation"]; got.Subject != custom["subject"] || got.Body != custom["body"] || !got.Custom {
			t.Fatalf("after refusals %+v", got)
		}

		var o2 orderJSON
		s.must(201, checkoutReq(pat, "mail-2", s.cartWith(pat, 1, p.ID), "123")).JSON(t, &o2)
		m = s.takeMail(email, "Subject: Thanks for "+o2.ID+"!")
		if !strings.Contains(m, "you pay "+amountText(o2.Total.Amount, o2.Total.Currency)+" for 1 MAIL-1.") {
			t.Fatalf("the changed template's mail:\n%s", m)
		}

		s.must(204, req{method: "DELETE", path: "/api/v1/admin/mail-templates/confirmation", token: admin})
		if got := s.mailTemplates(admin)["confirmation"]; got.Custom || got.Updated != nil || got.Subject == custom["subject"] {
			t.Fatalf("after reset %+v", got)
		}
		var o3 orderJSON
		s.must(201, checkoutReq(pat, "mail-3", s.cartWith(pat, 1, p.ID), "123")).JSON(t, &o3)
		s.takeMail(email, "Subject: Your order "+o3.ID+" is confirmed")

		// The changes are audited.
		if code, out, errOut := runCLI(t, s.Config, "", "audit", "verify"); code != 0 {
			t.Fatalf("audit verify: %s %s", out, errOut)
		}
		if n := s.auditCount("mail.template_update"); n != 1 {
			t.Fatalf("%d template updates audited, want 1", n)
		}
		if n := s.auditCount("mail.template_reset"); n != 1 {
			t.Fatalf("%d template resets audited, want 1", n)
		}
	})
}

// auditCount counts the audit records of action in the shop database.
func (s *server) auditCount(action string) int {
	s.t.Helper()
	n := 0
	if _, err := s.App.DB.ScanAudit(context.Background(), func(r audit.Record) error {
		if r.Action == action {
			n++
		}
		return nil
	}); err != nil {
		s.t.Fatal(err)
	}
	return n
}

// serveMailbox serves box on addr over STARTTLS with the certificate in
// certFile and keyFile, until the returned server is closed.
func serveMailbox(t *testing.T, box *mailbox, addr, certFile, keyFile string) *smtp.Server {
	t.Helper()
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &mboxSession{box: box, c: c}, nil }))
	srv.Domain = "127.0.0.1"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	var ln net.Listener
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if ln, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return srv
}

// mailTo waits (bounded) for a message in box to email that holds text.
func (b *mailbox) mailTo(t *testing.T, email, text string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.mu.Lock()
		msgs := append([]string(nil), b.messages...)
		b.mu.Unlock()
		for _, m := range msgs {
			if strings.Contains(m, "To: "+email+"\r\n") && strings.Contains(m, text) {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mail to %s with %q in %q", email, text, msgs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOrderMailSurvivesSMTPOutage: with the mail server down, the
// confirmation is not lost: the failed attempt is counted and the job
// retried after its back-off, once the server is back. A customer erased
// while their mail waited gets none.
func TestOrderMailSurvivesSMTPOutage(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		box := &mailbox{}
		dir := t.TempDir()
		certFile, keyFile := writeSelfSigned(t, dir)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		smtpSrv := serveMailbox(t, box, addr, certFile, keyFile)
		s := startServer(t, db, func(c *config.Config) { c.SMTPURL, c.SMTPCAFile = "smtp://"+addr, certFile })
		admin := s.createAdmin("outage-admin@example.com")
		p := s.createProduct(admin, "OUT-1", 10)

		// Two customers, verified through the mailbox.
		shopperVia := func(email string) (shopper, string) {
			s.must(202, req{method: "POST", path: "/api/v1/auth/register",
				body: map[string]string{"email": email, "password": testPassword, "name": "Out Age"}})
			u := s.verify(verifyLink.FindStringSubmatch(box.mailTo(t, email, "#token=bwv_"))[1])
			tok := s.login(email, testPassword)
			var m struct{ ID string }
			s.must(201, req{method: "POST", path: "/api/v1/payment-methods", token: tok, body: map[string]any{
				"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "holder": "Out Age"}}).JSON(t, &m)
			return shopper{token: tok, method: m.ID}, u.ID
		}
		kept, _ := shopperVia("kept@example.com")
		gone, goneID := shopperVia("gone@example.com")

		// The mail server goes down; both check out.
		smtpSrv.Close()
		var o1, o2 orderJSON
		s.must(201, checkoutReq(kept, "out-1", s.cartWith(kept, 1, p.ID), "123")).JSON(t, &o1)
		s.must(201, checkoutReq(gone, "out-2", s.cartWith(gone, 1, p.ID), "123")).JSON(t, &o2)
		const failed = `bulwark_order_mail_attempts_total{mail="confirmation",outcome="failed"}`
		for deadline := time.Now().Add(10 * time.Second); s.metric(failed) < 2; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s = %v, want 2", failed, s.metric(failed))
			}
		}
		if n := s.metric(`bulwark_order_mail_jobs{status="pending"}`); n != 2 {
			t.Fatalf("%v mails waiting, want 2", n)
		}
		// One customer is erased while the mail waits.
		s.must(204, req{method: "DELETE", path: "/api/v1/admin/users/" + goneID, token: admin})

		// The server is back; after the back-off the job is sent again.
		serveMailbox(t, box, addr, certFile, keyFile)
		s.Clock.Advance(2 * time.Minute)
		m := box.mailTo(t, "kept@example.com", "Your order "+o1.ID+" is confirmed")
		if !strings.Contains(m, "Total: "+amountText(o1.Total.Amount, o1.Total.Currency)) {
			t.Fatalf("the confirmation after the outage:\n%s", m)
		}
		const skipped = `bulwark_order_mail_attempts_total{mail="confirmation",outcome="skipped"}`
		for deadline := time.Now().Add(10 * time.Second); s.metric(skipped) < 1; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s = %v, want 1", skipped, s.metric(skipped))
			}
		}
		box.mu.Lock()
		defer box.mu.Unlock()
		for _, msg := range box.messages {
			if strings.Contains(msg, o2.ID) || strings.Contains(msg, "gone@example.com") && strings.Contains(msg, "Your order") {
				t.Fatalf("the erased customer was mailed:\n%s", msg)
			}
		}
		if sent := s.metric(`bulwark_order_mail_attempts_total{mail="confirmation",outcome="sent"}`); sent != 1 {
			t.Fatalf("%v confirmations sent, want 1", sent)
		}
		// The skipped job's attempt is counted a moment before its row is
		// finished: wait for the queue to empty.
		for deadline := time.Now().Add(10 * time.Second); s.metric(`bulwark_order_mail_jobs{status="pending"}`) != 0; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%v mails still waiting", s.metric(`bulwark_order_mail_jobs{status="pending"}`))
			}
		}
	})
}
