package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/bulwark-shop/bulwark/internal/testenv"
)

func TestTOTP(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		s.register("mfa@example.com")
		token := s.login("mfa@example.com", testPassword)
		code := func(secret string, at time.Time) string {
			c, err := totp.GenerateCode(secret, at)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		login := func(otp string) response {
			body := map[string]string{"email": "mfa@example.com", "password": testPassword}
			if otp != "" {
				body["otp"] = otp
			}
			return s.do(req{method: "POST", path: "/api/v1/auth/login", body: body})
		}

		var enrol struct {
			Secret     string `json:"secret"`
			OTPAuthURL string `json:"otpauth_url"`
		}
		s.must(201, req{method: "POST", path: "/api/v1/me/mfa/totp", token: token}).JSON(t, &enrol)
		if len(enrol.Secret) < 32 || !strings.HasPrefix(enrol.OTPAuthURL, "otpauth://totp/Bulwark:mfa@example.com?") {
			t.Fatalf("enrolment = %+v", enrol)
		}
		if res := login(""); res.Status != 200 {
			t.Fatalf("login before confirmation = %d: MFA must not be on until confirmed", res.Status)
		}
		if res := s.do(req{method: "POST", path: "/api/v1/me/mfa/totp/confirm", token: token, body: map[string]string{"otp": "000000"}}); res.Status != 401 || res.Code(t) != "invalid_otp" {
			t.Fatalf("confirm with a wrong code = %d %s", res.Status, res.Body)
		}
		var confirmed struct {
			RecoveryCodes []string `json:"recovery_codes"`
		}
		s.must(200, req{method: "POST", path: "/api/v1/me/mfa/totp/confirm", token: token, body: map[string]string{"otp": code(enrol.Secret, s.Clock.Now())}}).JSON(t, &confirmed)
		if len(confirmed.RecoveryCodes) != 10 {
			t.Fatalf("%d recovery codes, want 10", len(confirmed.RecoveryCodes))
		}
		var me struct {
			MFAEnabled bool `json:"mfa_enabled"`
		}
		s.must(200, req{method: "GET", path: "/api/v1/me", token: token}).JSON(t, &me)
		if !me.MFAEnabled {
			t.Fatal("mfa_enabled is false after confirmation")
		}

		t.Run("a password alone is not enough", func(t *testing.T) {
			if res := login(""); res.Status != 401 || res.Code(t) != "mfa_required" {
				t.Fatalf("= %d %s", res.Status, res.Body)
			}
			if res := login("123456"); res.Status != 401 || res.Code(t) != "invalid_otp" {
				t.Fatalf("wrong code = %d %s", res.Status, res.Body)
			}
			res := s.do(req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": "mfa@example.com", "password": "wrong password here", "otp": "123456"}})
			if res.Status != 401 || res.Code(t) != "invalid_credentials" {
				t.Fatalf("wrong password = %d %s: the second factor is asked only after the right password", res.Status, res.Body)
			}
		})

		t.Run("each code works once", func(t *testing.T) {
			s.Clock.Advance(30 * time.Second)
			c := code(enrol.Secret, s.Clock.Now())
			if res := login(c); res.Status != 200 {
				t.Fatalf("fresh code = %d %s", res.Status, res.Body)
			}
			if res := login(c); res.Status != 401 || res.Code(t) != "invalid_otp" {
				t.Fatalf("replayed code = %d %s", res.Status, res.Body)
			}
		})

		t.Run("one step of clock skew either way, not two", func(t *testing.T) {
			s.Clock.Advance(5 * 30 * time.Second)
			now := s.Clock.Now()
			if res := login(code(enrol.Secret, now.Add(-2*30*time.Second))); res.Status != 401 {
				t.Fatalf("a code two steps old = %d", res.Status)
			}
			if res := login(code(enrol.Secret, now.Add(-30*time.Second))); res.Status != 200 {
				t.Fatalf("a code one step old = %d %s", res.Status, res.Body)
			}
			s.Clock.Advance(5 * 30 * time.Second)
			now = s.Clock.Now()
			if res := login(code(enrol.Secret, now.Add(30*time.Second))); res.Status != 200 {
				t.Fatalf("a code one step ahead = %d %s", res.Status, res.Body)
			}
			if res := login(code(enrol.Secret, now.Add(2*30*time.Second))); res.Status != 401 {
				t.Fatalf("a code two steps ahead = %d", res.Status)
			}
		})

		t.Run("a recovery code stands in once", func(t *testing.T) {
			rc := confirmed.RecoveryCodes[3]
			if res := login(strings.ToUpper(rc)); res.Status != 200 {
				t.Fatalf("recovery code = %d %s", res.Status, res.Body)
			}
			if res := login(rc); res.Status != 401 || res.Code(t) != "invalid_otp" {
				t.Fatalf("reused recovery code = %d %s", res.Status, res.Body)
			}
		})

		t.Run("turning it off needs a current code", func(t *testing.T) {
			if res := s.do(req{method: "DELETE", path: "/api/v1/me/mfa/totp", token: token, body: map[string]string{"otp": "000000"}}); res.Status != 401 {
				t.Fatalf("disable with a wrong code = %d", res.Status)
			}
			s.Clock.Advance(10 * 30 * time.Second)
			s.must(204, req{method: "DELETE", path: "/api/v1/me/mfa/totp", token: token, body: map[string]string{"otp": code(enrol.Secret, s.Clock.Now())}})
			if res := login(""); res.Status != 200 {
				t.Fatalf("login after disabling = %d", res.Status)
			}
		})

		t.Run("the secret is encrypted at rest", func(t *testing.T) {
			if strings.Contains(string(shopDump(t, s)), enrol.Secret) {
				t.Fatal("the shop database holds the TOTP secret in plaintext")
			}
		})

		t.Run("enrolment, confirmation and use are audited", func(t *testing.T) {
			for _, a := range []string{"user.mfa_enroll", "user.mfa_confirm", "user.mfa_recovery_code_used", "user.mfa_disable"} {
				if s.countAudit(a) == 0 {
					t.Errorf("no %s audit record", a)
				}
			}
		})
	})
}
