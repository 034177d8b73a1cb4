package app_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/identity/password"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

func TestAccounts(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		// The production hash cost, which a hash with old parameters is upgraded to.
		s := startServer(t, db, productionHashes)

		t.Run("register, login, me, logout", func(t *testing.T) {
			u := s.register("Ada@Example.com")
			if u.Email != "ada@example.com" || len(u.Roles) != 1 || u.Roles[0] != "customer" || !strings.HasPrefix(u.ID, "usr_") {
				t.Fatalf("registered user = %+v", u)
			}
			token := s.login("ada@example.com", testPassword)
			if !strings.HasPrefix(token, "bws_") || len(token) < 40 {
				t.Fatalf("token %q is not a bws_ token of 256 bits", token)
			}
			var me user
			s.must(200, req{method: "GET", path: "/api/v1/me", token: token}).JSON(t, &me)
			if me.ID != u.ID {
				t.Fatalf("me = %+v, want %s", me, u.ID)
			}
			s.must(204, req{method: "POST", path: "/api/v1/auth/logout", token: token})
			if got := s.do(req{method: "GET", path: "/api/v1/me", token: token}); got.Status != 401 || got.Code(t) != "unauthenticated" {
				t.Fatalf("me after logout = %d %s", got.Status, got.Body)
			}
		})

		t.Run("a second registration of a taken email answers as the first and makes nothing", func(t *testing.T) {
			s.register("twice@example.com")
			res := s.do(req{method: "POST", path: "/api/v1/auth/register",
				body: map[string]string{"email": "TWICE@example.com", "password": "another long passphrase", "name": "Again"}})
			if res.Status != 202 || strings.TrimSpace(string(res.Body)) != `{"status":"verification_sent"}` {
				t.Fatalf("duplicate register = %d %s", res.Status, res.Body)
			}
			s.takeMail("twice@example.com", "You already have an account")
			if r := s.tryLogin("twice@example.com", "another long passphrase"); r.Status != 401 {
				t.Fatalf("the second password logs in: %d", r.Status)
			}
		})

		t.Run("weak passwords are refused and create nothing", func(t *testing.T) {
			for name, pw := range map[string]string{
				"too short":     "elevenchars",
				"common":        "password1234",
				"too long":      strings.Repeat("x", 257),
				"empty":         "",
				"common, upper": "PASSWORD1234",
			} {
				t.Run(name, func(t *testing.T) {
					email := "weak-" + strings.ReplaceAll(name, " ", "") + "@example.com"
					email = strings.ReplaceAll(email, ",", "")
					res := s.do(req{method: "POST", path: "/api/v1/auth/register",
						body: map[string]string{"email": email, "password": pw, "name": "Weak"}})
					if res.Status != 422 || res.Code(t) != "weak_password" {
						t.Fatalf("register with %s password = %d %s", name, res.Status, res.Body)
					}
					if bytes.Contains(res.Body, []byte(pw)) && pw != "" {
						t.Fatalf("the refusal echoes the password: %s", res.Body)
					}
					if got := s.do(req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": email, "password": pw}}); got.Status != 401 {
						t.Fatalf("login after refused registration = %d", got.Status)
					}
				})
			}
		})

		t.Run("roles cannot be chosen by the registering user", func(t *testing.T) {
			res := s.do(req{method: "POST", path: "/api/v1/auth/register", body: map[string]any{
				"email": "mallory@example.com", "password": testPassword, "name": "Mallory", "roles": []string{"admin"}}})
			if res.Status != 400 || res.Code(t) != "invalid_json" {
				t.Fatalf("register with roles = %d %s", res.Status, res.Body)
			}
			if got := s.do(req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": "mallory@example.com", "password": testPassword}}); got.Status != 401 {
				t.Fatalf("the refused account exists: login = %d", got.Status)
			}
		})

		t.Run("a garbage or forged token is unauthenticated", func(t *testing.T) {
			for _, tok := range []string{"x", "bws_" + strings.Repeat("A", 43), "bws_' OR 1=1 --", strings.Repeat("bws_", 100)} {
				if got := s.do(req{method: "GET", path: "/api/v1/me", token: tok}); got.Status != 401 {
					t.Fatalf("me with %q = %d", tok, got.Status)
				}
			}
		})

		t.Run("a hash with old parameters is upgraded at login", func(t *testing.T) {
			u := s.register("rehash@example.com")
			raw := rawDB(t, s.Config)
			weak := password.NewHasher(password.Params{Memory: 8192, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}, 1, password.Unbounded)
			old, err := weak.Hash(context.Background(), testPassword)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := raw.Exec("UPDATE users SET password_hash = $1 WHERE id = $2", old, u.ID); err != nil {
				t.Fatal(err)
			}
			s.login("rehash@example.com", testPassword)
			var now string
			if err := raw.QueryRow("SELECT password_hash FROM users WHERE id = $1", u.ID).Scan(&now); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(now, "$argon2id$v=19$m=19456,t=2,p=1$") {
				t.Fatalf("hash after login = %.40s..., want the current parameters", now)
			}
			s.login("rehash@example.com", testPassword)
		})

		t.Run("the session cookie authenticates a browser", func(t *testing.T) {
			s.register("browser@example.com")
			res := s.must(200, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": "browser@example.com", "password": testPassword}})
			cookie := res.Header.Get("Set-Cookie")
			for _, attr := range []string{"__Host-bulwark_session=bws_", "Path=/", "HttpOnly", "Secure", "SameSite=Lax"} {
				if !strings.Contains(cookie, attr) {
					t.Fatalf("Set-Cookie %q lacks %s", cookie, attr)
				}
			}
			value := strings.SplitN(strings.SplitN(cookie, ";", 2)[0], "=", 2)[1]
			s.must(200, req{method: "GET", path: "/api/v1/me", header: map[string]string{"Cookie": "__Host-bulwark_session=" + value}})
		})
	})
}

// TestLoginRevealsNothing checks that an unknown email and a wrong password get
// the same answer after the same work. Tests make no timed assertions; instead
// the server's count of argon2 computations shows that a login for an unknown
// email hashes exactly as a wrong password for a known one does, which is what
// makes their timing alike.
func TestLoginRevealsNothing(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		s.register("known@example.com")
		hashes := func(email string) float64 {
			before := s.metric("bulwark_password_hashes_total")
			s.must(401, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": email, "password": "not the password at all"}})
			return s.metric("bulwark_password_hashes_total") - before
		}
		if known, unknown := hashes("known@example.com"), hashes("nobody@example.com"); known != 1 || unknown != known {
			t.Fatalf("argon2 computations: %v for a wrong password, %v for an unknown email; want 1 each", known, unknown)
		}
		strip := func(r response) map[string]any {
			var m map[string]any
			r.JSON(t, &m)
			delete(m, "request_id")
			return m
		}
		wrong := s.do(req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": "known@example.com", "password": "not the password at all"}})
		unknown := s.do(req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": "nobody@example.com", "password": "not the password at all"}})
		if wrong.Status != 401 || unknown.Status != 401 {
			t.Fatalf("statuses %d and %d, want 401 both", wrong.Status, unknown.Status)
		}
		a, b := strip(wrong), strip(unknown)
		if a["code"] != "invalid_credentials" || len(a) != len(b) {
			t.Fatalf("bodies differ: %v vs %v", a, b)
		}
		for k, v := range a {
			if b[k] != v {
				t.Fatalf("field %s differs: %v vs %v", k, v, b[k])
			}
		}
		for _, h := range []string{"Content-Type", "Cache-Control", "Set-Cookie", "Www-Authenticate"} {
			if wrong.Header.Get(h) != unknown.Header.Get(h) {
				t.Fatalf("header %s differs: %q vs %q", h, wrong.Header.Get(h), unknown.Header.Get(h))
			}
		}
	})
}

func TestSessionTimeouts(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		me := func(token string) int { return s.do(req{method: "GET", path: "/api/v1/me", token: token}).Status }
		// Before the test clock moves: the command line issues the staff
		// enrolment code on the real clock, and it lasts 24 hours.
		s.createAdmin("staff-idle@example.com")
		s.createAdmin("roles-admin@example.com")

		t.Run("a customer session ends when idle", func(t *testing.T) {
			s.register("idle@example.com")
			token := s.login("idle@example.com", testPassword)
			s.Clock.Advance(s.Config.SessionIdle - time.Minute)
			if got := me(token); got != 200 {
				t.Fatalf("just before the idle limit: %d", got)
			}
			s.Clock.Advance(s.Config.SessionIdle)
			if got := me(token); got != 401 {
				t.Fatalf("after the idle limit: %d", got)
			}
		})

		t.Run("a customer session ends at the absolute limit even in use", func(t *testing.T) {
			s.register("busy@example.com")
			token := s.login("busy@example.com", testPassword)
			step := s.Config.SessionIdle / 2
			for used := time.Duration(0); used+step < s.Config.SessionAbsolute; used += step {
				s.Clock.Advance(step)
				if got := me(token); got != 200 {
					t.Fatalf("in use after %v: %d", used+step, got)
				}
			}
			s.Clock.Advance(step)
			if got := me(token); got != 401 {
				t.Fatalf("past the absolute limit: %d", got)
			}
		})

		t.Run("a staff session ends after 15 idle minutes", func(t *testing.T) {
			admin := s.loginWithMFA("staff-idle@example.com", s.secrets["staff-idle@example.com"])
			s.Clock.Advance(14 * time.Minute)
			if got := me(admin); got != 200 {
				t.Fatalf("staff after 14 minutes: %d", got)
			}
			s.Clock.Advance(15*time.Minute + time.Second)
			if got := me(admin); got != 401 {
				t.Fatalf("staff after 15 idle minutes: %d", got)
			}
		})

		t.Run("a role change ends the user's sessions", func(t *testing.T) {
			admin := s.loginWithMFA("roles-admin@example.com", s.secrets["roles-admin@example.com"])
			u := s.register("promoted@example.com")
			token := s.login("promoted@example.com", testPassword)
			s.must(200, req{method: "POST", path: "/api/v1/admin/users/" + u.ID + "/roles", token: admin, body: map[string][]string{"roles": {"support"}}})
			if got := me(token); got != http.StatusUnauthorized {
				t.Fatalf("old session after role change: %d", got)
			}
		})
	})
}
