package app_test

import (
	"testing"

	"github.com/bulwark-shop/bulwark/internal/testenv"
)

func TestSessionsListAndRevoke(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		s.register("many@example.com")
		phone := s.login("many@example.com", testPassword)
		laptop := s.from("127.0.0.2").login("many@example.com", testPassword)
		if phone == laptop {
			t.Fatal("two logins gave the same token: each login needs a new one")
		}
		type sess struct {
			ID, IP  string
			Current bool
		}
		var list struct{ Items []sess }
		s.must(200, req{method: "GET", path: "/api/v1/me/sessions", token: phone}).JSON(t, &list)
		if len(list.Items) != 2 {
			t.Fatalf("%d sessions, want 2", len(list.Items))
		}
		var other string
		for _, it := range list.Items {
			if it.Current != (it.IP == "127.0.0.1") {
				t.Fatalf("session %+v: current should be the one from 127.0.0.1", it)
			}
			if !it.Current {
				other = it.ID
			}
		}

		s.register("stranger@example.com")
		stranger := s.login("stranger@example.com", testPassword)
		s.must(404, req{method: "DELETE", path: "/api/v1/me/sessions/" + other, token: stranger})
		s.must(200, req{method: "GET", path: "/api/v1/me", token: laptop})

		s.must(204, req{method: "DELETE", path: "/api/v1/me/sessions/" + other, token: phone})
		s.must(401, req{method: "GET", path: "/api/v1/me", token: laptop})
		s.must(200, req{method: "GET", path: "/api/v1/me", token: phone})
		if s.countAudit("user.session_revoke") != 1 {
			t.Fatal("the revocation was not audited")
		}
	})
}

func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		s.register("changer@example.com")
		here := s.login("changer@example.com", testPassword)
		elsewhere := s.from("127.0.0.2").login("changer@example.com", testPassword)
		change := func(current, next string) response {
			return s.do(req{method: "PUT", path: "/api/v1/me/password", token: here, body: map[string]string{"current_password": current, "new_password": next}})
		}
		if res := change("not the current one", "a new long passphrase"); res.Status != 401 {
			t.Fatalf("wrong current password = %d", res.Status)
		}
		if res := change(testPassword, "short"); res.Status != 422 {
			t.Fatalf("weak new password = %d", res.Status)
		}
		s.must(200, req{method: "GET", path: "/api/v1/me", token: elsewhere}) // nothing changed yet
		if res := change(testPassword, "a new long passphrase"); res.Status != 204 {
			t.Fatalf("change = %d %s", res.Status, res.Body)
		}
		s.must(200, req{method: "GET", path: "/api/v1/me", token: here})
		s.must(401, req{method: "GET", path: "/api/v1/me", token: elsewhere})
		s.login("changer@example.com", "a new long passphrase")
		if s.countAudit("user.password_change") != 1 {
			t.Fatal("the change was not audited")
		}
	})
}
