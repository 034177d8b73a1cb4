package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// pricedShop is a shop set up for the catalog and pricing drills: a tax rate
// and a shipping option for DE, a discount code, a category and a product
// with variants in it, a shopper with three carts.
type pricedShop struct {
	s         *server
	admin     string
	product   string // its first variant is the one in the carts
	variant   string
	category  string
	ship      string
	code      string // the discount code's text
	shopper   shopper
	priced    string // items, code and shipping: ready to check out
	plain     string // items only: the drills add a code and shipping to it
	withCode  string // items and code: the drills take the code off
	shownCost amount // the priced cart's total, as the shopper was shown it
}

// newPricedShop sets a pricedShop up on s; tag keeps its names apart from
// another shop's on the same database.
func newPricedShop(s *server, tag string, maxUses int) pricedShop {
	s.t.Helper()
	f := pricedShop{s: s, code: "DRILL" + tag}
	f.admin = s.createAdmin("drill-admin-" + tag + "@example.com")
	s.must(201, req{method: "POST", path: "/api/v1/admin/tax-rates", token: f.admin,
		body: map[string]any{"country": "DE", "rate_ppm": 190000, "name": "MwSt"}})
	var opt shippingOption
	s.must(201, req{method: "POST", path: "/api/v1/admin/shipping-options", token: f.admin, body: map[string]any{
		"name": "DHL", "zones": []map[string]string{{"country": "DE"}}, "kind": "flat", "prices": eurJSON(490), "active": true}}).JSON(s.t, &opt)
	f.ship = opt.ID
	s.must(201, req{method: "POST", path: "/api/v1/admin/discounts", token: f.admin, body: map[string]any{
		"code": f.code, "kind": "percent", "basis_points": 1000, "active": true, "max_uses": maxUses}})
	var c categoryJSON
	s.must(201, req{method: "POST", path: "/api/v1/admin/categories", token: f.admin,
		body: map[string]any{"name": "Drill " + tag, "slug": "drill-" + strings.ToLower(tag)}}).JSON(s.t, &c)
	f.category = c.ID
	p := drillProduct("DRILL-" + tag)
	p["categories"] = []string{c.ID}
	var fp fullProduct
	s.must(201, req{method: "POST", path: "/api/v1/admin/products", token: f.admin, body: p}).JSON(s.t, &fp)
	f.product, f.variant = fp.ID, fp.Variants[0].ID

	f.shopper = s.shopper("drill-shopper-"+tag+"@example.com", "4242424242424242")
	f.priced = f.pricedCart(f.shopper)
	f.plain = s.cartWith(f.shopper, 1, f.variant)
	f.withCode = s.cartWith(f.shopper, 1, f.variant)
	s.must(200, req{method: "PUT", path: "/api/v1/carts/" + f.withCode + "/discount", token: f.shopper.token, body: map[string]string{"code": f.code}})
	return f
}

// drillProduct is a product in two sizes, priced in euros.
func drillProduct(sku string) map[string]any {
	return map[string]any{"name": "Drill tee " + sku, "description": "<p>Soft</p>", "status": "active",
		"options": []map[string]any{{"name": "size", "values": []string{"S", "M"}}},
		"variants": []map[string]any{
			{"sku": sku + "-S", "options": map[string]string{"size": "S"}, "prices": []any{eur(1000)}, "stock": 1000, "weight_grams": 150},
			{"sku": sku + "-M", "options": map[string]string{"size": "M"}, "prices": []any{eur(1200)}, "stock": 3, "weight_grams": 170},
		}}
}

// pricedCart returns a new cart of sh with two of the variant, the code and
// shipping to DE, and records its total as shown.
func (f *pricedShop) pricedCart(sh shopper) string {
	f.s.t.Helper()
	id := f.s.cartWith(sh, 2, f.variant)
	f.s.must(200, req{method: "PUT", path: "/api/v1/carts/" + id + "/discount", token: sh.token, body: map[string]string{"code": f.code}})
	var c pricedCart
	f.s.must(200, req{method: "PUT", path: "/api/v1/carts/" + id + "/shipping", token: sh.token,
		body: map[string]any{"address": address, "shipping_option": f.ship}}).JSON(f.s.t, &c)
	if c.Discount == nil || c.Shipping == nil || !c.TaxesKnown || c.problems() != "" {
		f.s.t.Fatalf("priced cart = %+v", c)
	}
	f.shownCost = c.Total
	return id
}

// pricedCheckout is the checkout of a priced cart with the total it showed.
func (f *pricedShop) pricedCheckout(sh shopper, key, cart string) req {
	r := checkoutReq(sh, key, cart, "123")
	r.body.(map[string]any)["expected_total"] = f.shownCost
	return r
}

// drillRoute is one request of the drills and what it answers when every
// dependency is up.
type drillRoute struct {
	name  string
	write bool
	want  int
	r     req
}

// routes lists every catalog, pricing and cart route of the wave once. The
// writes are made so that each succeeds once: an outage that half-wrote one
// shows as a conflict or a changed cart afterwards.
func (f *pricedShop) routes(checkoutKey string) []drillRoute {
	cart := func(id string) string { return "/api/v1/carts/" + id }
	sh, admin := f.shopper.token, f.admin
	return []drillRoute{
		{"search", false, 200, req{method: "GET", path: "/api/v1/products?q=drill"}},
		{"filters", false, 200, req{method: "GET", path: "/api/v1/products?category=" + f.category + "&min_price=100&max_price=100000&in_stock=true"}},
		{"product", false, 200, req{method: "GET", path: "/api/v1/products/" + f.product}},
		{"categories", false, 200, req{method: "GET", path: "/api/v1/categories"}},
		{"shipping options", false, 200, req{method: "GET", path: "/api/v1/shipping-options?country=DE"}},
		{"staff tax rates", false, 200, req{method: "GET", path: "/api/v1/admin/tax-rates", token: admin}},
		{"staff shipping options", false, 200, req{method: "GET", path: "/api/v1/admin/shipping-options", token: admin}},
		{"staff discounts", false, 200, req{method: "GET", path: "/api/v1/admin/discounts", token: admin}},
		{"staff categories", false, 200, req{method: "GET", path: "/api/v1/admin/categories", token: admin}},
		{"cart", false, 200, req{method: "GET", path: cart(f.priced), token: sh}},
		{"new tax rate", true, 201, req{method: "POST", path: "/api/v1/admin/tax-rates", token: admin,
			body: map[string]any{"country": "AT", "rate_ppm": 200000, "name": "USt"}}},
		{"new shipping option", true, 201, req{method: "POST", path: "/api/v1/admin/shipping-options", token: admin, body: map[string]any{
			"name": "Post AT", "zones": []map[string]string{{"country": "AT"}}, "kind": "flat", "prices": eurJSON(690), "active": true}}},
		{"new discount", true, 201, req{method: "POST", path: "/api/v1/admin/discounts", token: admin,
			body: map[string]any{"code": f.code + "NEW", "kind": "percent", "basis_points": 500, "active": true}}},
		{"new category", true, 201, req{method: "POST", path: "/api/v1/admin/categories", token: admin,
			body: map[string]any{"name": "Drill new", "slug": strings.ToLower(f.code) + "-new"}}},
		{"new product with variants", true, 201, req{method: "POST", path: "/api/v1/admin/products", token: admin, body: drillProduct(f.code + "-NEW")}},
		{"product change", true, 200, req{method: "PATCH", path: "/api/v1/admin/products/" + f.product, token: admin, body: map[string]any{"description": "<p>Drilled</p>"}}},
		{"cart item", true, 200, req{method: "PUT", path: cart(f.plain) + "/items/" + f.variant, token: sh, body: map[string]int{"quantity": 3}}},
		{"cart code", true, 200, req{method: "PUT", path: cart(f.plain) + "/discount", token: sh, body: map[string]string{"code": f.code}}},
		{"cart code removed", true, 200, req{method: "DELETE", path: cart(f.withCode) + "/discount", token: sh}},
		{"cart shipping", true, 200, req{method: "PUT", path: cart(f.plain) + "/shipping", token: sh,
			body: map[string]any{"address": map[string]string{"country": "DE"}, "shipping_option": f.ship}}},
		{"priced checkout", true, 201, f.pricedCheckout(f.shopper, checkoutKey, f.priced)},
	}
}

// shopState is what the drills' writes would change, read through the API.
type shopState struct {
	stock     int64
	uses      int64
	orders    int
	discounts int
	taxRates  int
	shipping  int
	products  int
	plain     pricedCart
	withCode  pricedCart
}

func (f *pricedShop) state() shopState {
	f.s.t.Helper()
	s, st := f.s, shopState{}
	var p fullProduct
	s.must(200, req{method: "GET", path: "/api/v1/products/" + f.product}).JSON(s.t, &p)
	st.stock = p.Variants[0].Stock
	var ds struct{ Items []discountCode }
	s.must(200, req{method: "GET", path: "/api/v1/admin/discounts", token: f.admin}).JSON(s.t, &ds)
	for _, d := range ds.Items {
		if d.Code == f.code {
			st.uses = d.Uses
		}
	}
	st.discounts = len(ds.Items)
	var list struct{ Items []any }
	s.must(200, req{method: "GET", path: "/api/v1/orders?limit=100", token: f.shopper.token}).JSON(s.t, &list)
	st.orders = len(list.Items)
	s.must(200, req{method: "GET", path: "/api/v1/admin/tax-rates", token: f.admin}).JSON(s.t, &list)
	st.taxRates = len(list.Items)
	s.must(200, req{method: "GET", path: "/api/v1/admin/shipping-options", token: f.admin}).JSON(s.t, &list)
	st.shipping = len(list.Items)
	s.must(200, req{method: "GET", path: "/api/v1/admin/products", token: f.admin}).JSON(s.t, &list)
	st.products = len(list.Items)
	s.must(200, req{method: "GET", path: "/api/v1/carts/" + f.plain, token: f.shopper.token}).JSON(s.t, &st.plain)
	s.must(200, req{method: "GET", path: "/api/v1/carts/" + f.withCode, token: f.shopper.token}).JSON(s.t, &st.withCode)
	return st
}

// countOrders is how many orders the shoppers have, asked through must (a
// server's or a process's).
func countOrders(t testing.TB, must func(int, req) response, shoppers ...shopper) int {
	t.Helper()
	n := 0
	for _, sh := range shoppers {
		var list struct{ Items []any }
		must(200, req{method: "GET", path: "/api/v1/orders?limit=100", token: sh.token}).JSON(t, &list)
		n += len(list.Items)
	}
	return n
}

// drillBound is the longest a request may take during an outage: far below
// the server's 30 s write timeout, so that none waits on a dead connection.
const drillBound = 8 * time.Second

// refused asserts that r answers 503 (unavailable or not_ready) with
// Retry-After within drillBound.
func (o *outage) refused(what string, r req) {
	o.t.Helper()
	start := time.Now()
	res := o.do(r)
	took := time.Since(start)
	code := ""
	if res.Status == 503 {
		code = res.Code(o.t)
	}
	if res.Status != 503 || (code != "unavailable" && code != "not_ready") || res.Header.Get("Retry-After") == "" || took > drillBound {
		o.t.Errorf("%s during the outage = %d %s (Retry-After %q) in %s, want 503 unavailable with Retry-After within %s",
			what, res.Status, res.Body, res.Header.Get("Retry-After"), took.Round(time.Millisecond), drillBound)
	}
}

// recovered checks, after an outage in which every write of f.routes was
// refused, that none of them left anything behind; then runs them all and
// checks that the checkout refused during the outage, retried with its key,
// makes exactly one order.
func (f *pricedShop) recovered(o *outage, before shopState, key string) {
	t := o.t
	t.Helper()
	after := f.state()
	if after.stock != before.stock || after.uses != before.uses || after.orders != before.orders ||
		after.discounts != before.discounts || after.taxRates != before.taxRates || after.shipping != before.shipping || after.products != before.products {
		t.Fatalf("writes refused during the outage changed the shop: %+v → %+v", before, after)
	}
	if after.plain.Discount != nil || after.plain.Shipping != nil || after.plain.Items[0].Discount.Amount != 0 ||
		after.withCode.Discount == nil || after.plain.Total != before.plain.Total {
		t.Fatalf("cart changes refused during the outage changed the carts: %+v → %+v", before, after)
	}
	var orderID string
	for _, rt := range f.routes(key) {
		res := o.until(rt.name, rt.want, rt.r)
		if rt.name == "priced checkout" {
			var ord pricedOrder
			res.JSON(t, &ord)
			orderID = ord.ID
			if ord.Total != f.shownCost || ord.DiscountCode != f.code {
				t.Fatalf("the order %+v, the cart showed %+v", ord, f.shownCost)
			}
		}
	}
	again := o.do(f.pricedCheckout(f.shopper, key, f.priced))
	var ord pricedOrder
	again.JSON(t, &ord)
	if again.Status != 201 || again.Header.Get("Idempotent-Replayed") == "" || ord.ID != orderID {
		t.Fatalf("the key once more = %d %s, want the order %s replayed", again.Status, again.Body, orderID)
	}
	done := f.state()
	if done.orders != before.orders+1 || done.uses != before.uses+1 || done.stock != before.stock-2 {
		t.Fatalf("after one checkout: %+v → %+v, want one order, one use, two units", before, done)
	}
	if done.plain.Discount == nil || done.plain.Shipping == nil || done.withCode.Discount != nil {
		t.Fatalf("the cart changes did not hold after recovery: %+v", done)
	}
}

// TestPricedRoutesDatabaseOutage is the outage drill of the catalog, pricing
// and cart routes (issue 12) on PostgreSQL, whose path is cut under a running
// shop: every route answers 503 with Retry-After and a problem, never 500,
// each within drillBound, including requests caught in flight by the cut
// (burst). Once the database is back nothing was half-written (no code,
// shipping or item changed, no stock or discount use taken, nothing created)
// and the checkout refused during the outage, retried with its
// Idempotency-Key, makes exactly one order. (SQLite's outage is a full disk:
// TestPricedRoutesDiskFull.)
func TestPricedRoutesDatabaseOutage(t *testing.T) {
	dbs := testenv.Databases(t)
	if len(dbs) < 2 {
		t.Skip("no PostgreSQL: " + testenv.DatabaseURLVar + " is not set")
	}
	db, proxy := proxied(t, dbs[1])
	s := startServer(t, db, func(c *config.Config) { c.PendingOrderTimeout = 3 * time.Second })
	f := newPricedShop(s, "PG", 100)
	before := f.state()

	proxy.Cut()
	o := &outage{t: t, s: s}
	for _, rt := range f.routes("drill-pg") {
		o.refused(rt.name, rt.r)
	}
	if t.Failed() {
		t.FailNow()
	}
	proxy.Restore()
	f.recovered(o, before, "drill-pg")
	burst(o, &f, proxy)
	o.noServerErrors()
	// The background tasks (lease renewal, recovery) meet the outage too:
	// it is logged once by the tracker, not as an error every second.
	if lines := errorLines(s.Logs.String()); lines != "" {
		t.Fatalf("error lines during the outage:\n%s", lines)
	}
}

// TestPricedRoutesDiskFull is the drill of TestPricedRoutesDatabaseOutage on
// SQLite, whose outage is a full disk (a tmpfs of its own; root only): the
// reads keep serving, every write answers 503 with Retry-After within
// drillBound, and once space is freed nothing was half-written and the
// refused checkout's key makes one order.
func TestPricedRoutesDiskFull(t *testing.T) {
	dir := testenv.SmallDisk(t, "24m")
	s := startServer(t, testenv.Database{Engine: "sqlite", DataDir: dir})
	f := newPricedShop(s, "LITE", 10)
	before := f.state()

	free := testenv.FillDisk(t, dir)
	o := &outage{t: t, s: s}
	for _, rt := range f.routes("drill-lite") {
		if rt.write {
			o.refused(rt.name, rt.r)
			continue
		}
		if res := o.do(rt.r); res.Status != rt.want {
			t.Errorf("%s on a full disk = %d %s, want %d", rt.name, res.Status, res.Body, rt.want)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	free()
	f.recovered(o, before, "drill-lite")
	o.noServerErrors()
}

// burst sends checkouts of priced carts and cart changes from several
// clients and cuts the proxy under them, so that requests meet the cut in
// flight (in a query, between the statements of a transaction, at commit):
// each answers what it answers with the database up, or 503, never 500, and
// none takes longer than drillBound. After Restore every checkout is retried
// with its key until it has a definite answer, and stock, orders and the
// code's uses reconcile: one use per order that used it, none for a
// checkout the cut undid.
func burst(o *outage, f *pricedShop, proxy *testenv.Proxy) {
	t, s := o.t, f.s
	t.Helper()
	type job struct {
		sh   shopper
		cart string
		key  string
	}
	// Three shoppers share the carts: each applies the code to its own, and
	// a customer may try ten codes an hour (pricing.GuessesPerCustomer).
	shoppers := []shopper{f.shopper, s.shopper("drill-burst-a@example.com", "4242424242424242"),
		s.shopper("drill-burst-b@example.com", "4242424242424242")}
	var jobs []job
	for i := range 10 {
		sh := shoppers[i%len(shoppers)]
		jobs = append(jobs, job{sh, f.pricedCart(sh), fmt.Sprintf("drill-burst-%d", i)})
	}
	start, startOrders := f.state(), countOrders(t, s.must, shoppers...)
	var (
		mu   sync.Mutex
		slow []string
		wg   sync.WaitGroup
	)
	timed := func(what string, r req) response {
		begin := time.Now()
		res := s.do(r)
		mu.Lock()
		defer mu.Unlock()
		o.all = append(o.all, res)
		if took := time.Since(begin); took > drillBound {
			slow = append(slow, fmt.Sprintf("%s %s", what, took.Round(time.Millisecond)))
		}
		return res
	}
	var answered atomic.Int64
	work := make(chan job)
	for range 4 {
		wg.Go(func() {
			for j := range work {
				if timed("checkout", f.pricedCheckout(j.sh, j.key, j.cart)).Status == 201 {
					answered.Add(1)
				}
				timed("cart item", req{method: "PUT", path: "/api/v1/carts/" + f.plain + "/items/" + f.variant, token: f.shopper.token, body: map[string]int{"quantity": 1 + len(j.key)%3}})
				timed("search", req{method: "GET", path: "/api/v1/products?q=drill"})
			}
		})
	}
	cut := false
	for _, j := range jobs {
		if !cut && answered.Load() >= 2 {
			proxy.Cut() // the next requests, and those in flight, meet it
			cut = true
		}
		work <- j
	}
	close(work)
	wg.Wait()
	if len(slow) > 0 {
		t.Fatalf("requests caught by the cut took longer than %s: %v", drillBound, slow)
	}
	statuses := map[int]int{}
	for _, r := range o.all[len(o.all)-3*len(jobs):] {
		statuses[r.Status]++
	}
	if statuses[503] == 0 || statuses[201] == 0 {
		t.Fatalf("statuses of the burst %v: the cut did not fall in it", statuses)
	}

	proxy.Restore()
	deadline, recovered := time.Now().Add(20*time.Second), 0
	for _, j := range jobs {
		for {
			res := o.do(f.pricedCheckout(j.sh, j.key, j.cart))
			if res.Status == 201 {
				break
			}
			inProgress := res.Status == 409 && res.Code(t) == "request_in_progress"
			if res.Status != 503 && !inProgress || time.Now().After(deadline) {
				t.Fatalf("retry of %s after the cut = %d %s", j.key, res.Status, res.Body)
			}
			if inProgress {
				// A checkout the cut left pending: its lease runs out on the
				// server's clock (the test's), and the retry recovers it.
				recovered++
				s.Clock.Advance(s.Config.PendingOrderTimeout)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Logf("the burst through the cut answered %v; %d retries met a checkout left pending", statuses, recovered)
	end := f.state()
	orders := countOrders(t, s.must, shoppers...) - startOrders
	if orders != len(jobs) || end.uses-start.uses != int64(len(jobs)) || start.stock-end.stock != 2*int64(len(jobs)) {
		t.Fatalf("%d checkouts through a cut: %d orders, %d uses of the code, %d units sold", len(jobs), orders, end.uses-start.uses, start.stock-end.stock)
	}
}

// send posts r to the server at base and returns its status and body, or the
// error of a server that died under it (no answer). It is safe to call from
// several goroutines, unlike server.do.
func send(base string, r req) (int, []byte, error) {
	body, err := json.Marshal(r.body)
	if err != nil {
		return 0, nil, err
	}
	hr, err := http.NewRequest(r.method, base+r.path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Authorization", "Bearer "+r.token)
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(hr)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

// TestPricedCheckoutCrash kills a server with SIGKILL during a burst of
// checkouts of priced carts (tax, shipping, a discount code with fewer uses
// than carts), restarts it and retries every key: each gets one definite
// answer (its order, or discount_exhausted), the same on every retry; every
// acknowledged order is there and paid; and stock, orders and the code's uses
// reconcile — exactly max_uses orders, one use each, none kept by a checkout
// the kill left half done.
func TestPricedCheckoutCrash(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		cfg := testConfig(db)
		const maxUses, lease = 10, "3s"
		first := startProcess(t, cfg, "--pending-order-timeout", lease)
		f := newPricedShop(first.server, "CRASH", maxUses)
		type job struct {
			sh   shopper
			cart string
			key  string
		}
		// Each applies the code to its carts, within the ten codes a
		// customer may try in an hour (pricing.GuessesPerCustomer).
		shoppers := []shopper{f.shopper, first.shopper("crash-priced@example.com", "4242424242424242"),
			first.shopper("crash-priced-2@example.com", "4242424242424242")}
		var jobs []job
		for i := range 16 {
			sh := shoppers[i%len(shoppers)]
			jobs = append(jobs, job{sh, f.pricedCart(sh), fmt.Sprintf("crash-priced-%d", i)})
		}
		stock := f.state().stock

		var (
			mu    sync.Mutex
			acked = map[string]string{} // key → order id
			sent  atomic.Int64
		)
		work := make(chan job)
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				for j := range work {
					sent.Add(1)
					status, body, err := send(first.URL, f.pricedCheckout(j.sh, j.key, j.cart))
					if err == nil && status == 201 {
						var o pricedOrder
						if json.Unmarshal(body, &o) == nil {
							mu.Lock()
							acked[j.key] = o.ID
							mu.Unlock()
						}
					}
				}
			})
		}
		killed := false
		for _, j := range jobs {
			if !killed && sent.Load() >= 8 {
				first.kill(t)
				killed = true
			}
			work <- j
		}
		close(work)
		wg.Wait()
		if !killed || len(acked) == 0 {
			t.Fatalf("killed %v with %d checkouts acknowledged: nothing was tested", killed, len(acked))
		}
		left := pendingOrders(t, cfg)

		second := startProcess(t, cfg, "--pending-order-timeout", lease)
		f.s = second.server
		answer := func(j job) (status int, orderID string) {
			t.Helper()
			deadline := time.Now().Add(15 * time.Second)
			for {
				res := second.do(f.pricedCheckout(j.sh, j.key, j.cart))
				switch {
				case res.Status == 201:
					var o pricedOrder
					res.JSON(t, &o)
					return 201, o.ID
				case res.Status == 409 && res.Code(t) == "discount_exhausted":
					return 409, ""
				case res.Status != 409 || res.Code(t) != "request_in_progress" || time.Now().After(deadline):
					t.Fatalf("retry of %s after the restart = %d %s\n%s", j.key, res.Status, res.Body, errorLines(second.Logs.String()))
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
		orders := map[string]string{}
		for _, j := range jobs {
			status, id := answer(j)
			if was, ok := acked[j.key]; ok && id != was {
				t.Fatalf("%s was acknowledged with %s before the kill, answers %d %s after", j.key, was, status, id)
			}
			if status == 201 {
				orders[j.key] = id
			}
		}
		for _, j := range jobs {
			if id, ok := acked[j.key]; ok {
				var o orderJSON
				second.must(200, req{method: "GET", path: "/api/v1/orders/" + id, token: j.sh.token}).JSON(t, &o)
				if o.Status != "paid" {
					t.Fatalf("acknowledged order %s is %s after the crash", id, o.Status)
				}
			}
		}
		for _, j := range jobs { // once more: the same answer, no second order
			if status, id := answer(j); id != orders[j.key] || (status == 201) != (id != "") {
				t.Fatalf("%s answered %d %s, then %s", j.key, status, id, orders[j.key])
			}
		}
		st := f.state()
		made := countOrders(t, second.must, shoppers...)
		if len(orders) != maxUses || st.uses != maxUses || made != maxUses || stock-st.stock != 2*maxUses {
			t.Fatalf("%d carts for a code of %d uses through a kill: %d keys answered an order, %d orders, %d uses, %d units sold",
				len(jobs), maxUses, len(orders), made, st.uses, stock-st.stock)
		}
		if n := pendingOrders(t, cfg); n != 0 {
			t.Fatalf("%d checkouts still pending", n)
		}
		t.Logf("%d checkouts sent, %d acknowledged before the kill, %d left half done", sent.Load(), len(acked), left)
	})
}

// errorLines returns the lines of a server's log at level ERROR.
func errorLines(log string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, `"level":"ERROR"`) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestPricedRoutesRedisOutage stops the shop's Redis (a private one) under
// the catalog, pricing and cart routes: every one answers as with Redis up
// (Redis holds only rate limits and address blocks), a priced checkout is
// taken, and discount-code guessing is still locked out, with Redis down and
// after it restarts empty, since the guard counts in the shop database
// (pricing.NewGuard over the login throttle's table). Never a 500.
func TestPricedRoutesRedisOutage(t *testing.T) {
	r := testenv.StartRedis(t)
	s := startServer(t, sqliteDB(t), func(c *config.Config) { c.RedisURL, c.RedisKeyPrefix = r.URL, redisPrefix() })
	f := newPricedShop(s, "REDIS", 100)
	guesser := f.shopper // last: once locked out, it enters no code
	guessCart := s.cartWith(guesser, 1, f.variant)
	before := f.state()

	r.Stop()
	o := &outage{t: t, s: s}
	for _, rt := range f.routes("drill-redis") {
		if res := o.do(rt.r); res.Status != rt.want {
			t.Fatalf("%s with Redis down = %d %s, want %d", rt.name, res.Status, res.Body, rt.want)
		}
	}
	if after := f.state(); after.orders != before.orders+1 || after.uses != before.uses+1 || after.stock != before.stock-2 {
		t.Fatalf("a priced checkout with Redis down: %+v → %+v", before, after)
	}
	guess := func(i int) response {
		return o.do(req{method: "PUT", path: "/api/v1/carts/" + guessCart + "/discount", token: guesser.token,
			body: map[string]string{"code": fmt.Sprintf("GUESS%03d", i)}})
	}
	var last response
	for i := range 11 {
		if last = guess(i); last.Status != 422 && last.Status != 429 {
			t.Fatalf("guess %d with Redis down = %d %s", i, last.Status, last.Body)
		}
	}
	if last.Status != 429 || last.Code(t) != "too_many_attempts" || last.Header.Get("Retry-After") == "" {
		t.Fatalf("after 11 guesses with Redis down: %d %s, want 429 too_many_attempts", last.Status, last.Body)
	}
	r.Start() // empty
	if res := guess(99); res.Status != 429 {
		t.Fatalf("a guess after Redis restarted empty = %d %s, want the lock to hold", res.Status, res.Body)
	}
	o.noServerErrors()
	if n := logCount(s, `"level":"ERROR"`); n != 0 {
		t.Fatalf("%d error lines with Redis down:\n%s", n, errorLines(s.Logs.String()))
	}
}
