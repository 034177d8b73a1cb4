package app_test

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// from returns a copy of s whose requests leave from another loopback address,
// as a second client would.
func (s *server) from(ip string) *server {
	c := *s
	c.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).DialContext}}
	return &c
}

func (s *server) tryLogin(email, password string) response {
	s.t.Helper()
	return s.do(req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": email, "password": password}})
}

func TestLockout(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		s.register("locked@example.com")

		t.Run("ten failures lock known and unknown emails alike, even against the right password", func(t *testing.T) {
			for range 10 {
				s.must(401, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": "locked@example.com", "password": "wrong wrong wrong"}})
				s.must(401, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": "ghost@example.com", "password": "wrong wrong wrong"}})
			}
			known := s.tryLogin("locked@example.com", testPassword)
			unknown := s.tryLogin("ghost@example.com", testPassword)
			for _, r := range []response{known, unknown} {
				if r.Status != 429 || r.Code(t) != "too_many_attempts" || r.Header.Get("Retry-After") == "" {
					t.Fatalf("locked login = %d %s (Retry-After %q)", r.Status, r.Body, r.Header.Get("Retry-After"))
				}
			}
			if known.Header.Get("Retry-After") != unknown.Header.Get("Retry-After") && absDiff(known.Header.Get("Retry-After"), unknown.Header.Get("Retry-After")) > 1 {
				t.Fatalf("Retry-After differs: %s vs %s", known.Header.Get("Retry-After"), unknown.Header.Get("Retry-After"))
			}
		})

		t.Run("the customer can still log in from another address", func(t *testing.T) {
			other := s.from("127.0.0.2")
			if r := other.tryLogin("locked@example.com", testPassword); r.Status != 200 {
				t.Fatalf("login from another address = %d %s", r.Status, r.Body)
			}
		})

		t.Run("the lock ends after 30 minutes", func(t *testing.T) {
			s.Clock.Advance(30 * time.Minute)
			if r := s.tryLogin("locked@example.com", testPassword); r.Status != 200 {
				t.Fatalf("after 30 minutes = %d %s", r.Status, r.Body)
			}
		})

		t.Run("a lockout is audited", func(t *testing.T) {
			if s.countAudit("user.lockout") < 2 {
				t.Fatal("no lockout audit records")
			}
		})
	})
}

// TestLockoutSharedBetweenInstances locks an email on one instance and finds
// it locked on another on the same database: the lock lives in the database
// (issue 11: lockouts survive a Redis restart), whether or not Redis is set.
func TestLockoutSharedBetweenInstances(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		a := startServer(t, db)
		a.register("shared@example.com")
		for range 10 {
			a.tryLogin("shared@example.com", "wrong wrong wrong")
		}
		b2 := startServer(t, db) // SQLite: a second process on the same file
		if r := b2.tryLogin("shared@example.com", testPassword); r.Status != 429 {
			t.Fatalf("login on the second instance = %d %s, want the lock shared through the database", r.Status, r.Body)
		}
	})
}

func absDiff(a, b string) int {
	var x, y int
	for _, c := range a {
		x = x*10 + int(c-'0')
	}
	for _, c := range b {
		y = y*10 + int(c-'0')
	}
	if x > y {
		return x - y
	}
	return y - x
}
