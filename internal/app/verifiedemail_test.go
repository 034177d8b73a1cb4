package app_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"
	"github.com/pquerna/otp/totp"

	"github.com/bulwark-shop/bulwark/internal/app"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// mailsTo returns the mails in the outbox addressed to email.
func (s *server) mailsTo(email string) []string {
	s.t.Helper()
	files, _ := filepath.Glob(filepath.Join(s.Config.DataDir, app.OutboxDir, "*.eml"))
	var out []string
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), "\r\nTo: "+email+"\r\n") {
			out = append(out, string(b))
		}
	}
	return out
}

func (s *server) askRegister(email, password, name string) response {
	s.t.Helper()
	return s.do(req{method: "POST", path: "/api/v1/auth/register", body: map[string]string{"email": email, "password": password, "name": name}})
}

// TestRegistrationVerifiesEmail is pre-account hijacking, attack first: an
// attacker registers the victim's address with a password of their own,
// hoping the victim will later use (or link, through an identity provider) an
// account the attacker can open. No account exists until the address's
// owner uses the mailed token, and registration tells nobody whether an
// address has an account.
func TestRegistrationVerifiesEmail(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		const attackerPassword = "the attacker's own passphrase"

		attempt := s.askRegister("victim@example.com", attackerPassword, "Attacker")
		if attempt.Status != 202 || strings.TrimSpace(string(attempt.Body)) != `{"status":"verification_sent"}` {
			t.Fatalf("register = %d %s, want 202 verification_sent", attempt.Status, attempt.Body)
		}
		attackerToken := s.takeVerification("victim@example.com") // the link went to the victim's mailbox

		t.Run("an unverified registration cannot log in, answered as a wrong password", func(t *testing.T) {
			pending := s.tryLogin("victim@example.com", attackerPassword)
			unknown := s.tryLogin("nobody-at-all@example.com", attackerPassword)
			if pending.Status != 401 || pending.Code(t) != "invalid_credentials" || string(pending.Body[:40]) != string(unknown.Body[:40]) {
				t.Fatalf("login before verification = %d %s; unknown = %d %s", pending.Status, pending.Body, unknown.Status, unknown.Body)
			}
		})

		t.Run("the address's owner registers and verifies; the attacker's link then makes nothing", func(t *testing.T) {
			victim := s.registerAs("victim@example.com", testPassword, "Victim")
			if victim.Email != "victim@example.com" || victim.Name != "Victim" {
				t.Fatalf("account %+v", victim)
			}
			res := s.do(req{method: "POST", path: "/api/v1/auth/verify-email", body: map[string]string{"token": attackerToken}})
			if res.Status != 400 || res.Code(t) != "invalid_verification_token" {
				t.Fatalf("the attacker's link after the owner's = %d %s", res.Status, res.Body)
			}
			if r := s.tryLogin("victim@example.com", attackerPassword); r.Status != 401 {
				t.Fatalf("the attacker's password logs in: %d", r.Status)
			}
			s.login("victim@example.com", testPassword)
		})

		t.Run("a taken and a free address get the same answer; the owner gets a notice, not a link", func(t *testing.T) {
			hashes := func() float64 { return s.metric("bulwark_password_hashes_total") }
			h0 := hashes()
			taken := s.askRegister("VICTIM@example.com", attackerPassword, "Again")
			h1 := hashes()
			free := s.askRegister("free@example.com", attackerPassword, "Free")
			if h2 := hashes(); h1-h0 != 1 || h2-h1 != 1 {
				t.Fatalf("argon2 computations: %v for a taken address, %v for a free one; want one each (the same work)", h1-h0, h2-h1)
			}
			if taken.Status != 202 || taken.Status != free.Status || string(taken.Body) != string(free.Body) {
				t.Fatalf("taken = %d %s, free = %d %s", taken.Status, taken.Body, free.Status, free.Body)
			}
			notice := s.takeMail("victim@example.com", "You already have an account")
			if strings.Contains(notice, "bwv_") || strings.Contains(notice, attackerPassword) {
				t.Fatalf("the notice holds a link or a password:\n%s", notice)
			}
			s.takeVerification("free@example.com")
			if m := s.mailsTo("victim@example.com"); len(m) != 0 {
				t.Fatalf("more mail to the owner: %q", m)
			}
		})

		t.Run("a token works once and for 24 hours", func(t *testing.T) {
			s.must(202, s.registerReq("once@example.com"))
			token := s.takeVerification("once@example.com")
			s.verify(token)
			if res := s.do(req{method: "POST", path: "/api/v1/auth/verify-email", body: map[string]string{"token": token}}); res.Status != 400 {
				t.Fatalf("second use = %d %s", res.Status, res.Body)
			}
			s.must(202, s.registerReq("late@example.com"))
			late := s.takeVerification("late@example.com")
			s.Clock.Advance(24*time.Hour + time.Second)
			if res := s.do(req{method: "POST", path: "/api/v1/auth/verify-email", body: map[string]string{"token": late}}); res.Status != 400 || res.Code(t) != "invalid_verification_token" {
				t.Fatalf("expired token = %d %s", res.Status, res.Body)
			}
			for _, forged := range []string{"", "bwv_", "bwv_" + strings.Repeat("A", 43), "bwr_x"} {
				if res := s.do(req{method: "POST", path: "/api/v1/auth/verify-email", body: map[string]string{"token": forged}}); res.Status != 400 {
					t.Fatalf("forged token %q = %d", forged, res.Status)
				}
			}
		})

		t.Run("the database holds no token and no pending address in the clear", func(t *testing.T) {
			s.must(202, s.registerReq("sealed-pending@example.com"))
			token := s.takeVerification("sealed-pending@example.com")
			dump := string(shopDump(t, s))
			if strings.Contains(dump, strings.TrimPrefix(token, "bwv_")) || strings.Contains(dump, "sealed-pending@example.com") {
				t.Fatal("the database holds the token or the address")
			}
		})
	})
}

func (s *server) registerReq(email string) req {
	return req{method: "POST", path: "/api/v1/auth/register", body: map[string]string{"email": email, "password": testPassword, "name": "N"}}
}

// TestLookalikeEmails: fullwidth letters, zero-width spaces, Cyrillic
// homoglyphs and IP-literal domains are not new identities, and names hold no
// direction overrides.
func TestLookalikeEmails(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		s.register("admin@example.com")

		t.Run("invisible and direction-changing characters and IP-literal domains are refused", func(t *testing.T) {
			for _, tc := range []struct{ email, name string }{
				{"ad\u200bmin@example.com", "Zero Width"},
				{"ad\u2060min@example.com", "Word Joiner"},
				{"\ufeffadmin2@example.com", "BOM"},
				{"admin@[127.0.0.1]", "IP literal"},
				{"admin@127.0.0.1", "Bare IP"},
				{"rlo@example.com", "evil\u202eexe.txt"},
				{"lri@example.com", "a\u2066b"},
			} {
				res := s.askRegister(tc.email, testPassword, tc.name)
				if res.Status != 422 || res.Code(t) != "validation_failed" {
					t.Errorf("register %q / %q = %d %s", tc.email, tc.name, res.Status, res.Body)
				}
			}
		})

		t.Run("a fullwidth or Cyrillic look-alike is treated as the account's own address", func(t *testing.T) {
			for _, email := range []string{"ａｄｍｉｎ@example.com", "\u0430dmin@example.com", "adm\u0456n@example.com"} {
				if res := s.askRegister(email, testPassword, "Look Alike"); res.Status != 202 {
					t.Fatalf("register %q = %d %s", email, res.Status, res.Body)
				}
				// The owner's notice is sent where a link would have been: once it is here, no link went out.
				s.takeMail("admin@example.com", "You already have an account")
			}
			for _, email := range []string{"\u0430dmin@example.com", "adm\u0456n@example.com"} {
				if m := s.mailsTo(email); len(m) != 0 {
					t.Fatalf("the look-alike %q got mail: %q", email, m)
				}
				if r := s.tryLogin(email, testPassword); r.Status != 401 {
					t.Fatalf("the look-alike %q logs in: %d", email, r.Status)
				}
			}
		})

		t.Run("an unrelated address is still free", func(t *testing.T) {
			if u := s.register("administrator@example.com"); u.Email != "administrator@example.com" {
				t.Fatalf("account %+v", u)
			}
		})
	})
}

// TestResetMailLimit is reset mail bombing, attack first: 25 reset requests
// for one account from 25 client addresses send at most 3 mails, and every
// request gets the same answer.
func TestResetMailLimit(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db, func(c *config.Config) { c.TrustedProxies = "127.0.0.1/32" })
		s.register("bombed@example.com")
		var first string
		for i := range 25 {
			res := s.must(202, req{method: "POST", path: "/api/v1/auth/password-reset", body: map[string]string{"email": "bombed@example.com"},
				header: map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", i+1)}})
			if i == 0 {
				first = string(res.Body)
			} else if string(res.Body) != first {
				t.Fatalf("answer %d differs: %q vs %q", i, res.Body, first)
			}
		}
		// Each request is settled in the background: by a mail or by a log line.
		deadline := time.Now().Add(15 * time.Second)
		for strings.Count(s.Logs.String(), "password reset mail limit reached")+len(s.mailsTo("bombed@example.com")) < 25 {
			if time.Now().After(deadline) {
				t.Fatalf("requests not settled: %d limited, %d mailed", strings.Count(s.Logs.String(), "password reset mail limit reached"), len(s.mailsTo("bombed@example.com")))
			}
			time.Sleep(5 * time.Millisecond)
		}
		if n := len(s.mailsTo("bombed@example.com")); n != 3 {
			t.Fatalf("%d reset mails, want 3", n)
		}
		t.Run("the limit is per hour", func(t *testing.T) {
			s.Clock.Advance(time.Hour + time.Second)
			s.must(202, req{method: "POST", path: "/api/v1/auth/password-reset", body: map[string]string{"email": "bombed@example.com"}})
			deadline := time.Now().Add(10 * time.Second)
			for len(s.mailsTo("bombed@example.com")) < 4 {
				if time.Now().After(deadline) {
					t.Fatal("no reset mail an hour later")
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	})
}

// TestRectification: a customer corrects their name and address (GDPR art.
// 16); the new address is used only once verified, and the old one is told.
func TestRectification(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		s.register("old-address@example.com")
		s.register("someone-else@example.com")
		token := s.login("old-address@example.com", testPassword)
		patch := func(body map[string]string) response {
			return s.do(req{method: "PATCH", path: "/api/v1/me", token: token, body: body})
		}

		t.Run("the name is corrected at once, NFKC-normalised; a direction override is refused", func(t *testing.T) {
			var u user
			s.must(200, req{method: "PATCH", path: "/api/v1/me", token: token, body: map[string]string{"name": "Ｒenée Dupont"}}).JSON(t, &u)
			if u.Name != "Renée Dupont" {
				t.Fatalf("name = %q", u.Name)
			}
			if res := patch(map[string]string{"name": "Renée\u202eDupont"}); res.Status != 422 {
				t.Fatalf("override in a name = %d %s", res.Status, res.Body)
			}
			var me user
			s.must(200, req{method: "GET", path: "/api/v1/me", token: token}).JSON(t, &me)
			if me.Name != "Renée Dupont" {
				t.Fatalf("stored name = %q", me.Name)
			}
		})

		t.Run("a new address takes effect only once verified", func(t *testing.T) {
			var u user
			s.must(200, req{method: "PATCH", path: "/api/v1/me", token: token, body: map[string]string{"email": "New-Address@example.com"}}).JSON(t, &u)
			if u.Email != "old-address@example.com" {
				t.Fatalf("email before verification = %q", u.Email)
			}
			link := s.takeVerification("new-address@example.com")
			var export struct {
				Account struct {
					Email        string `json:"email"`
					PendingEmail string `json:"pending_email"`
				} `json:"account"`
			}
			s.must(200, req{method: "GET", path: "/api/v1/me/export", token: token}).JSON(t, &export)
			if export.Account.Email != "old-address@example.com" || export.Account.PendingEmail != "new-address@example.com" {
				t.Fatalf("export account %+v: the pending address is personal data held on the person", export.Account)
			}
			if r := s.tryLogin("new-address@example.com", testPassword); r.Status != 401 {
				t.Fatalf("login with the unverified address = %d", r.Status)
			}
			if v := s.verify(link); v.Email != "new-address@example.com" || v.Name != "Renée Dupont" {
				t.Fatalf("after verification %+v", v)
			}
			s.login("new-address@example.com", testPassword)
			if r := s.tryLogin("old-address@example.com", testPassword); r.Status != 401 {
				t.Fatalf("login with the old address = %d", r.Status)
			}
			if m := s.takeMail("old-address@example.com", "email address of your account was changed"); strings.Contains(m, "bwv_") {
				t.Fatalf("the notice to the old address holds the link:\n%s", m)
			}
			if s.countAudit("user.email_change") != 1 || s.countAudit("user.name_change") != 1 {
				t.Fatal("rectification not audited")
			}
		})

		t.Run("another account's address, or a look-alike, gets no mail and changes nothing", func(t *testing.T) {
			for _, email := range []string{"someone-else@example.com", "s\u043emeone-else@example.com"} {
				var u user
				s.must(200, req{method: "PATCH", path: "/api/v1/me", token: token, body: map[string]string{"email": email}}).JSON(t, &u)
				if u.Email != "new-address@example.com" {
					t.Fatalf("email = %q", u.Email)
				}
			}
			// A free address asked for after them is mailed: had they been, their mails came first.
			s.must(200, req{method: "PATCH", path: "/api/v1/me", token: token, body: map[string]string{"email": "third@example.com"}})
			s.takeVerification("third@example.com")
			if m := append(s.mailsTo("someone-else@example.com"), s.mailsTo("s\u043emeone-else@example.com")...); len(m) != 0 {
				t.Fatalf("mail to another account's address: %q", m)
			}
		})
	})
}

// TestPasskeyManagement: adding a passkey needs a fresh login (step-up); they
// can be listed and removed; each change mails the owner.
func TestPasskeyManagement(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db, func(c *config.Config) { c.PublicURL = "https://shop.example" })
		rp := virtualwebauthn.RelyingParty{Name: "Bulwark", ID: "shop.example", Origin: "https://shop.example"}
		u := s.register("keys@example.com")
		other := s.register("other-keys@example.com")
		token := s.login("keys@example.com", testPassword)

		type key struct {
			a    *virtualwebauthn.Authenticator
			cred virtualwebauthn.Credential
		}
		var last key
		add := func(token string, userID string) response {
			var c struct {
				CeremonyID string          `json:"ceremony_id"`
				Options    json.RawMessage `json:"options"`
			}
			res := s.do(req{method: "POST", path: "/api/v1/me/passkeys/begin", token: token})
			if res.Status != 200 {
				return res
			}
			res.JSON(t, &c)
			opts, err := virtualwebauthn.ParseAttestationOptions(string(c.Options))
			if err != nil {
				t.Fatal(err)
			}
			a := virtualwebauthn.NewAuthenticatorWithOptions(virtualwebauthn.AuthenticatorOptions{UserHandle: []byte(userID)})
			cred := newPasskeyCredential(t)
			att := virtualwebauthn.CreateAttestationResponse(rp, a, cred, *opts)
			a.AddCredential(cred)
			last = key{&a, cred}
			return s.do(req{method: "POST", path: "/api/v1/me/passkeys/finish", token: token,
				body: `{"ceremony_id":"` + c.CeremonyID + `","credential":` + att + `}`})
		}
		type list struct {
			Items []struct {
				ID        string `json:"id"`
				CreatedAt string `json:"created_at"`
			}
		}

		t.Run("a session older than five minutes cannot add one", func(t *testing.T) {
			s.Clock.Advance(6 * time.Minute)
			if res := add(token, u.ID); res.Status != 401 || res.Code(t) != "reauthentication_required" {
				t.Fatalf("stale session adds a passkey: %d %s", res.Status, res.Body)
			}
		})

		token = s.login("keys@example.com", testPassword)
		if res := add(token, u.ID); res.Status != 201 {
			t.Fatalf("add = %d %s", res.Status, res.Body)
		}
		s.takeMail("keys@example.com", "A passkey was added")
		myKey := last
		otherToken := s.login("other-keys@example.com", testPassword)
		if res := add(otherToken, other.ID); res.Status != 201 {
			t.Fatalf("add = %d %s", res.Status, res.Body)
		}
		var mine, theirs list
		s.must(200, req{method: "GET", path: "/api/v1/me/passkeys", token: token}).JSON(t, &mine)
		s.must(200, req{method: "GET", path: "/api/v1/me/passkeys", token: otherToken}).JSON(t, &theirs)
		if len(mine.Items) != 1 || len(theirs.Items) != 1 || mine.Items[0].ID == theirs.Items[0].ID {
			t.Fatalf("lists %+v / %+v", mine, theirs)
		}

		t.Run("another user's passkey answers 404", func(t *testing.T) {
			s.must(404, req{method: "DELETE", path: "/api/v1/me/passkeys/" + theirs.Items[0].ID, token: token})
		})
		t.Run("removal needs a fresh login too, then works and mails the owner", func(t *testing.T) {
			s.Clock.Advance(6 * time.Minute)
			res := s.do(req{method: "DELETE", path: "/api/v1/me/passkeys/" + mine.Items[0].ID, token: token})
			if res.Status != 401 || res.Code(t) != "reauthentication_required" {
				t.Fatalf("stale removal = %d %s", res.Status, res.Body)
			}
			// The account has a passkey now, so the fresh login is a passkey login.
			var c struct {
				CeremonyID string          `json:"ceremony_id"`
				Options    json.RawMessage `json:"options"`
			}
			s.must(200, req{method: "POST", path: "/api/v1/auth/passkey/begin", body: map[string]any{}}).JSON(t, &c)
			o, err := virtualwebauthn.ParseAssertionOptions(string(c.Options))
			if err != nil {
				t.Fatal(err)
			}
			assertion := virtualwebauthn.CreateAssertionResponse(rp, *myKey.a, myKey.cred, *o)
			var login struct{ Token string }
			s.must(200, req{method: "POST", path: "/api/v1/auth/passkey/finish",
				body: `{"ceremony_id":"` + c.CeremonyID + `","credential":` + assertion + `}`}).JSON(t, &login)
			token = login.Token
			s.must(204, req{method: "DELETE", path: "/api/v1/me/passkeys/" + mine.Items[0].ID, token: token})
			var after list
			s.must(200, req{method: "GET", path: "/api/v1/me/passkeys", token: token}).JSON(t, &after)
			if len(after.Items) != 0 {
				t.Fatalf("after removal %+v", after)
			}
			s.takeMail("keys@example.com", "A passkey was removed")
			if s.countAudit("user.passkey_remove") != 1 {
				t.Fatal("removal not audited")
			}
		})
	})
}

// TestRecoveryCodeRegeneration: new codes need a fresh login, retire the old
// ones, and mail the owner; TOTP on and off mail the owner too.
func TestRecoveryCodeRegeneration(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		s.register("codes@example.com")
		token := s.login("codes@example.com", testPassword)
		if res := s.do(req{method: "POST", path: "/api/v1/me/mfa/recovery-codes", token: token}); res.Status != 409 {
			t.Fatalf("codes without TOTP = %d %s", res.Status, res.Body)
		}
		var e struct{ Secret string }
		s.must(201, req{method: "POST", path: "/api/v1/me/mfa/totp", token: token}).JSON(t, &e)
		code, _ := totp.GenerateCode(e.Secret, s.now())
		var first struct {
			RecoveryCodes []string `json:"recovery_codes"`
		}
		s.must(200, req{method: "POST", path: "/api/v1/me/mfa/totp/confirm", token: token, body: map[string]string{"otp": code}}).JSON(t, &first)
		s.takeMail("codes@example.com", "Two-factor authentication (an authenticator app) was turned on")

		t.Run("a stale session cannot regenerate", func(t *testing.T) {
			s.Clock.Advance(6 * time.Minute)
			res := s.do(req{method: "POST", path: "/api/v1/me/mfa/recovery-codes", token: token})
			if res.Status != 401 || res.Code(t) != "reauthentication_required" {
				t.Fatalf("= %d %s", res.Status, res.Body)
			}
		})

		fresh := s.loginWithMFA("codes@example.com", e.Secret)
		var second struct {
			RecoveryCodes []string `json:"recovery_codes"`
		}
		s.must(200, req{method: "POST", path: "/api/v1/me/mfa/recovery-codes", token: fresh}).JSON(t, &second)
		if len(second.RecoveryCodes) != 10 || second.RecoveryCodes[0] == first.RecoveryCodes[0] {
			t.Fatalf("codes %v", second.RecoveryCodes)
		}
		if m := s.takeMail("codes@example.com", "New recovery codes"); strings.Contains(m, second.RecoveryCodes[0]) {
			t.Fatal("the notice holds a recovery code")
		}
		otp := func(c string) response {
			return s.do(req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": "codes@example.com", "password": testPassword, "otp": c}})
		}
		if res := otp(first.RecoveryCodes[0]); res.Status != 401 {
			t.Fatalf("an old recovery code = %d", res.Status)
		}
		if res := otp(second.RecoveryCodes[0]); res.Status != 200 {
			t.Fatalf("a new recovery code = %d %s", res.Status, res.Body)
		}

		t.Run("turning TOTP off mails the owner", func(t *testing.T) {
			s.must(204, req{method: "DELETE", path: "/api/v1/me/mfa/totp", token: fresh, body: map[string]string{"otp": second.RecoveryCodes[1]}})
			s.takeMail("codes@example.com", "was turned off")
		})
		t.Run("a password change mails the owner, without the password", func(t *testing.T) {
			s.must(204, req{method: "PUT", path: "/api/v1/me/password", token: fresh,
				body: map[string]string{"current_password": testPassword, "new_password": "a changed long passphrase"}})
			if m := s.takeMail("codes@example.com", "password of your account was changed"); strings.Contains(m, "a changed long passphrase") {
				t.Fatal("the notice holds the password")
			}
		})
	})
}

// TestOIDCDoesNotLinkAnUnverifiedRegistration is pre-account hijacking
// through social login: an attacker registers the address an identity
// provider will vouch for, with a password of their own, before its owner
// ever signs in with the provider. The owner's provider login must not land
// in anything the attacker can open.
func TestOIDCDoesNotLinkAnUnverifiedRegistration(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		issuer, username := startProvider(t)
		s := startServer(t, db, func(c *config.Config) {
			c.OIDCIssuer, c.OIDCClientID, c.OIDCClientSecret, c.OIDCRedirectURL = issuer, oidcClientID, oidcClientSecret, oidcRedirect
		})
		const attackerPassword = "the attacker's own passphrase"
		s.must(202, req{method: "POST", path: "/api/v1/auth/register",
			body: map[string]string{"email": "test-user@zitadel.ch", "password": attackerPassword, "name": "Attacker"}})
		pending := s.takeVerification("test-user@zitadel.ch") // in the owner's mailbox, not the attacker's

		cb, binding := oidcLogin(t, s, username, "verysecure")
		res := s.callback(cb, binding)
		if res.Status != 200 {
			t.Fatalf("callback = %d %s", res.Status, res.Body)
		}
		var out struct{ User user }
		res.JSON(t, &out)
		if out.User.Email != "test-user@zitadel.ch" {
			t.Fatalf("account %+v", out.User)
		}
		if r := s.tryLogin("test-user@zitadel.ch", attackerPassword); r.Status != 401 {
			t.Fatalf("the attacker's password opens the provider's account: %d", r.Status)
		}
		if r := s.do(req{method: "POST", path: "/api/v1/auth/verify-email", body: map[string]string{"token": pending}}); r.Status != 400 {
			t.Fatalf("the pending registration still makes an account: %d %s", r.Status, r.Body)
		}
	})
}
