package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/app"
	"github.com/bulwark-shop/bulwark/internal/keys"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// storedEmailIndexes reads the blind index each live account holds, by id.
func storedEmailIndexes(t *testing.T, s *server) map[string]string {
	t.Helper()
	rows, err := shopDB(t, s).Query("SELECT id, email_index FROM users WHERE erased_at IS NULL")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, index string
		if err := rows.Scan(&id, &index); err != nil {
			t.Fatal(err)
		}
		out[id] = index
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// indexesOf computes email's blind index under each key of the index keyset
// on disk, the primary's first, as someone holding the keysets would.
func indexesOf(t *testing.T, s *server, email string) []string {
	t.Helper()
	all, err := piiCipher(t, s).EmailIndexes(email, true)
	if err != nil {
		t.Fatal(err)
	}
	values := make([]string, len(all))
	for i, x := range all {
		values[i] = x.Value
	}
	return values
}

// TestBlindIndexRotation rotates the blind-index keyset (the HMAC key behind
// every email lookup) on a running server. Until the background job has
// computed every account's index again under the new key, the stored indexes
// are under the old one: login, support's search by email and, above all,
// the uniqueness of emails at registration must still see them. Then the job
// recomputes them all, and retiring the old key changes nothing for users.
func TestBlindIndexRotation(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("index-admin@example.com")
		support := s.staff(admin, "index-support@example.com", "support")
		p := s.createProduct(admin, "IDX-1", 10)
		buyer := s.shopper("index-buyer@example.com", "4242424242424242")
		var order struct{ ID string }
		s.must(201, checkoutReq(buyer, "idx-order", s.cartWith(buyer, 1, p.ID), "123")).JSON(t, &order)
		var customers []string
		for i := range 3 {
			email := fmt.Sprintf("index%d@example.com", i)
			s.register(email)
			customers = append(customers, email)
		}
		before := storedEmailIndexes(t, s)
		old := primaries(t, s.Config)[app.IndexKeyset]

		code, out, errOut := runCLI(t, s.Config, "", "keys", "rotate", "--keyset", app.IndexKeyset)
		if code != 0 || !strings.Contains(out, "index  new primary key") {
			t.Fatalf("keys rotate --keyset index: %d %s%s", code, out, errOut)
		}
		now := primaries(t, s.Config)[app.IndexKeyset]
		if now == old {
			t.Fatal("the blind-index keyset has the same primary after the rotation")
		}
		// The server switches to the new primary; its job waits for the grace
		// that lets every instance switch (the server's clock stands still).
		time.Sleep(keys.CheckInterval + 500*time.Millisecond)

		t.Run("before the job runs, every account is still under the old key", func(t *testing.T) {
			if got := storedEmailIndexes(t, s); fmt.Sprint(got) != fmt.Sprint(before) {
				t.Fatal("indexes changed before the job ran: the next steps test nothing")
			}
			if all := indexesOf(t, s, customers[0]); len(all) != 2 || !strings.Contains(fmt.Sprint(before), all[1]) {
				t.Fatalf("indexes of %s under the keyset = %v; the stored one should be the old key's", customers[0], all)
			}
		})

		t.Run("accounts made before the rotation log in", func(t *testing.T) {
			for _, email := range customers {
				s.login(email, testPassword)
			}
			s.loginWithMFA("index-admin@example.com", s.secrets["index-admin@example.com"])
		})

		t.Run("an email taken under the old key cannot be registered again", func(t *testing.T) {
			for _, email := range append(customers, strings.ToUpper(customers[1])) {
				res := s.do(req{method: "POST", path: "/api/v1/auth/register",
					body: map[string]string{"email": email, "password": testPassword, "name": "Second Comer"}})
				if res.Status != 202 {
					t.Fatalf("registering %s again during the rotation = %d %s", email, res.Status, res.Body)
				}
				// The owner is told, and no verification link is made: two accounts would share an email.
				s.takeMail(email, "You already have an account")
			}
		})

		t.Run("support finds orders by email", func(t *testing.T) {
			var list struct{ Items []struct{ ID string } }
			s.must(200, req{method: "GET", path: "/api/v1/admin/orders?email=index-buyer@example.com", token: support}).JSON(t, &list)
			if len(list.Items) != 1 || list.Items[0].ID != order.ID {
				t.Fatalf("search by email during the rotation = %+v, want order %s", list.Items, order.ID)
			}
		})

		t.Run("a new account is indexed under the new key", func(t *testing.T) {
			u := s.register("index-new@example.com")
			if got, want := storedEmailIndexes(t, s)[u.ID], indexesOf(t, s, "index-new@example.com")[0]; got != want {
				t.Fatalf("the new account's index is not the new primary's")
			}
			s.login("index-new@example.com", testPassword)
		})

		t.Run("the job recomputes every index under the new key", func(t *testing.T) {
			deadline := time.Now().Add(60 * time.Second)
			for {
				pr, err := s.App.DB.ReencryptionProgress(context.Background(), app.IndexKeyset)
				if err == nil && pr.Done && pr.Primary == now {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("index re-computation not done: %+v %v", pr, err)
				}
				s.Clock.Advance(time.Second) // past the grace
				time.Sleep(200 * time.Millisecond)
			}
			after := storedEmailIndexes(t, s)
			for id, index := range before {
				if after[id] == index {
					t.Fatalf("account %s still has its index under the old key", id)
				}
			}
			for _, email := range append(customers, "index-admin@example.com", "index-buyer@example.com") {
				want := indexesOf(t, s, email)[0]
				found := false
				for _, index := range after {
					found = found || index == want
				}
				if !found {
					t.Fatalf("no account holds %s's index under the new primary", email)
				}
			}
		})

		t.Run("with the old key retired, lookups and uniqueness hold", func(t *testing.T) {
			code, out, errOut := runCLIAt(t, s.Config, time.Now().Add(app.RetireAfter+time.Second), "keys", "retire", "--keyset", app.IndexKeyset, "--destroy")
			if code != 0 || !strings.Contains(out, "index  destroyed keys") {
				t.Fatalf("keys retire --keyset index --destroy: %d %s%s", code, out, errOut)
			}
			if all := indexesOf(t, s, customers[0]); len(all) != 1 {
				t.Fatalf("%d index keys after retiring, want 1", len(all))
			}
			time.Sleep(keys.CheckInterval + 500*time.Millisecond) // the server re-reads the keyset
			for _, email := range customers {
				s.login(email, testPassword)
			}
			res := s.do(req{method: "POST", path: "/api/v1/auth/register",
				body: map[string]string{"email": customers[2], "password": testPassword, "name": "Late Comer"}})
			if res.Status != 202 {
				t.Fatalf("registering a taken email after retiring = %d %s", res.Status, res.Body)
			}
			s.takeMail(customers[2], "You already have an account")
			_, out, _ = runCLI(t, s.Config, "", "keys", "status")
			if !strings.Contains(out, "index  1 key(s)") {
				t.Fatalf("keys status after retiring the index key:\n%s", out)
			}
		})
	})
}
