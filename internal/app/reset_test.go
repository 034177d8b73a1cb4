package app_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/app"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

var resetLink = regexp.MustCompile(`#token=(bwr_[A-Za-z0-9_-]+)`)

// outbox waits (bounded) for n mails in the server's outbox and returns them.
func (s *server) outbox(n int) []string {
	s.t.Helper()
	dir := filepath.Join(s.Config.DataDir, app.OutboxDir)
	deadline := time.Now().Add(10 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
		if len(files) >= n || time.Now().After(deadline) {
			var out []string
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					s.t.Fatal(err)
				}
				out = append(out, string(b))
			}
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPasswordReset(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		s.register("forgetful@example.com")
		session := s.login("forgetful@example.com", testPassword)
		request := func(email string) response {
			return s.do(req{method: "POST", path: "/api/v1/auth/password-reset", body: map[string]string{"email": email}})
		}
		confirm := func(token, pw string) response {
			return s.do(req{method: "POST", path: "/api/v1/auth/password-reset/confirm", body: map[string]string{"token": token, "password": pw}})
		}

		unknown := request("nobody-here@example.com")
		known := request("forgetful@example.com")
		if unknown.Status != 202 || known.Status != 202 || string(unknown.Body) != string(known.Body) {
			t.Fatalf("reset requests: %d %q vs %d %q; want the same 202", unknown.Status, unknown.Body, known.Status, known.Body)
		}
		mails := s.outbox(1)
		if len(mails) != 1 || !strings.Contains(mails[0], "To: forgetful@example.com") {
			t.Fatalf("outbox = %v, want one mail to the account's owner", mails)
		}
		token := resetLink.FindStringSubmatch(mails[0])[1]
		s.takeMail("forgetful@example.com", token)
		if strings.Contains(string(shopDump(t, s)), strings.TrimPrefix(token, "bwr_")) {
			t.Fatal("the database holds the reset token")
		}

		t.Run("a weak new password is refused and the token still works", func(t *testing.T) {
			if res := confirm(token, "short"); res.Status != 422 {
				t.Fatalf("= %d %s", res.Status, res.Body)
			}
		})

		t.Run("the token sets a new password once and ends every session", func(t *testing.T) {
			newPassword := "a brand new passphrase here"
			s.must(204, req{method: "POST", path: "/api/v1/auth/password-reset/confirm", body: map[string]string{"token": token, "password": newPassword}})
			s.must(401, req{method: "GET", path: "/api/v1/me", token: session})
			if res := s.tryLogin("forgetful@example.com", testPassword); res.Status != 401 {
				t.Fatalf("old password = %d", res.Status)
			}
			s.login("forgetful@example.com", newPassword)
			// The owner is told, without the link or the password.
			if m := s.takeMail("forgetful@example.com", "password of your account was reset"); strings.Contains(m, newPassword) || strings.Contains(m, "bwr_") {
				t.Fatalf("the notice holds a secret:\n%s", m)
			}
			if res := confirm(token, "yet another long passphrase"); res.Status != 400 || res.Code(t) != "invalid_reset_token" {
				t.Fatalf("reused token = %d %s", res.Status, res.Body)
			}
		})

		t.Run("a token expires after 30 minutes", func(t *testing.T) {
			request("forgetful@example.com")
			fresh := resetLink.FindStringSubmatch(s.takeMail("forgetful@example.com", "#token=bwr_"))[1]
			s.Clock.Advance(31 * time.Minute)
			if res := confirm(fresh, "yet another long passphrase"); res.Status != 400 || res.Code(t) != "invalid_reset_token" {
				t.Fatalf("expired token = %d %s", res.Status, res.Body)
			}
		})

		t.Run("forged tokens are refused", func(t *testing.T) {
			for _, tok := range []string{"", "bwr_", "bwr_" + strings.Repeat("A", 43), "x"} {
				if res := confirm(tok, "yet another long passphrase"); res.Status != 400 {
					t.Fatalf("token %q = %d", tok, res.Status)
				}
			}
		})

		t.Run("audited", func(t *testing.T) {
			if s.countAudit("user.password_reset_request") != 2 || s.countAudit("user.password_reset") != 1 {
				t.Fatal("reset events missing from the audit trail")
			}
		})
	})
}
