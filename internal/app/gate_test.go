package app_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"
	"github.com/pquerna/otp/totp"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/identity"
	"github.com/bulwark-shop/bulwark/internal/testenv"
	"github.com/bulwark-shop/bulwark/internal/throttle"
)

// code returns a TOTP code of the next time step, moving the server's clock
// there, so that each call gives a code not used before.
func (s *server) code(secret string) string {
	s.t.Helper()
	s.Clock.Advance(30 * time.Second)
	c, err := totp.GenerateCode(secret, s.Clock.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// freshLogin logs in an account whose TOTP secret the test remembers, with
// the code of the next time step.
func (s *server) freshLogin(email string) string {
	s.t.Helper()
	var out struct{ Token string }
	s.must(200, req{method: "POST", path: "/api/v1/auth/login",
		body: map[string]string{"email": email, "password": testPassword, "otp": s.code(s.secrets[email])}}).JSON(s.t, &out)
	return out.Token
}

// staffRights reports whether token holds staff rights, step-up included: it
// reads every order (orders:read) and makes an API key (keys:manage, which
// needs a login from the last five minutes).
func (s *server) staffRights(token string) bool {
	s.t.Helper()
	if token == "" {
		return false
	}
	if s.do(req{method: "GET", path: "/api/v1/admin/orders", token: token}).Status != 200 {
		return false
	}
	return s.do(req{method: "POST", path: "/api/v1/admin/api-keys", token: token, body: map[string]any{
		"name": "gate", "permissions": []string{"orders:read"}, "expires_at": s.Clock.Now().Add(time.Hour).UTC().Format(time.RFC3339)}}).Status == 201
}

// loginAnswer is what any way in answers: a session, or an MFA ticket.
type loginAnswer struct {
	Token string `json:"token"`
	// Status is "mfa_required" in a ticket answer (and a number in a problem).
	Status    any    `json:"status"`
	MFATicket string `json:"mfa_ticket"`
}

// TestLoginGate drives every way in (password, recovery code, OIDC, passkey,
// password reset) for a staff account with TOTP on. None yields a session,
// let alone staff rights, without the second factor; each, with it, gives
// the same staff rights and the same fresh step-up.
func TestLoginGate(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		issuer, username := startProvider(t)
		s := startServer(t, db, func(c *config.Config) {
			c.PublicURL = "https://shop.example"
			c.OIDCIssuer, c.OIDCClientID, c.OIDCClientSecret, c.OIDCRedirectURL = issuer, oidcClientID, oidcClientSecret, oidcRedirect
		})
		// The provider's verified user has this email: its logins link to the staff account.
		const email = "test-user@zitadel.ch"
		exit, out, errOut := runCLI(t, s.Config, testPassword+"\n", "admin", "create", "--email", email, "--password-stdin")
		if exit != 0 {
			t.Fatalf("admin create: %s", errOut)
		}
		first := s.login(email, testPassword)
		var enrol struct{ Secret string }
		s.must(201, req{method: "POST", path: "/api/v1/me/mfa/totp", token: first,
			body: map[string]string{"enrollment_code": enrollmentCodeIn(t, out)}}).JSON(t, &enrol)
		secret := enrol.Secret
		var confirmed struct {
			RecoveryCodes []string `json:"recovery_codes"`
		}
		s.must(200, req{method: "POST", path: "/api/v1/me/mfa/totp/confirm", token: first,
			body: map[string]string{"otp": s.code(secret)}}).JSON(t, &confirmed)
		var me user
		s.must(200, req{method: "GET", path: "/api/v1/me", token: first}).JSON(t, &me)

		// A passkey of the staff account, on a software authenticator.
		rp := virtualwebauthn.RelyingParty{Name: "Bulwark", ID: "shop.example", Origin: "https://shop.example"}
		authenticator := virtualwebauthn.NewAuthenticatorWithOptions(virtualwebauthn.AuthenticatorOptions{UserHandle: []byte(me.ID)})
		credential := newPasskeyCredential(t)
		var reg struct {
			CeremonyID string          `json:"ceremony_id"`
			Options    json.RawMessage `json:"options"`
		}
		s.must(200, req{method: "POST", path: "/api/v1/me/passkeys/begin", token: first}).JSON(t, &reg)
		opts, err := virtualwebauthn.ParseAttestationOptions(string(reg.Options))
		if err != nil {
			t.Fatal(err)
		}
		s.must(201, req{method: "POST", path: "/api/v1/me/passkeys/finish", token: first,
			body: `{"ceremony_id":"` + reg.CeremonyID + `","credential":` + virtualwebauthn.CreateAttestationResponse(rp, authenticator, credential, *opts) + `}`})
		authenticator.AddCredential(credential)

		password := func(otp string) response {
			body := map[string]string{"email": email, "password": testPassword}
			if otp != "" {
				body["otp"] = otp
			}
			return s.do(req{method: "POST", path: "/api/v1/auth/login", body: body})
		}
		oidc := func() response {
			cb, binding := oidcLogin(t, s, username, "verysecure")
			return s.callback(cb, binding)
		}
		completeMFA := func(ticket, otp string) response {
			return s.do(req{method: "POST", path: "/api/v1/auth/mfa", body: map[string]string{"ticket": ticket, "otp": otp}})
		}
		passkey := func(verified bool) response {
			authenticator.Options.UserNotVerified = !verified
			var c struct {
				CeremonyID string          `json:"ceremony_id"`
				Options    json.RawMessage `json:"options"`
			}
			s.must(200, req{method: "POST", path: "/api/v1/auth/passkey/begin"}).JSON(t, &c)
			o, err := virtualwebauthn.ParseAssertionOptions(string(c.Options))
			if err != nil {
				t.Fatal(err)
			}
			return s.do(req{method: "POST", path: "/api/v1/auth/passkey/finish",
				body: `{"ceremony_id":"` + c.CeremonyID + `","credential":` + virtualwebauthn.CreateAssertionResponse(rp, authenticator, credential, *o) + `}`})
		}
		newPassword := "a fresh passphrase after reset"
		reset := func() response {
			before := len(s.outbox(0))
			s.must(202, req{method: "POST", path: "/api/v1/auth/password-reset", body: map[string]string{"email": email}})
			mails := s.outbox(before + 1)
			var token string
			for _, m := range mails {
				if m := resetLink.FindStringSubmatch(m); m != nil {
					token = m[1]
				}
			}
			return s.do(req{method: "POST", path: "/api/v1/auth/password-reset/confirm", body: map[string]string{"token": token, "password": newPassword}})
		}

		for _, way := range []struct {
			name string
			// without goes in with the first factor only (or a wrong second one)
			// and returns the answer and the codes it must carry.
			without func(t *testing.T) []response
			// with goes in with both factors and returns the session token.
			with func(t *testing.T) string
		}{
			{"password",
				func(t *testing.T) []response { return []response{password(""), password("123456")} },
				func(t *testing.T) string { return tokenOf(t, password(s.code(secret))) }},
			{"recovery code",
				func(t *testing.T) []response { return []response{password("aaaa-bbbb-cccc-dddd")} },
				func(t *testing.T) string { return tokenOf(t, password(confirmed.RecoveryCodes[0])) }},
			{"OIDC",
				func(t *testing.T) []response {
					first := oidc()
					var a loginAnswer
					first.JSON(t, &a)
					if first.Status != 202 || a.Status != "mfa_required" || !strings.HasPrefix(a.MFATicket, "bwm_") {
						t.Fatalf("OIDC callback for an account with MFA = %d %s, want 202 with an MFA ticket", first.Status, first.Body)
					}
					wrong := completeMFA(a.MFATicket, "000000")
					// The ticket worked once: the right code with it now is refused too.
					replay := completeMFA(a.MFATicket, s.code(secret))
					if replay.Status != 401 || replay.Code(t) != "invalid_mfa_ticket" {
						t.Fatalf("replayed ticket = %d %s", replay.Status, replay.Body)
					}
					return []response{first, wrong, replay, completeMFA("bwm_forged", s.code(secret))}
				},
				func(t *testing.T) string {
					var a loginAnswer
					oidc().JSON(t, &a)
					return tokenOf(t, completeMFA(a.MFATicket, s.code(secret)))
				}},
			{"OIDC with a recovery code",
				func(t *testing.T) []response {
					var a loginAnswer
					first := oidc()
					first.JSON(t, &a)
					return []response{first, completeMFA(a.MFATicket, confirmed.RecoveryCodes[0])} // spent above
				},
				func(t *testing.T) string {
					var a loginAnswer
					oidc().JSON(t, &a)
					return tokenOf(t, completeMFA(a.MFATicket, confirmed.RecoveryCodes[1]))
				}},
			{"OIDC with a passkey",
				func(t *testing.T) []response {
					var a loginAnswer
					first := oidc()
					first.JSON(t, &a)
					// The passkey's answer to another ceremony's challenge (a
					// passwordless login's), not to this ticket's.
					var c struct{ Options json.RawMessage }
					s.must(200, req{method: "POST", path: "/api/v1/auth/passkey/begin"}).JSON(t, &c)
					o, err := virtualwebauthn.ParseAssertionOptions(string(c.Options))
					if err != nil {
						t.Fatal(err)
					}
					s.mfaPasskeyChallenge(a.MFATicket)
					return []response{first, s.completeMFAWithPasskey(a.MFATicket, virtualwebauthn.CreateAssertionResponse(rp, authenticator, credential, *o))}
				},
				func(t *testing.T) string {
					var a loginAnswer
					oidc().JSON(t, &a)
					o := s.mfaPasskeyChallenge(a.MFATicket)
					return tokenOf(t, s.completeMFAWithPasskey(a.MFATicket, virtualwebauthn.CreateAssertionResponse(rp, authenticator, credential, o)))
				}},
			{"passkey",
				// Without user verification (PIN or biometrics) a passkey is one factor.
				func(t *testing.T) []response { return []response{passkey(false)} },
				func(t *testing.T) string { return tokenOf(t, passkey(true)) }},
			{"password reset",
				func(t *testing.T) []response {
					confirm := reset()
					if confirm.Status != 204 || len(confirm.Body) != 0 || confirm.Header.Get("Set-Cookie") != "" {
						t.Fatalf("reset confirm = %d %q %v: it must start no session", confirm.Status, confirm.Body, confirm.Header)
					}
					after := s.do(req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": email, "password": newPassword}})
					return []response{confirm, after}
				},
				func(t *testing.T) string {
					return tokenOf(t, s.do(req{method: "POST", path: "/api/v1/auth/login",
						body: map[string]string{"email": email, "password": newPassword, "otp": s.code(secret)}}))
				}},
		} {
			t.Run(way.name+": no staff rights without the second factor", func(t *testing.T) {
				for _, res := range way.without(t) {
					var a loginAnswer
					if len(res.Body) > 0 {
						res.JSON(t, &a)
					}
					if a.Token != "" || strings.Contains(res.Header.Get("Set-Cookie"), "bulwark_session=bws_") {
						t.Fatalf("a session without the second factor: %d %s", res.Status, res.Body)
					}
					if res.Status >= 500 || res.Status == 200 {
						t.Fatalf("= %d %s", res.Status, res.Body)
					}
					if res.Status == 401 {
						if c := res.Code(t); c != "mfa_required" && c != "invalid_otp" && c != "passkey_failed" && c != "invalid_mfa_ticket" {
							t.Fatalf("refusal = %s", res.Body)
						}
					}
				}
			})
			t.Run(way.name+": staff rights and a fresh step-up with it", func(t *testing.T) {
				if token := way.with(t); !s.staffRights(token) {
					t.Fatalf("no staff rights after %s with the second factor", way.name)
				}
			})
		}

		t.Run("each login is audited with its way in", func(t *testing.T) {
			logs := auditDetails(t, s, "user.login")
			for _, m := range []string{"method=password factors=2", "method=oidc factors=2", "method=oidc factors=2 second=passkey", "method=passkey factors=2"} {
				if !strings.Contains(logs, m) {
					t.Errorf("no login audited with %q in:\n%s", m, logs)
				}
			}
		})
	})
}

// TestMFATicketWithPasskey: a social login of an account whose only second
// factor is a passkey answers with an MFA ticket, which the passkey
// finishes: POST /auth/mfa/passkey/begin keeps a challenge with the ticket
// and allows only the account's passkeys, and POST /auth/mfa with the
// assertion starts the session through the same gate (staff rights, fresh
// step-up). Another account's passkey, another ticket's or a replayed
// challenge, a used, expired or forged ticket are refused, start no session
// and change no passkey; a passkey that does not verify counts against the
// daily cap on wrong second factors exactly like a wrong code.
func TestMFATicketWithPasskey(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		issuer, username := startProvider(t)
		s := startServer(t, db, func(c *config.Config) {
			c.PublicURL = "https://shop.example"
			c.OIDCIssuer, c.OIDCClientID, c.OIDCClientSecret, c.OIDCRedirectURL = issuer, oidcClientID, oidcClientSecret, oidcRedirect
		})
		// A staff account with the provider's verified email (its logins link
		// to it) whose only second factor is a passkey: no TOTP.
		const email = "test-user@zitadel.ch"
		exit, out, errOut := runCLI(t, s.Config, testPassword+"\n", "admin", "create", "--email", email, "--password-stdin")
		if exit != 0 {
			t.Fatalf("admin create: %s", errOut)
		}
		first := s.login(email, testPassword)
		var me user
		s.must(200, req{method: "GET", path: "/api/v1/me", token: first}).JSON(t, &me)
		mine, credential := s.addPasskey(first, me.ID, map[string]string{"enrollment_code": enrollmentCodeIn(t, out)})
		// Another account's passkey, in the hands of whoever took over the provider account.
		other := s.register("other-passkey@example.com")
		theirs, theirCredential := s.addPasskey(s.login("other-passkey@example.com", testPassword), other.ID, nil)

		ticket := func() string {
			cb, binding := oidcLogin(t, s, username, "verysecure")
			res := s.callback(cb, binding)
			var a loginAnswer
			res.JSON(t, &a)
			if res.Status != 202 || !strings.HasPrefix(a.MFATicket, "bwm_") {
				t.Fatalf("OIDC login of an account with a passkey = %d %s, want 202 with an MFA ticket", res.Status, res.Body)
			}
			return a.MFATicket
		}
		begin := func(ticket string) response {
			return s.do(req{method: "POST", path: "/api/v1/auth/mfa/passkey/begin", body: map[string]string{"ticket": ticket}})
		}
		answer := func(a *virtualwebauthn.Authenticator, c virtualwebauthn.Credential, o virtualwebauthn.AssertionOptions) string {
			return virtualwebauthn.CreateAssertionResponse(passkeyRP, *a, c, o)
		}
		// state is what a refusal must leave as it was: the account's sessions and its passkey.
		raw := rawDB(t, s.Config)
		state := func() string {
			var sessions int
			var stored string
			if err := raw.QueryRow("SELECT COUNT(*) FROM sessions WHERE user_id = $1", me.ID).Scan(&sessions); err != nil {
				t.Fatal(err)
			}
			if err := raw.QueryRow("SELECT credential FROM passkeys WHERE user_id = $1", me.ID).Scan(&stored); err != nil {
				t.Fatal(err)
			}
			return fmt.Sprintf("%d sessions, passkey %s", sessions, stored)
		}
		refused := func(t *testing.T, res response, code string) {
			t.Helper()
			if res.Status != 401 || res.Code(t) != code || strings.Contains(res.Header.Get("Set-Cookie"), "bws_") {
				t.Fatalf("= %d %s, want 401 %s and no session", res.Status, res.Body, code)
			}
		}
		failures := 0 // wrong second factors so far: the account's daily cap counts them

		t.Run("the passkey finishes the ticket: staff rights and a fresh step-up", func(t *testing.T) {
			tk := ticket()
			o := s.mfaPasskeyChallenge(tk)
			if want := base64.RawURLEncoding.EncodeToString(credential.ID); len(o.AllowCredentials) != 1 || o.AllowCredentials[0] != want {
				t.Fatalf("the challenge allows %v, want only the account's passkey %s", o.AllowCredentials, want)
			}
			a := answer(mine, credential, o)
			if token := tokenOf(t, s.completeMFAWithPasskey(tk, a)); !s.staffRights(token) {
				t.Fatal("no staff rights after finishing the ticket with the passkey")
			}
			if logs := auditDetails(t, s, "user.login"); !strings.Contains(logs, "method=oidc factors=2 second=passkey") {
				t.Fatalf("the login is not audited with its second factor:\n%s", logs)
			}

			t.Run("the ticket works once: its answer again, a new challenge or a code find nothing", func(t *testing.T) {
				before := state()
				refused(t, s.completeMFAWithPasskey(tk, a), "invalid_mfa_ticket")
				refused(t, begin(tk), "invalid_mfa_ticket")
				refused(t, s.do(req{method: "POST", path: "/api/v1/auth/mfa", body: map[string]string{"ticket": tk, "otp": "123456"}}), "invalid_mfa_ticket")
				if after := state(); after != before {
					t.Fatalf("a used ticket changed %s to %s", before, after)
				}
			})
		})

		t.Run("another account's passkey is refused, and spends the ticket", func(t *testing.T) {
			tk := ticket()
			o := s.mfaPasskeyChallenge(tk)
			before := state()
			refused(t, s.completeMFAWithPasskey(tk, answer(theirs, theirCredential, o)), "passkey_failed")
			failures++
			refused(t, s.completeMFAWithPasskey(tk, answer(mine, credential, o)), "invalid_mfa_ticket")
			if after := state(); after != before {
				t.Fatalf("another account's passkey changed %s to %s", before, after)
			}
		})

		t.Run("a challenge is its ticket's own: another ticket's answer and a replayed one are refused", func(t *testing.T) {
			one, two := ticket(), ticket()
			forOne := answer(mine, credential, s.mfaPasskeyChallenge(one))
			s.mfaPasskeyChallenge(two)
			before := state()
			refused(t, s.completeMFAWithPasskey(two, forOne), "passkey_failed")
			failures++
			if after := state(); after != before {
				t.Fatalf("another ticket's answer changed %s to %s", before, after)
			}
			tokenOf(t, s.completeMFAWithPasskey(one, forOne)) // it still finishes its own ticket

			before = state()
			three := ticket()
			s.mfaPasskeyChallenge(three)
			refused(t, s.completeMFAWithPasskey(three, forOne), "passkey_failed") // replayed
			failures++
			refused(t, s.completeMFAWithPasskey(ticket(), forOne), "passkey_failed") // a ticket with no challenge begun
			failures++
			if after := state(); after != before {
				t.Fatalf("a replayed answer changed %s to %s", before, after)
			}
		})

		t.Run("a forged ticket is refused; a request with both factors or none spends nothing", func(t *testing.T) {
			tk := ticket()
			a := answer(mine, credential, s.mfaPasskeyChallenge(tk))
			before := state()
			forged := "bwm_" + strings.Repeat("A", 43)
			refused(t, begin(forged), "invalid_mfa_ticket")
			refused(t, s.completeMFAWithPasskey(forged, a), "invalid_mfa_ticket")
			for _, body := range []string{`{"ticket":"` + tk + `","otp":"123456","passkey":` + a + `}`, `{"ticket":"` + tk + `"}`} {
				if res := s.do(req{method: "POST", path: "/api/v1/auth/mfa", body: body}); res.Status != 422 {
					t.Fatalf("%s = %d %s, want 422", body, res.Status, res.Body)
				}
			}
			if after := state(); after != before {
				t.Fatalf("forged and malformed requests changed %s to %s", before, after)
			}
			tokenOf(t, s.completeMFAWithPasskey(tk, a))
		})

		t.Run("an expired ticket is refused", func(t *testing.T) {
			tk := ticket()
			a := answer(mine, credential, s.mfaPasskeyChallenge(tk))
			s.Clock.Advance(identity.MFATicketLifetime + time.Second)
			before := state()
			refused(t, s.completeMFAWithPasskey(tk, a), "invalid_mfa_ticket")
			refused(t, begin(tk), "invalid_mfa_ticket")
			if after := state(); after != before {
				t.Fatalf("an expired ticket changed %s to %s", before, after)
			}
		})

		t.Run("a passkey that does not verify counts like a wrong code against the daily cap", func(t *testing.T) {
			// Wrong codes make up the rest of the cap, from addresses of their
			// own, so that only the account's cap can answer the last attempt.
			for failures < throttle.SecondFactorFailures-1 {
				res := s.from(fmt.Sprintf("127.0.6.%d", failures%3+1)).do(req{method: "POST", path: "/api/v1/auth/mfa",
					body: map[string]string{"ticket": ticket(), "otp": "000000"}})
				refused(t, res, "invalid_otp")
				failures++
			}
			tk := ticket()
			refused(t, s.from("127.0.6.9").completeMFAWithPasskey(tk, answer(theirs, theirCredential, s.mfaPasskeyChallenge(tk))), "passkey_failed")
			tk = ticket()
			res := s.from("127.0.6.10").completeMFAWithPasskey(tk, answer(mine, credential, s.mfaPasskeyChallenge(tk)))
			if res.Status != 429 || res.Code(t) != "too_many_attempts" {
				t.Fatalf("the right passkey after %d wrong second factors = %d %s, want 429", throttle.SecondFactorFailures, res.Status, res.Body)
			}
			if logs := auditDetails(t, s, "user.lockout"); !strings.Contains(logs, "second factor") {
				t.Fatalf("the lock is not audited:\n%s", logs)
			}
		})
	})
}

// passkeyRP is the relying party of a test server whose public URL is https://shop.example.
var passkeyRP = virtualwebauthn.RelyingParty{Name: "Bulwark", ID: "shop.example", Origin: "https://shop.example"}

// addPasskey registers a new passkey for the account of token (a login from
// the last five minutes), sending body (an enrolment code, or nil) to the
// begin route, and returns the software authenticator that holds it.
func (s *server) addPasskey(token, userID string, body any) (*virtualwebauthn.Authenticator, virtualwebauthn.Credential) {
	s.t.Helper()
	authenticator := virtualwebauthn.NewAuthenticatorWithOptions(virtualwebauthn.AuthenticatorOptions{UserHandle: []byte(userID)})
	credential := newPasskeyCredential(s.t)
	var reg struct {
		CeremonyID string          `json:"ceremony_id"`
		Options    json.RawMessage `json:"options"`
	}
	s.must(200, req{method: "POST", path: "/api/v1/me/passkeys/begin", token: token, body: body}).JSON(s.t, &reg)
	opts, err := virtualwebauthn.ParseAttestationOptions(string(reg.Options))
	if err != nil {
		s.t.Fatal(err)
	}
	s.must(201, req{method: "POST", path: "/api/v1/me/passkeys/finish", token: token,
		body: `{"ceremony_id":"` + reg.CeremonyID + `","credential":` + virtualwebauthn.CreateAttestationResponse(passkeyRP, authenticator, credential, *opts) + `}`})
	authenticator.AddCredential(credential)
	return &authenticator, credential
}

// mfaPasskeyChallenge begins the passkey assertion that finishes an MFA
// ticket and returns its options for the authenticator.
func (s *server) mfaPasskeyChallenge(ticket string) virtualwebauthn.AssertionOptions {
	s.t.Helper()
	var c struct {
		Options json.RawMessage `json:"options"`
	}
	s.must(200, req{method: "POST", path: "/api/v1/auth/mfa/passkey/begin", body: map[string]string{"ticket": ticket}}).JSON(s.t, &c)
	o, err := virtualwebauthn.ParseAssertionOptions(string(c.Options))
	if err != nil {
		s.t.Fatalf("options: %v\n%s", err, c.Options)
	}
	return *o
}

// completeMFAWithPasskey finishes an MFA ticket with a passkey's assertion.
func (s *server) completeMFAWithPasskey(ticket, assertion string) response {
	s.t.Helper()
	return s.do(req{method: "POST", path: "/api/v1/auth/mfa", body: `{"ticket":"` + ticket + `","passkey":` + assertion + `}`})
}

// auditDetails returns the details of the successful audit records of action, a line each.
func auditDetails(t *testing.T, s *server, action string) string {
	t.Helper()
	var b strings.Builder
	if _, err := s.App.DB.ScanAudit(context.Background(), func(r audit.Record) error {
		if r.Action == action && r.Outcome == audit.Success {
			b.WriteString(r.Detail + "\n")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// attackerView is what a caller sees of a problem answer: its status,
// Retry-After and body, all but the request id.
func attackerView(t *testing.T, r response) string {
	t.Helper()
	var p map[string]any
	r.JSON(t, &p)
	delete(p, "request_id")
	b, _ := json.Marshal(p)
	return strconv.Itoa(r.Status) + " Retry-After=" + r.Header.Get("Retry-After") + " " + string(b)
}

// tokenOf returns the session token of a successful login answer.
func tokenOf(t *testing.T, res response) string {
	t.Helper()
	var a loginAnswer
	res.JSON(t, &a)
	if res.Status != 200 || a.Token == "" {
		t.Fatalf("login = %d %s", res.Status, res.Body)
	}
	return a.Token
}

// TestStaffLoginsLookLikeEveryoneElse fails logins for a staff email, a
// customer email and an unknown email from two addresses, past the old
// staff lock, and finds every answer identical: a stranger can neither tell
// which email is staff nor lock a staff member out. The real staff member,
// with password and code from a third address, still gets in; the failures
// raise an alert in the audit trail.
func TestStaffLoginsLookLikeEveryoneElse(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		const staff, customer, unknown = "quiet-admin@example.com", "quiet-customer@example.com", "quiet-nobody@example.com"
		s.createAdmin(staff)
		s.register(customer)
		addresses := []*server{s.from("127.0.0.1"), s.from("127.0.0.2")}

		for i := range 12 {
			from := addresses[i%2]
			got := map[string]string{}
			for _, email := range []string{staff, customer, unknown} {
				got[email] = attackerView(t, from.tryLogin(email, "wrong wrong wrong"))
			}
			if got[staff] != got[customer] || got[staff] != got[unknown] {
				t.Fatalf("failure %d answers differ:\n staff    %s\n customer %s\n unknown  %s", i+1, got[staff], got[customer], got[unknown])
			}
			if !strings.HasPrefix(got[staff], "401 ") {
				t.Fatalf("failure %d = %s", i+1, got[staff])
			}
		}

		t.Run("the staff member gets in from another address with password and code", func(t *testing.T) {
			third := s.from("127.0.0.3")
			res := third.do(req{method: "POST", path: "/api/v1/auth/login",
				body: map[string]string{"email": staff, "password": testPassword, "otp": s.code(s.secrets[staff])}})
			if !s.staffRights(tokenOf(t, res)) {
				t.Fatal("no staff rights")
			}
		})

		t.Run("and from an address that failed, too: nothing was locked", func(t *testing.T) {
			res := addresses[0].do(req{method: "POST", path: "/api/v1/auth/login",
				body: map[string]string{"email": staff, "password": testPassword, "otp": s.code(s.secrets[staff])}})
			tokenOf(t, res)
		})

		t.Run("the failures raised an alert, not a lock", func(t *testing.T) {
			if s.countAudit("user.staff_login_alert") != 1 {
				t.Fatalf("%d staff login alerts, want 1", s.countAudit("user.staff_login_alert"))
			}
			if s.countAudit("user.lockout") != 0 {
				t.Fatal("something was locked")
			}
			if !strings.Contains(s.Logs.String(), "staff account failing logins from several addresses") {
				t.Fatal("the alert was not logged")
			}
		})
	})
}

// TestStaffEnrollmentCode shows that a password alone cannot make a staff
// account's first second factor: enrolment needs the one-time code its admin
// was shown, for TOTP and passkeys alike, once, within 24 hours.
func TestStaffEnrollmentCode(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db, func(c *config.Config) { c.PublicURL = "https://shop.example" })
		admin := s.createAdmin("boot-admin@example.com")
		enrol := func(token string, body any) response {
			return s.do(req{method: "POST", path: "/api/v1/me/mfa/totp", token: token, body: body})
		}
		passkey := func(token string, body any) response {
			return s.do(req{method: "POST", path: "/api/v1/me/passkeys/begin", token: token, body: body})
		}

		t.Run("the first admin's code comes from admin create; a password alone enrols nothing", func(t *testing.T) {
			exit, out, errOut := runCLI(t, s.Config, testPassword+"\n", "admin", "create", "--email", "thief-target@example.com", "--password-stdin")
			if exit != 0 {
				t.Fatal(errOut)
			}
			code := enrollmentCodeIn(t, out)
			stolen := s.login("thief-target@example.com", testPassword) // a password thief's session
			for _, try := range []struct {
				res  response
				want string
			}{
				{enrol(stolen, nil), "enrollment_code_required"},
				{enrol(stolen, map[string]string{"enrollment_code": "bwe_" + strings.Repeat("A", 43)}), "invalid_enrollment_code"},
				{passkey(stolen, nil), "enrollment_code_required"},
				{passkey(stolen, map[string]string{"enrollment_code": "not a code"}), "invalid_enrollment_code"},
			} {
				if try.res.Status != 403 || try.res.Code(t) != try.want {
					t.Fatalf("= %d %s, want 403 %s", try.res.Status, try.res.Body, try.want)
				}
			}
			if s.do(req{method: "GET", path: "/api/v1/admin/orders", token: stolen}).Status != 403 {
				t.Fatal("a staff session without MFA holds staff rights")
			}
			// With the code, once.
			s.must(201, req{method: "POST", path: "/api/v1/me/mfa/totp", token: stolen, body: map[string]string{"enrollment_code": code}})
			if res := passkey(stolen, map[string]string{"enrollment_code": code}); res.Status != 403 || res.Code(t) != "invalid_enrollment_code" {
				t.Fatalf("a spent code = %d %s", res.Status, res.Body)
			}
		})

		t.Run("a role grant shows the admin a code, which expires after 24 hours", func(t *testing.T) {
			u := s.register("late-staff@example.com")
			code := s.grantRoles(admin, u.ID, "support")
			if !strings.HasPrefix(code, "bwe_") {
				t.Fatalf("code = %q", code)
			}
			if strings.Contains(string(shopDump(t, s)), strings.TrimPrefix(code, "bwe_")) {
				t.Fatal("the database holds the enrolment code")
			}
			s.Clock.Advance(24*time.Hour + time.Minute)
			token := s.login("late-staff@example.com", testPassword)
			if res := enrol(token, map[string]string{"enrollment_code": code}); res.Status != 403 || res.Code(t) != "invalid_enrollment_code" {
				t.Fatalf("an expired code = %d %s", res.Status, res.Body)
			}
		})

		t.Run("a customer needs no code, and a customer made staff gets none once MFA is on", func(t *testing.T) {
			fresh := s.freshLogin("boot-admin@example.com")
			u := s.register("has-mfa@example.com")
			token := s.login("has-mfa@example.com", testPassword)
			secret := s.enableMFA(token)
			if code := s.grantRoles(fresh, u.ID, "catalog"); code != "" {
				t.Fatalf("a code for an account with MFA on: %q", code)
			}
			c := s.grantRoles(fresh, s.register("plain@example.com").ID) // customer only
			if c != "" {
				t.Fatalf("a code for a customer: %q", c)
			}
			s.rememberSecret("has-mfa@example.com", secret)
			staffToken := s.freshLogin("has-mfa@example.com")
			s.must(200, req{method: "GET", path: "/api/v1/me", token: staffToken})
		})

		t.Run("an enrolment begun before the grant cannot be finished after it", func(t *testing.T) {
			fresh := s.freshLogin("boot-admin@example.com")
			u := s.register("early-bird@example.com")
			thief := s.login("early-bird@example.com", testPassword)
			var e struct{ Secret string }
			s.must(201, req{method: "POST", path: "/api/v1/me/mfa/totp", token: thief}).JSON(t, &e) // as a customer: no code needed
			s.grantRoles(fresh, u.ID, "finance")
			thief = s.login("early-bird@example.com", testPassword) // the grant ended the sessions
			res := s.do(req{method: "POST", path: "/api/v1/me/mfa/totp/confirm", token: thief, body: map[string]string{"otp": s.code(e.Secret)}})
			if res.Status != 409 {
				t.Fatalf("confirming a pre-grant enrolment = %d %s", res.Status, res.Body)
			}
		})

		t.Run("codes are audited", func(t *testing.T) {
			if s.countAudit("user.enrollment_code") < 3 || s.countAudit("user.enrollment_code_used") < 2 {
				t.Fatal("enrolment codes missing from the audit trail")
			}
		})
	})
}

// TestAPIKeysBoundedByCreator: a key never grants more than its creator
// holds now. An admin's key with orders:read and catalog:write is suspended
// while the admin's second factor is locked (someone holding the password is
// guessing codes), stops working for both when the admin is demoted, and at
// all when the admin is erased.
func TestAPIKeysBoundedByCreator(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		boss := s.createAdmin("keys-boss@example.com")
		maker := s.staff(boss, "keys-maker@example.com", "admin")
		var me user
		s.must(200, req{method: "GET", path: "/api/v1/me", token: maker}).JSON(t, &me)
		makeKey := func(token string) string {
			var k struct{ Key string }
			s.must(201, req{method: "POST", path: "/api/v1/admin/api-keys", token: token, body: map[string]any{
				"name": "ERP", "permissions": []string{"orders:read", "catalog:write"},
				"expires_at": s.Clock.Now().Add(7 * 24 * time.Hour).UTC().Format(time.RFC3339)}}).JSON(t, &k)
			return k.Key
		}
		key, bossKey := makeKey(maker), makeKey(boss)
		p := s.createProduct(boss, "BOUND-1", 5)
		ordersWith := func(key string) response {
			return s.do(req{method: "GET", path: "/api/v1/admin/orders", token: key})
		}
		readOrders := func() int { return ordersWith(key).Status }
		changePrice := func() int {
			return s.do(req{method: "PATCH", path: "/api/v1/admin/products/" + p.ID, token: key,
				body: map[string]any{"price": map[string]any{"amount": 1, "currency": "EUR"}}}).Status
		}
		if readOrders() != 200 || changePrice() != 200 {
			t.Fatal("the key does not work while its maker is admin")
		}

		var lockedAnswer string
		t.Run("second factor locked: the creator's keys are suspended until the lock ends", func(t *testing.T) {
			// Someone who has the maker's password guesses codes, from two
			// addresses, until the daily cap on wrong second factors locks it.
			for i := range throttle.SecondFactorFailures {
				res := s.from(fmt.Sprintf("127.0.4.%d", i%2+1)).do(req{method: "POST", path: "/api/v1/auth/login",
					body: map[string]string{"email": "keys-maker@example.com", "password": testPassword, "otp": "000000"}})
				if res.Status != 401 {
					t.Fatalf("wrong code %d = %d %s", i+1, res.Status, res.Body)
				}
			}
			if r, c := readOrders(), changePrice(); r != 403 || c != 403 {
				t.Fatalf("while the maker's second factor is locked: orders %d, prices %d; want 403 and 403", r, c)
			}
			lockedAnswer = attackerView(t, ordersWith(key))
			if res := ordersWith(bossKey); res.Status != 200 {
				t.Fatalf("another admin's key = %d %s: only the locked account's keys are suspended", res.Status, res.Body)
			}
			s.Clock.Advance(throttle.Day + time.Minute)
			if r, c := readOrders(), changePrice(); r != 200 || c != 200 {
				t.Fatalf("after the lock ended: orders %d, prices %d; want 200 and 200", r, c)
			}
			boss = s.freshLogin("keys-boss@example.com") // the day ended the boss's session
		})

		t.Run("demoted to catalog: the key keeps catalog:write only", func(t *testing.T) {
			s.grantRoles(boss, me.ID, "catalog")
			if got := readOrders(); got != 403 {
				t.Fatalf("orders after demotion to catalog = %d", got)
			}
			if got := changePrice(); got != 200 {
				t.Fatalf("prices after demotion to catalog = %d", got)
			}
		})

		t.Run("demoted to customer: the key gets 403 on both", func(t *testing.T) {
			s.grantRoles(boss, me.ID)
			if r, c := readOrders(), changePrice(); r != 403 || c != 403 {
				t.Fatalf("after demotion: orders %d, prices %d; want 403 and 403", r, c)
			}
			if got := attackerView(t, ordersWith(key)); got != lockedAnswer {
				t.Fatalf("a suspended key answers %s, a key whose creator's second factor is locked %s: want the same", got, lockedAnswer)
			}
		})

		t.Run("erased: the key is refused", func(t *testing.T) {
			s.must(204, req{method: "DELETE", path: "/api/v1/admin/users/" + me.ID, token: boss})
			if r, c := readOrders(), changePrice(); r != 401 || c != 401 {
				t.Fatalf("after erasure: orders %d, prices %d; want 401", r, c)
			}
		})
	})
}

// TestDailyCapKeepsNoOwnerOut reaches an email's daily cap (100 failures
// from ten addresses), which any stranger can do for any email. Staff and
// unknown emails then answer alike (429), even against the right password;
// only the owner's password with a second factor passes, so the cap cannot
// keep a staff member out. The throttle lives in memory or Redis, not in the
// database, so one engine is enough.
func TestDailyCapKeepsNoOwnerOut(t *testing.T) {
	s := startServer(t, testenv.Databases(t)[0])
	const staff, unknown = "capped-admin@example.com", "capped-nobody@example.com"
	s.createAdmin(staff)
	for a := range 10 {
		from := s.from(fmt.Sprintf("127.0.2.%d", a+1))
		for range 10 {
			from.tryLogin(staff, "wrong wrong wrong")
			from.tryLogin(unknown, "wrong wrong wrong")
		}
	}
	fresh := s.from("127.0.2.100")
	answer := func(r response) string {
		var p map[string]any
		r.JSON(t, &p)
		delete(p, "request_id")
		b, _ := json.Marshal(p)
		return strconv.Itoa(r.Status) + " " + string(b)
	}
	for _, pw := range []string{"wrong wrong wrong", testPassword} {
		a, b := answer(fresh.tryLogin(staff, pw)), answer(fresh.tryLogin(unknown, pw))
		if a != b || !strings.HasPrefix(a, "429 ") {
			t.Fatalf("past the daily cap: staff %s, unknown %s; want the same 429", a, b)
		}
	}
	if res := fresh.do(req{method: "POST", path: "/api/v1/auth/login",
		body: map[string]string{"email": staff, "password": testPassword, "otp": "000000"}}); res.Status != 429 {
		t.Fatalf("a wrong code past the daily cap = %d %s", res.Status, res.Body)
	}
	res := fresh.do(req{method: "POST", path: "/api/v1/auth/login",
		body: map[string]string{"email": staff, "password": testPassword, "otp": s.code(s.secrets[staff])}})
	if !s.staffRights(tokenOf(t, res)) {
		t.Fatal("the owner with both factors has no staff rights")
	}

	t.Run("wrong second factors have a cap of their own", func(t *testing.T) {
		other := s.from("127.0.2.101")
		for range 10 {
			other.do(req{method: "POST", path: "/api/v1/auth/login",
				body: map[string]string{"email": staff, "password": testPassword, "otp": "000000"}})
		}
		res := s.from("127.0.2.102").do(req{method: "POST", path: "/api/v1/auth/login",
			body: map[string]string{"email": staff, "password": testPassword, "otp": s.code(s.secrets[staff])}})
		if res.Status != 429 {
			t.Fatalf("after ten wrong codes = %d %s", res.Status, res.Body)
		}
	})
}
