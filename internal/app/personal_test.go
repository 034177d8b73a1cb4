package app_test

import (
	"bytes"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/app"
	"github.com/bulwark-shop/bulwark/internal/keys"
	"github.com/bulwark-shop/bulwark/internal/pii"
	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// A person whose every detail is distinctive, so a search of raw bytes finds
// it wherever it lies.
const (
	personEmail = "zebulon.quixotewright@example.net"
	personName  = "Zebulon Quixotewright"
	shipName    = "Zebulon Q. Xylander"
	shipLine1   = "17 Xylophone Crescent"
	shipLine2   = "Flat Quagga"
	shipCity    = "Quuxborough"
	shipPostal  = "QX9 7ZZ"
	shipPhone   = "+44 20 7946 0817"
)

var personal = []string{personEmail, personName, shipName, shipLine1, shipLine2, shipCity, shipPostal, shipPhone}

// TestPersonalDataAtRest checks issue 5's promises about personal data: none
// of it is stored in the clear (database files with their write-ahead log on
// SQLite, every row on PostgreSQL), the export holds all of it, staff who may
// see it still do, and after erasure it cannot be recovered even with every
// keyset, while the order stays for accounting.
func TestPersonalDataAtRest(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("pd-admin@example.com")
		support := s.staff(admin, "pd-support@example.com", "support")
		p := s.createProduct(admin, "PD-1", 10)

		u := s.registerAs(personEmail, testPassword, personName)
		token := s.login(strings.ToUpper(personEmail), testPassword) // found through the blind index, normalized
		var m struct{ ID string }
		s.must(201, req{method: "POST", path: "/api/v1/payment-methods", token: token, body: map[string]any{
			"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "holder": personName}}).JSON(t, &m)
		sh := shopper{token: token, method: m.ID}
		addr := map[string]string{"name": shipName, "line1": shipLine1, "line2": shipLine2, "city": shipCity,
			"postal_code": shipPostal, "country": "GB", "phone": shipPhone}
		var o struct{ ID string }
		s.must(201, req{method: "POST", path: "/api/v1/checkout", token: token, header: map[string]string{"Idempotency-Key": "pd-1"},
			body: map[string]any{"cart_id": s.cartWith(sh, 1, p.ID), "payment_method": sh.method, "cvc": "123", "shipping_address": addr}}).JSON(t, &o)

		t.Run("the owner and support see it; the export holds all of it", func(t *testing.T) {
			mine := string(s.must(200, req{method: "GET", path: "/api/v1/orders/" + o.ID, token: token}).Body)
			staff := string(s.must(200, req{method: "GET", path: "/api/v1/admin/orders", token: support}).Body)
			export := string(s.must(200, req{method: "GET", path: "/api/v1/me/export", token: token}).Body)
			for _, v := range []string{shipName, shipLine1, shipLine2, shipCity, shipPostal, shipPhone} {
				if !strings.Contains(mine, v) || !strings.Contains(staff, v) {
					t.Errorf("%q missing from the owner's or support's view of the order", v)
				}
			}
			for _, v := range personal {
				if !strings.Contains(export, v) {
					t.Errorf("the export lacks %q", v)
				}
			}
			if !strings.Contains(staff, personEmail) {
				t.Errorf("support does not see the customer's email")
			}
		})

		t.Run("support finds the orders by email through the blind index", func(t *testing.T) {
			var list struct{ Items []struct{ ID string } }
			s.must(200, req{method: "GET", path: "/api/v1/admin/orders?email=" + strings.ToUpper(personEmail), token: support}).JSON(t, &list)
			if len(list.Items) != 1 || list.Items[0].ID != o.ID {
				t.Fatalf("search by email = %+v", list.Items)
			}
			s.must(200, req{method: "GET", path: "/api/v1/admin/orders?email=nobody@example.net", token: support}).JSON(t, &list)
			if len(list.Items) != 0 {
				t.Fatalf("search for an unknown email = %+v", list.Items)
			}
			fulfillment := s.staff(admin, "pd-fulfillment@example.com", "fulfillment")
			if res := s.do(req{method: "GET", path: "/api/v1/admin/orders?email=" + personEmail, token: fulfillment}); res.Status != 403 {
				t.Fatalf("fulfillment searching by email = %d: a match would reveal whose orders they are", res.Status)
			}
			if res := s.do(req{method: "GET", path: "/api/v1/admin/orders?email=" + strings.Repeat("a", 300), token: support}); res.Status != 422 {
				t.Fatalf("an oversized email = %d", res.Status)
			}
		})

		t.Run("nothing personal is stored in the clear", func(t *testing.T) {
			dump := shopDump(t, s)
			if len(dump) == 0 {
				t.Fatal("the shop database is empty: the search proves nothing")
			}
			logs := strings.ToLower(s.Logs.String())
			for _, v := range personal {
				if bytes.Contains(bytes.ToLower(dump), bytes.ToLower([]byte(v))) {
					t.Errorf("the shop database holds %q in the clear", v)
				}
				if strings.Contains(logs, strings.ToLower(v)) {
					t.Errorf("the log holds %q", v)
				}
			}
		})

		// Before erasure: what an attacker holding the files and every keyset
		// would take.
		wrapped := subjectKeyOf(t, s, u.ID)
		if wrapped == nil {
			t.Fatal("the customer has no data key")
		}
		sealed := sealedShipping(t, s, o.ID)
		cipher := piiCipher(t, s)
		if _, err := cipher.Open(u.ID, wrapped, "orders/"+o.ID+"/shipping", sealed); err != nil {
			t.Fatalf("the key and keysets do not open the order's address before erasure: %v", err)
		}
		cardsBefore := vaultCount(t, s)
		refund := func(key string, body any) response {
			return s.do(req{method: "POST", path: "/api/v1/admin/orders/" + o.ID + "/refund", token: admin,
				header: map[string]string{"Idempotency-Key": key}, body: body})
		}
		if res := refund("pd-refund-1", map[string]any{"amount": map[string]any{"amount": 500, "currency": "EUR"}}); res.Status != 200 {
			t.Fatalf("a partial refund before erasure = %d %s", res.Status, res.Body)
		}

		t.Run("a wrong password erases nothing", func(t *testing.T) {
			res := s.do(req{method: "DELETE", path: "/api/v1/me", token: token, body: map[string]string{"password": "not the password at all"}})
			if res.Status != 401 || res.Code(t) != "invalid_credentials" {
				t.Fatalf("erase with a wrong password = %d %s", res.Status, res.Body)
			}
			s.must(200, req{method: "GET", path: "/api/v1/me", token: token})
			for _, body := range []any{nil, "{}", `{"password": 7}`, `{"password":"x","roles":[]}`} {
				if res := s.do(req{method: "DELETE", path: "/api/v1/me", token: token, body: body}); res.Status/100 != 4 {
					t.Errorf("erase with body %v = %d", body, res.Status)
				}
			}
			s.must(200, req{method: "GET", path: "/api/v1/me", token: token})
		})

		t.Run("a staff account must lose its roles first", func(t *testing.T) {
			if res := s.do(req{method: "DELETE", path: "/api/v1/me", token: support, body: map[string]string{"password": testPassword}}); res.Status != 409 || res.Code(t) != "staff_account" {
				t.Fatalf("staff self-erasure = %d %s", res.Status, res.Body)
			}
		})

		s.must(204, req{method: "DELETE", path: "/api/v1/me", token: token, body: map[string]string{"password": testPassword}})

		t.Run("sessions end and the account is gone", func(t *testing.T) {
			if res := s.do(req{method: "GET", path: "/api/v1/me", token: token}); res.Status != 401 {
				t.Fatalf("the erased account's token = %d", res.Status)
			}
			if res := s.do(req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": personEmail, "password": testPassword}}); res.Status != 401 {
				t.Fatalf("login to the erased account = %d", res.Status)
			}
			if n := vaultCount(t, s); n != cardsBefore-1 {
				t.Fatalf("the vault holds %d cards, want %d: the saved card outlived the erasure", n, cardsBefore-1)
			}
		})

		t.Run("the order stays for accounting, without the person", func(t *testing.T) {
			var list struct {
				Items []struct {
					ID, Status, CustomerEmail string
					Total                     struct{ Amount int64 }
					ShippingAddress           map[string]string `json:"shipping_address"`
				}
			}
			res := s.must(200, req{method: "GET", path: "/api/v1/admin/orders", token: support})
			res.JSON(t, &list)
			found := false
			for _, it := range list.Items {
				if it.ID == o.ID {
					found = true
					if it.Status != "partially_refunded" || it.Total.Amount != 1999 || it.ShippingAddress["country"] != "GB" {
						t.Errorf("the erased customer's order = %+v", it)
					}
				}
			}
			if !found {
				t.Fatal("the erased customer's order is gone")
			}
			for _, v := range personal {
				if strings.Contains(string(res.Body), v) {
					t.Errorf("support still sees %q after erasure", v)
				}
			}
			var search struct{ Items []struct{ ID string } }
			s.must(200, req{method: "GET", path: "/api/v1/admin/orders?email=" + personEmail, token: support}).JSON(t, &search)
			if len(search.Items) != 0 {
				t.Fatalf("the erased email still finds orders: %+v", search.Items)
			}
		})

		t.Run("refunds go on after erasure; a retried one replays, without the person", func(t *testing.T) {
			again := refund("pd-refund-1", map[string]any{"amount": map[string]any{"amount": 500, "currency": "EUR"}})
			if again.Status != 200 || again.Header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("the retried refund = %d %s %s", again.Status, again.Header, again.Body)
			}
			rest := refund("pd-refund-2", map[string]any{})
			if rest.Status != 200 || !strings.Contains(string(rest.Body), `"refunded"`) {
				t.Fatalf("refunding the rest after erasure = %d %s", rest.Status, rest.Body)
			}
			if replay := refund("pd-refund-2", map[string]any{}); replay.Status != 200 || replay.Header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("replaying the refund after erasure = %d %s", replay.Status, replay.Body)
			}
			for _, v := range personal {
				if strings.Contains(string(again.Body)+string(rest.Body), v) {
					t.Errorf("a refund answer after erasure holds %q", v)
				}
			}
		})

		t.Run("the personal data cannot be recovered, even with every keyset", func(t *testing.T) {
			if subjectKeyOf(t, s, u.ID) != nil {
				t.Fatal("the customer's data key survived the erasure")
			}
			if _, err := cipher.Open(u.ID, nil, "orders/"+o.ID+"/shipping", sealed); err == nil {
				t.Fatal("the address opened without the customer's key")
			}
			// Every data key still held, tried against the sealed address: none opens it.
			for subject, w := range allSubjectKeys(t, s) {
				if _, err := cipher.Open(subject, w, "orders/"+o.ID+"/shipping", sealed); err == nil {
					t.Fatalf("the key of %s opens the erased customer's address", subject)
				}
			}
			if db.Engine == "sqlite" {
				// The files, write-ahead log included, no longer hold the wrapped key.
				if dump := shopDump(t, s); bytes.Contains(dump, wrapped) {
					t.Fatal("the database files still hold the erased customer's wrapped key")
				}
			}
		})

		t.Run("the erasure is audited and the trail intact", func(t *testing.T) {
			if n := s.countAudit("user.erase"); n != 1 {
				t.Fatalf("%d user.erase records", n)
			}
			if code, out, errOut := runCLI(t, s.Config, "", "audit", "verify"); code != 0 {
				t.Fatalf("audit verify: %s %s", out, errOut)
			}
		})

		t.Run("the email can make a new account", func(t *testing.T) {
			s.registerAs(personEmail, testPassword, "Someone New")
		})

		t.Run("staff erase on request: admin only, with a fresh login", func(t *testing.T) {
			other := s.register("pd-other@example.com")
			if res := s.do(req{method: "DELETE", path: "/api/v1/admin/users/" + other.ID, token: support}); res.Status != 403 {
				t.Fatalf("support erasing = %d", res.Status)
			}
			s.Clock.Advance(6 * time.Minute)
			fresh := s.loginWithMFA("pd-admin@example.com", s.secrets["pd-admin@example.com"])
			if res := s.do(req{method: "DELETE", path: "/api/v1/admin/users/" + other.ID, token: admin}); res.Status != 401 || res.Code(t) != "reauthentication_required" {
				t.Fatalf("erasing with a stale login = %d %s", res.Status, res.Body)
			}
			s.must(204, req{method: "DELETE", path: "/api/v1/admin/users/" + other.ID, token: fresh})
			if res := s.do(req{method: "DELETE", path: "/api/v1/admin/users/" + other.ID, token: fresh}); res.Status != 404 {
				t.Fatalf("erasing twice = %d", res.Status)
			}
			if res := s.do(req{method: "DELETE", path: "/api/v1/admin/users/usr_aaaaaaaaaaaaaaaaaaaaaaaaaa", token: fresh}); res.Status != 404 {
				t.Fatalf("erasing an unknown account = %d", res.Status)
			}
		})
	})
}

// piiCipher builds, from the server's data directory, the cipher an attacker
// with every keyset and the KEK would have.
func piiCipher(t *testing.T, s *server) *pii.Cipher {
	t.Helper()
	ring, err := keys.OpenKeyring(s.Config.DataDir, s.Config.KEK)
	if err != nil {
		t.Fatal(err)
	}
	master, err := ring.AEAD(app.PIIKeyset)
	if err != nil {
		t.Fatal(err)
	}
	index, err := ring.PRF(app.IndexKeyset)
	if err != nil {
		t.Fatal(err)
	}
	return pii.New(master, index)
}

// shopDB opens the server's shop database directly, as an attacker with the files would.
func shopDB(t *testing.T, s *server) *sql.DB {
	t.Helper()
	driver, dsn := "pgx", s.Config.DatabaseURL
	if dsn == "" {
		driver, dsn = "sqlite", "file:"+filepath.Join(s.Config.DataDir, store.SQLiteFile)+"?_pragma=busy_timeout(10000)"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func subjectKeyOf(t *testing.T, s *server, subject string) []byte {
	t.Helper()
	var w []byte
	err := shopDB(t, s).QueryRow("SELECT wrapped FROM subject_keys WHERE subject_id = $1", subject).Scan(&w)
	if err == sql.ErrNoRows {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func allSubjectKeys(t *testing.T, s *server) map[string][]byte {
	t.Helper()
	rows, err := shopDB(t, s).Query("SELECT subject_id, wrapped FROM subject_keys")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var id string
		var w []byte
		if err := rows.Scan(&id, &w); err != nil {
			t.Fatal(err)
		}
		out[id] = w
	}
	return out
}

func sealedShipping(t *testing.T, s *server, orderID string) []byte {
	t.Helper()
	var b []byte
	if err := shopDB(t, s).QueryRow("SELECT ship_sealed FROM orders WHERE id = $1", orderID).Scan(&b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLegacyPersonalDataIsSealedAtStart puts an account, an order and a stored
// answer back the way the version before field encryption kept them, in the
// clear, and checks that the next start seals them: the person can still log
// in and see the order, replay gets the same answer, and the database holds
// none of it in the clear.
func TestLegacyPersonalDataIsSealedAtStart(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("legacy-admin@example.com")
		p := s.createProduct(admin, "LEGACY-1", 5)
		u := s.registerAs(personEmail, testPassword, personName)
		token := s.login(personEmail, testPassword)
		var m struct{ ID string }
		s.must(201, req{method: "POST", path: "/api/v1/payment-methods", token: token, body: map[string]any{
			"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "holder": "H"}}).JSON(t, &m)
		sh := shopper{token: token, method: m.ID}
		addr := map[string]string{"name": shipName, "line1": shipLine1, "line2": shipLine2, "city": shipCity,
			"postal_code": shipPostal, "country": "GB", "phone": shipPhone}
		checkout := req{method: "POST", path: "/api/v1/checkout", token: token, header: map[string]string{"Idempotency-Key": "legacy-1"},
			body: map[string]any{"cart_id": s.cartWith(sh, 1, p.ID), "payment_method": sh.method, "cvc": "123", "shipping_address": addr}}
		first := s.must(201, checkout)
		var o struct{ ID string }
		first.JSON(t, &o)

		// Back to the old layout, as an upgrade from the earlier version finds it.
		raw := shopDB(t, s)
		var answer []byte
		if err := raw.QueryRow("SELECT order_sealed FROM idempotency_keys WHERE idem_key = 'legacy-1'").Scan(&answer); err != nil || answer == nil {
			t.Fatalf("no sealed answer to turn back: %v", err)
		}
		legacyOrder := `{"id":"` + o.ID + `","customer_id":"` + u.ID + `","status":"paid","shipping_address":{"name":"` + shipName + `","line1":"` + shipLine1 + `","city":"` + shipCity + `","postal_code":"` + shipPostal + `","country":"GB"}}`
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{"UPDATE users SET email_index = $1, name = $2, contact = NULL WHERE id = $3", []any{personEmail, personName, u.ID}},
			{"DELETE FROM subject_keys WHERE subject_id = $1", []any{u.ID}},
			{`UPDATE orders SET ship_sealed = NULL, ship_name = $1, ship_line1 = $2, ship_line2 = $3, ship_city = $4,
				ship_postal_code = $5, ship_phone = $6 WHERE id = $7`, []any{shipName, shipLine1, shipLine2, shipCity, shipPostal, shipPhone, o.ID}},
			{"UPDATE idempotency_keys SET order_sealed = NULL, sealed_for = '', order_json = $1 WHERE idem_key = 'legacy-1'", []any{legacyOrder}},
		} {
			if _, err := raw.Exec(q.sql, q.args...); err != nil {
				t.Fatalf("%s: %v", q.sql, err)
			}
		}

		again := startServer(t, db) // seals at start
		if !strings.Contains(again.Logs.String(), "sealed personal data") {
			t.Error("the start did not report sealing the old rows")
		}
		token = again.login(personEmail, testPassword)
		var me user
		again.must(200, req{method: "GET", path: "/api/v1/me", token: token}).JSON(t, &me)
		if me.Email != personEmail || me.Name != personName {
			t.Fatalf("after sealing, /me = %+v", me)
		}
		mine := string(again.must(200, req{method: "GET", path: "/api/v1/orders/" + o.ID, token: token}).Body)
		for _, v := range []string{shipName, shipLine1, shipLine2, shipCity, shipPostal, shipPhone} {
			if !strings.Contains(mine, v) {
				t.Errorf("after sealing, the order lacks %q", v)
			}
		}
		checkout.token = token
		replay := again.must(201, checkout)
		if replay.Header.Get("Idempotent-Replayed") != "true" || !strings.Contains(string(replay.Body), shipLine1) {
			t.Fatalf("replay after sealing = %s %s", replay.Header, replay.Body)
		}
		dump := shopDump(t, again)
		for _, v := range personal {
			if bytes.Contains(dump, []byte(v)) {
				t.Errorf("after sealing, the database still holds %q in the clear", v)
			}
		}
	})
}

// TestErasedKeyInABackupDiesWithRetirement covers the copies erasure cannot
// reach: a backup (or a PostgreSQL dead row, or a log) taken before the
// erasure still holds the person's wrapped data key. Rotating the pii keyset
// re-wraps every live person's key; retiring with --destroy deletes the old
// wrapping key, after which the copy opens nothing, even with every keyset,
// while everyone else's data stays readable.
func TestErasedKeyInABackupDiesWithRetirement(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("backup-admin@example.com")
		p := s.createProduct(admin, "BACKUP-1", 5)
		gone := s.register(personEmail)
		token := s.login(personEmail, testPassword)
		stays := s.register("stays@example.com")

		backupKey := subjectKeyOf(t, s, gone.ID) // the backup's copy
		var contact []byte
		if err := shopDB(t, s).QueryRow("SELECT contact FROM users WHERE id = $1", gone.ID).Scan(&contact); err != nil {
			t.Fatal(err)
		}
		if _, err := piiCipher(t, s).Open(gone.ID, backupKey, "users/"+gone.ID+"/contact", contact); err != nil {
			t.Fatalf("the backup copy does not open before anything happened: %v", err)
		}
		s.must(204, req{method: "DELETE", path: "/api/v1/me", token: token, body: map[string]string{"password": testPassword}})

		if code, out, errOut := runCLI(t, s.Config, "", "keys", "rotate", "--keyset", app.PIIKeyset); code != 0 {
			t.Fatalf("keys rotate: %s%s", out, errOut)
		}
		// Retire sweeps first: it re-wraps whatever the background job has not yet.
		code, out, errOut := runCLIAt(t, s.Config, time.Now().Add(app.RetireAfter+time.Second), "keys", "retire", "--keyset", app.PIIKeyset, "--destroy")
		if code != 0 || !strings.Contains(out, "destroyed keys") {
			t.Fatalf("keys retire --destroy: exit %d\n%s%s", code, out, errOut)
		}
		if _, err := piiCipher(t, s).Open(gone.ID, backupKey, "users/"+gone.ID+"/contact", contact); err == nil {
			t.Fatal("the erased person's key from the backup still opens their data after the wrapping key was destroyed")
		}

		time.Sleep(keys.CheckInterval + 500*time.Millisecond) // the server re-reads the pii keyset
		var me user
		s.must(200, req{method: "GET", path: "/api/v1/me", token: s.login("stays@example.com", testPassword)}).JSON(t, &me)
		if me.ID != stays.ID || me.Email != "stays@example.com" || me.Name != "Test Customer" {
			t.Fatalf("another customer after the rotation = %+v", me)
		}
		sh := s.shopper("new-after-rotation@example.com", "4242424242424242")
		if res := s.checkout(sh, "after-rotation", s.cartWith(sh, 1, p.ID), "123"); res.Status != 201 {
			t.Fatalf("checkout after the rotation: %d %s", res.Status, res.Body)
		}
	})
}
