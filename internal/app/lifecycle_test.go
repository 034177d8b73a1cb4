package app_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/app"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/payment/paymenttest"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// lifecycleOrder is the Order of the API with its history.
type lifecycleOrder struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Items  []struct {
		LineID    string `json:"line_id"`
		ProductID string `json:"product_id"`
		Quantity  int    `json:"quantity"`
		Fulfilled int    `json:"fulfilled"`
	} `json:"items"`
	Total    struct{ Amount int64 } `json:"total"`
	Captured struct{ Amount int64 } `json:"captured"`
	Refunded struct{ Amount int64 } `json:"refunded"`
	Events   []struct {
		ActorKind string `json:"actor_kind"`
		Action    string `json:"action"`
		From      string `json:"from"`
		To        string `json:"to"`
	} `json:"events"`
	Refunds []struct {
		ID     string
		Amount struct{ Amount int64 }
		Status string
	} `json:"refunds"`
	Fulfillments []struct {
		ID             string `json:"id"`
		TrackingNumber string `json:"tracking_number"`
	} `json:"fulfillments"`
}

// lineOf is the id of the order's line of product productID.
func (o lifecycleOrder) lineOf(productID string) string {
	for _, it := range o.Items {
		if it.ProductID == productID {
			return it.LineID
		}
	}
	return ""
}

// fulfilled is how many of line lineID shipped.
func (o lifecycleOrder) fulfilled(lineID string) int {
	for _, it := range o.Items {
		if it.LineID == lineID {
			return it.Fulfilled
		}
	}
	return -1
}

// path is the events as "action:from>to by kind", for comparisons.
func (o lifecycleOrder) path() string {
	var b []string
	for _, e := range o.Events {
		b = append(b, fmt.Sprintf("%s:%s>%s by %s", e.Action, e.From, e.To, e.ActorKind))
	}
	return strings.Join(b, ", ")
}

type lifecycleShop struct {
	*server
	gw                        *paymenttest.FailingGateway
	admin, finance, fulfiller string
	pat                       shopper
}

func newLifecycleShop(t *testing.T, db testenv.Database, adjust ...func(*config.Config)) *lifecycleShop {
	gw := paymenttest.NewFailingGateway()
	s := startServerOpts(t, db, []app.Option{app.WithGateway(gw)}, adjust...)
	admin := s.createAdmin("lc-admin@example.com")
	return &lifecycleShop{server: s, gw: gw, admin: admin,
		finance:   s.staff(admin, "lc-finance@example.com", "finance"),
		fulfiller: s.staff(admin, "lc-fulfil@example.com", "fulfillment"),
		pat:       s.shopper("lc-pat@example.com", "4242424242424242")}
}

// buy checks out qty of each product and returns the order.
func (l *lifecycleShop) buy(key string, qty int, productIDs ...string) lifecycleOrder {
	l.t.Helper()
	var o lifecycleOrder
	l.must(201, checkoutReq(l.pat, key, l.cartWith(l.pat, qty, productIDs...), "123")).JSON(l.t, &o)
	return o
}

// read is the order as staff read it (GET /admin/orders/{id}), raw and decoded.
func (l *lifecycleShop) read(orderID string) ([]byte, lifecycleOrder) {
	l.t.Helper()
	var o lifecycleOrder
	res := l.must(200, req{method: "GET", path: "/api/v1/admin/orders/" + orderID, token: l.admin})
	res.JSON(l.t, &o)
	return res.Body, o
}

func (l *lifecycleShop) post(token, orderID, what string, body any) response {
	l.t.Helper()
	return l.do(req{method: "POST", path: "/api/v1/admin/orders/" + orderID + "/" + what, token: token, body: body})
}

func (l *lifecycleShop) fulfil(orderID string, lines ...any) response {
	l.t.Helper()
	return l.post(l.fulfiller, orderID, "fulfillments", map[string]any{"lines": lines, "carrier": "DHL", "tracking_number": "JD0001"})
}

func line(id string, qty int) map[string]any { return map[string]any{"line_id": id, "quantity": qty} }

// unchanged fails the test when the order reads otherwise than before.
func (l *lifecycleShop) unchanged(t *testing.T, orderID string, before []byte) {
	t.Helper()
	if after, _ := l.read(orderID); !bytes.Equal(after, before) {
		t.Fatalf("the order changed:\nbefore %s\nafter  %s", before, after)
	}
}

func TestOrderLifecycle(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		l := newLifecycleShop(t, db)
		p := l.createProduct(l.admin, "LC-1", 20)
		q := l.createProduct(l.admin, "LC-2", 20)
		o := l.buy("lc-1", 2, p.ID, q.ID)

		t.Run("a paid order shows its lines' ids, its events and empty histories", func(t *testing.T) {
			var mine lifecycleOrder
			l.must(200, req{method: "GET", path: "/api/v1/orders/" + o.ID, token: l.pat.token}).JSON(t, &mine)
			if mine.Status != "paid" || mine.path() != "pay:pending>paid by customer" || len(mine.Items) != 2 ||
				!strings.HasPrefix(mine.Items[0].LineID, "oli_") || mine.Refunds == nil || mine.Fulfillments == nil {
				t.Fatalf("paid order: %+v", mine)
			}
			if strings.Contains(string(l.must(200, req{method: "GET", path: "/api/v1/orders/" + o.ID, token: l.pat.token}).Body), "actor_id") {
				t.Error("a customer is shown who acted on the order")
			}
			o = mine
		})

		t.Run("staff read one order by their role; customers may not", func(t *testing.T) {
			var seen lifecycleOrder
			l.must(200, req{method: "GET", path: "/api/v1/admin/orders/" + o.ID, token: l.fulfiller}).JSON(t, &seen)
			if seen.ID != o.ID || len(seen.Events) != 1 || seen.Refunds != nil {
				t.Fatalf("fulfillment staff see %+v (no amounts, so no refunds)", seen)
			}
			if res := l.do(req{method: "GET", path: "/api/v1/admin/orders/" + o.ID, token: l.pat.token}); res.Status != 403 {
				t.Fatalf("customer reads the staff order route: %d", res.Status)
			}
			for _, bad := range []string{"ord_aaaaaaaaaaaaaaaaaaaaaaaaaa", "nope", "ord_" + strings.Repeat("a", 300)} {
				if res := l.do(req{method: "GET", path: "/api/v1/admin/orders/" + bad, token: l.admin}); res.Status != 404 {
					t.Fatalf("GET admin order %s = %d", bad, res.Status)
				}
			}
		})

		lineP, lineQ := o.lineOf(p.ID), o.lineOf(q.ID)

		t.Run("bad fulfilments get a clear 4xx and change nothing", func(t *testing.T) {
			before, _ := l.read(o.ID)
			stockP := l.stock(p.ID)
			for _, c := range []struct {
				body   any
				status int
				code   string
			}{
				{`{"lines":[{"line_id":"` + lineP + `","quantity":1}],"carrier":"DHL","tracking_number":"T","extra":1}`, 400, "invalid_json"},
				{`{"lines":[{"line_id":"` + lineP + `","quantity":1e30}],"carrier":"DHL","tracking_number":"T"}`, 400, "invalid_json"},
				{`{"lines":[{"line_id":"` + lineP + `","quantity":"1"}],"carrier":"DHL","tracking_number":"T"}`, 400, "invalid_json"},
				{`{"lines":[{"line_id":"` + lineP + `","quantity":99999999999999999999999}],"carrier":"DHL","tracking_number":"T"}`, 400, "invalid_json"},
				{`not json`, 400, "invalid_json"},
				{map[string]any{"lines": []any{line(lineP, 0)}, "carrier": "DHL", "tracking_number": "T"}, 422, "validation_failed"},
				{map[string]any{"lines": []any{line(lineP, -3)}, "carrier": "DHL", "tracking_number": "T"}, 422, "validation_failed"},
				{map[string]any{"lines": []any{line(lineP, 1), line(lineP, 1)}, "carrier": "DHL", "tracking_number": "T"}, 422, "validation_failed"},
				{map[string]any{"lines": []any{}, "carrier": "DHL", "tracking_number": "T"}, 422, "validation_failed"},
				{map[string]any{"lines": []any{line(lineP, 1)}, "carrier": "", "tracking_number": "T"}, 422, "validation_failed"},
				{map[string]any{"lines": []any{line(lineP, 1)}, "carrier": strings.Repeat("x", 101), "tracking_number": "T"}, 422, "validation_failed"},
				{map[string]any{"lines": []any{line("oli_aaaaaaaaaaaaaaaaaaaaaaaaaa", 1)}, "carrier": "DHL", "tracking_number": "T"}, 422, "validation_failed"},
				{map[string]any{"lines": []any{line("var_"+strings.Repeat("a", 26), 1)}, "carrier": "DHL", "tracking_number": "T"}, 422, "validation_failed"},
				{map[string]any{"lines": []any{line(lineP, 3)}, "carrier": "DHL", "tracking_number": "T"}, 409, "fulfillment_exceeds_order"},
				{map[string]any{"lines": []any{line(lineP, 2), line(lineQ, 3)}, "carrier": "DHL", "tracking_number": "T"}, 409, "fulfillment_exceeds_order"},
			} {
				res := l.post(l.fulfiller, o.ID, "fulfillments", c.body)
				if res.Status != c.status || res.Code(t) != c.code {
					t.Errorf("fulfil %v = %d %s, want %d %s", c.body, res.Status, res.Body, c.status, c.code)
				}
			}
			if res := l.fulfil("ord_aaaaaaaaaaaaaaaaaaaaaaaaaa", line(lineP, 1)); res.Status != 404 {
				t.Errorf("fulfil of an unknown order = %d", res.Status)
			}
			if res := l.post(l.finance, o.ID, "fulfillments", map[string]any{"lines": []any{line(lineP, 1)}, "carrier": "D", "tracking_number": "T"}); res.Status != 403 {
				t.Errorf("finance fulfils: %d", res.Status)
			}
			l.unchanged(t, o.ID, before)
			if st := l.stock(p.ID); st != stockP {
				t.Errorf("stock %d, was %d", st, stockP)
			}
		})

		t.Run("a fulfilment of some lines makes the order partially fulfilled", func(t *testing.T) {
			var out struct {
				Fulfillment struct {
					ID    string `json:"id"`
					Lines []struct {
						LineID   string `json:"line_id"`
						Quantity int    `json:"quantity"`
					} `json:"lines"`
				} `json:"fulfillment"`
				Order lifecycleOrder `json:"order"`
			}
			l.fulfilOK(t, o.ID, line(lineP, 2), line(lineQ, 1)).JSON(t, &out)
			if !strings.HasPrefix(out.Fulfillment.ID, "ful_") || len(out.Fulfillment.Lines) != 2 || out.Order.Status != "partially_fulfilled" ||
				out.Order.fulfilled(lineP) != 2 || out.Order.fulfilled(lineQ) != 1 || len(out.Order.Fulfillments) != 1 {
				t.Fatalf("after a partial fulfilment: %+v", out)
			}
		})

		t.Run("a cancellation after a fulfilment is refused and changes nothing", func(t *testing.T) {
			before, _ := l.read(o.ID)
			refunds := l.gw.Calls(paymenttest.Refund)
			if res := l.post(l.finance, o.ID, "cancel", map[string]any{}); res.Status != 409 || res.Code(t) != "illegal_transition" {
				t.Fatalf("cancel after a fulfilment = %d %s", res.Status, res.Body)
			}
			for _, what := range []string{"void", "capture"} {
				res := l.post(l.finance, o.ID, what, map[string]any{})
				if what == "void" && (res.Status != 409 || res.Code(t) != "illegal_transition") {
					t.Fatalf("void of a captured order = %d %s", res.Status, res.Body)
				}
				if what == "capture" && (res.Status != 200 || res.Header.Get("Idempotent-Replayed") != "true") {
					t.Fatalf("capture of a captured order = %d %s, want it answered as it is", res.Status, res.Body)
				}
			}
			l.unchanged(t, o.ID, before)
			if n := l.gw.Calls(paymenttest.Refund); n != refunds {
				t.Errorf("the processor was asked for %d refunds", n-refunds)
			}
		})

		t.Run("of two concurrent fulfilments of the last unit, one is recorded", func(t *testing.T) {
			var wg sync.WaitGroup
			statuses := make(chan int, 2)
			for range 2 {
				wg.Go(func() { statuses <- l.fulfil(o.ID, line(lineQ, 1)).Status })
			}
			wg.Wait()
			close(statuses)
			counts := map[int]int{}
			for st := range statuses {
				counts[st]++
			}
			if counts[201] != 1 || counts[409] != 1 {
				t.Fatalf("concurrent fulfilments of the last unit: %v, want one 201 and one 409", counts)
			}
			_, after := l.read(o.ID)
			if after.Status != "fulfilled" || after.fulfilled(lineQ) != 2 || len(after.Fulfillments) != 2 {
				t.Fatalf("after the last fulfilment: %+v", after)
			}
			if res := l.fulfil(o.ID, line(lineP, 1)); res.Status != 409 {
				t.Fatalf("fulfil of a fulfilled order = %d %s", res.Status, res.Body)
			}
		})

		t.Run("refunds of a shipped order go through the lifecycle and are listed", func(t *testing.T) {
			res := l.do(req{method: "POST", path: "/api/v1/admin/orders/" + o.ID + "/refund", token: l.finance,
				header: map[string]string{"Idempotency-Key": "lc-r1"}, body: map[string]any{"amount": map[string]any{"amount": 100, "currency": "EUR"}}})
			if res.Status != 200 {
				t.Fatalf("partial refund = %d %s", res.Status, res.Body)
			}
			res = l.do(req{method: "POST", path: "/api/v1/admin/orders/" + o.ID + "/refund", token: l.finance,
				header: map[string]string{"Idempotency-Key": "lc-r2"}, body: map[string]any{}})
			if res.Status != 200 {
				t.Fatalf("full refund = %d %s", res.Status, res.Body)
			}
			_, after := l.read(o.ID)
			want := "pay:pending>paid by customer, fulfil_partial:paid>partially_fulfilled by staff, fulfil:partially_fulfilled>fulfilled by staff, " +
				"refund_partial:fulfilled>partially_refunded by staff, refund:partially_refunded>refunded by staff"
			if after.Status != "refunded" || after.path() != want || len(after.Refunds) != 2 || after.Refunds[0].Status != "succeeded" {
				t.Fatalf("after refunds: %s\n%+v", after.path(), after)
			}
			if res := l.post(l.finance, o.ID, "cancel", map[string]any{}); res.Status != 409 || res.Code(t) != "illegal_transition" {
				t.Fatalf("cancel of a refunded order = %d %s", res.Status, res.Body)
			}
		})

		t.Run("a paid order is cancelled: refunded through a refund record, restocked, once", func(t *testing.T) {
			c := l.buy("lc-2", 3, p.ID)
			stock := l.stock(p.ID)
			before, _ := l.read(c.ID)
			for _, bad := range []any{nil, `{"why":"x"}`, `[]`, `{} {}`} {
				if res := l.post(l.finance, c.ID, "cancel", bad); res.Status < 400 || res.Status >= 500 {
					t.Fatalf("cancel with body %v = %d", bad, res.Status)
				}
			}
			if res := l.post(l.fulfiller, c.ID, "cancel", map[string]any{}); res.Status != 403 {
				t.Fatalf("fulfillment staff cancel: %d", res.Status)
			}
			l.unchanged(t, c.ID, before)
			// The processor does not answer the refund: 503, the order is
			// not cancelled and the stock is as it was; the refund stays
			// reserved (it may have been made), for the retry to resume
			// under the same id rather than make a second.
			l.gw.FailNext(paymenttest.Refund, 1)
			if res := l.post(l.finance, c.ID, "cancel", map[string]any{}); res.Status != 503 || res.Header.Get("Retry-After") == "" {
				t.Fatalf("cancel with a failing refund = %d %s", res.Status, res.Body)
			}
			if _, mid := l.read(c.ID); mid.Status != "paid" || len(mid.Refunds) != 1 || mid.Refunds[0].Status != "pending" {
				t.Fatalf("after the unanswered refund: %s %+v", mid.Status, mid.Refunds)
			}
			if st := l.stock(p.ID); st != stock {
				t.Fatalf("stock %d after a failed cancellation, want %d", st, stock)
			}
			refunds := l.gw.Calls(paymenttest.Refund)

			var wg sync.WaitGroup
			answers := make(chan response, 3)
			for range 3 {
				wg.Go(func() { answers <- l.post(l.finance, c.ID, "cancel", map[string]any{}) })
			}
			wg.Wait()
			close(answers)
			fresh := 0
			for res := range answers {
				switch {
				case res.Status == 200 && res.Header.Get("Idempotent-Replayed") == "":
					fresh++
				case res.Status == 200 || res.Status == 409 && res.Code(t) == "request_in_progress":
				default:
					t.Fatalf("concurrent cancel = %d %s", res.Status, res.Body)
				}
			}
			if fresh != 1 || l.gw.Calls(paymenttest.Refund) != refunds+1 {
				t.Fatalf("%d cancellations ran, %d refunds at the processor; want one of each", fresh, l.gw.Calls(paymenttest.Refund)-refunds)
			}
			res := l.post(l.finance, c.ID, "cancel", map[string]any{})
			if res.Status != 200 || res.Header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("repeated cancel = %d %s", res.Status, res.Body)
			}
			_, after := l.read(c.ID)
			if after.Status != "cancelled" || after.Refunded.Amount != after.Captured.Amount || len(after.Refunds) != 1 ||
				after.Refunds[0].Status != "succeeded" || after.Refunds[0].Amount.Amount != after.Total.Amount ||
				after.path() != "pay:pending>paid by customer, cancel:paid>cancelled by staff" {
				t.Fatalf("cancelled order: %s %+v", after.path(), after)
			}
			if st := l.stock(p.ID); st != stock+3 {
				t.Fatalf("stock %d after the cancellation, want %d", st, stock+3)
			}
			if res := l.fulfil(c.ID, line(after.Items[0].LineID, 1)); res.Status != 409 || res.Code(t) != "illegal_transition" {
				t.Fatalf("fulfil of a cancelled order = %d %s", res.Status, res.Body)
			}
			if res := l.do(req{method: "POST", path: "/api/v1/admin/orders/" + c.ID + "/refund", token: l.finance,
				header: map[string]string{"Idempotency-Key": "lc-after-cancel"}, body: map[string]any{}}); res.Status != 409 {
				t.Fatalf("refund of a cancelled order = %d %s", res.Status, res.Body)
			}
		})

		t.Run("every transition is audited with its actor and the trail verifies", func(t *testing.T) {
			for action, min := range map[string]int{"order.pay": 2, "order.fulfil_partial": 1, "order.fulfil": 1, "order.refund": 1, "order.cancel": 1} {
				if n := l.countAudit(action); n < min {
					t.Errorf("%d %s audit records, want at least %d", n, action, min)
				}
			}
			if code, out, errOut := runCLI(t, l.Config, "", "audit", "verify"); code != 0 {
				t.Fatalf("audit verify: %s %s", out, errOut)
			}
		})
	})
}

// fulfilOK fulfils and fails the test unless it is created.
func (l *lifecycleShop) fulfilOK(t *testing.T, orderID string, lines ...any) response {
	t.Helper()
	res := l.fulfil(orderID, lines...)
	if res.Status != 201 {
		t.Fatalf("fulfil = %d %s", res.Status, res.Body)
	}
	return res
}

func TestAuthorizeThenCapture(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		l := newLifecycleShop(t, db, allowLoopback, func(c *config.Config) {
			c.CaptureAtFulfilment = true
			c.AuthorizationExpiry = time.Hour
			c.PendingOrderTimeout = 2 * time.Second // the recovery job ticks every third of it
		})
		p := l.createProduct(l.admin, "AC-1", 20)
		var first lifecycleOrder // left authorized, until it expires
		recv := newHookReceiver(t)
		var hook webhookJSON
		l.must(201, req{method: "POST", path: "/api/v1/admin/webhooks", token: l.admin, body: map[string]any{"url": hookURL(recv.Server),
			"events": []string{"order.authorized", "order.paid", "order.fulfilled", "order.cancelled", "refund.created"}}}).JSON(t, &hook)

		t.Run("the checkout only authorizes", func(t *testing.T) {
			o := l.buy("ac-1", 2, p.ID)
			first = o
			if o.Status != "authorized" || o.Captured.Amount != 0 || l.gw.Calls(paymenttest.Capture) != 0 {
				t.Fatalf("checkout with payment-capture=fulfilment: %+v, %d captures", o, l.gw.Calls(paymenttest.Capture))
			}
			if n := l.countAudit("order.authorize"); n != 1 {
				t.Fatalf("%d order.authorize audit records", n)
			}
		})

		t.Run("of concurrent captures one reaches the processor; repeats answer the order", func(t *testing.T) {
			o := l.buy("ac-2", 1, p.ID)
			if res := l.post(l.fulfiller, o.ID, "capture", map[string]any{}); res.Status != 403 {
				t.Fatalf("fulfillment staff capture: %d", res.Status)
			}
			var wg sync.WaitGroup
			answers := make(chan response, 4)
			for range 4 {
				wg.Go(func() { answers <- l.post(l.finance, o.ID, "capture", map[string]any{}) })
			}
			wg.Wait()
			close(answers)
			for res := range answers {
				if res.Status != 200 && !(res.Status == 409 && res.Code(t) == "request_in_progress") {
					t.Fatalf("concurrent capture = %d %s", res.Status, res.Body)
				}
			}
			if n := l.gw.Calls(paymenttest.Capture); n != 1 {
				t.Fatalf("%d captures at the processor, want 1", n)
			}
			res := l.post(l.finance, o.ID, "capture", map[string]any{})
			var after lifecycleOrder
			res.JSON(t, &after)
			if res.Status != 200 || res.Header.Get("Idempotent-Replayed") != "true" || after.Status != "paid" ||
				after.Captured.Amount != after.Total.Amount || after.path() != "authorize:pending>authorized by customer, capture:authorized>paid by staff" {
				t.Fatalf("captured order: %d %s", res.Status, res.Body)
			}
			if n := l.gw.Calls(paymenttest.Capture); n != 1 {
				t.Fatalf("%d captures at the processor after a repeat, want 1", n)
			}
		})

		t.Run("a void restocks and cancels, once", func(t *testing.T) {
			o := l.buy("ac-3", 4, p.ID)
			stock := l.stock(p.ID)
			before, _ := l.read(o.ID)
			l.gw.FailNext(paymenttest.Void, 1)
			if res := l.post(l.finance, o.ID, "void", map[string]any{}); res.Status != 503 {
				t.Fatalf("void with a failing processor = %d %s", res.Status, res.Body)
			}
			l.unchanged(t, o.ID, before)
			if st := l.stock(p.ID); st != stock {
				t.Fatalf("stock %d after a failed void, want %d", st, stock)
			}
			voids := l.gw.Calls(paymenttest.Void)
			for range 2 {
				if res := l.post(l.finance, o.ID, "void", map[string]any{}); res.Status != 200 {
					t.Fatalf("void = %d %s", res.Status, res.Body)
				}
			}
			if n := l.gw.Calls(paymenttest.Void); n != voids+1 {
				t.Fatalf("%d voids at the processor, want 1", n-voids)
			}
			_, after := l.read(o.ID)
			if after.Status != "cancelled" || after.path() != "authorize:pending>authorized by customer, void:authorized>cancelled by staff" {
				t.Fatalf("voided order: %+v", after)
			}
			if st := l.stock(p.ID); st != stock+4 {
				t.Fatalf("stock %d after the void, want %d", st, stock+4)
			}
			if res := l.post(l.finance, o.ID, "capture", map[string]any{}); res.Status != 409 || res.Code(t) != "illegal_transition" {
				t.Fatalf("capture of a voided order = %d %s", res.Status, res.Body)
			}
		})

		t.Run("the first fulfilment captures; a failed capture records no fulfilment", func(t *testing.T) {
			o := l.buy("ac-4", 1, p.ID)
			before, _ := l.read(o.ID)
			captures := l.gw.Calls(paymenttest.Capture)
			l.gw.FailNext(paymenttest.Capture, 1)
			if res := l.fulfil(o.ID, line(o.Items[0].LineID, 1)); res.Status != 503 {
				t.Fatalf("fulfil with a failing capture = %d %s", res.Status, res.Body)
			}
			l.unchanged(t, o.ID, before)
			res := l.fulfilOK(t, o.ID, line(o.Items[0].LineID, 1))
			var out struct{ Order lifecycleOrder }
			res.JSON(t, &out)
			if out.Order.Status != "fulfilled" || out.Order.Captured.Amount != out.Order.Total.Amount ||
				out.Order.path() != "authorize:pending>authorized by customer, capture:authorized>paid by staff, fulfil:paid>fulfilled by staff" {
				t.Fatalf("fulfilled order: %s %+v", out.Order.path(), out.Order)
			}
			if n := l.gw.Calls(paymenttest.Capture); n != captures+2 {
				t.Fatalf("%d capture calls, want the failed one and one more", n-captures)
			}
		})

		t.Run("a cancellation of an authorized order voids it", func(t *testing.T) {
			o := l.buy("ac-5", 1, p.ID)
			voids := l.gw.Calls(paymenttest.Void)
			if res := l.post(l.finance, o.ID, "cancel", map[string]any{}); res.Status != 200 {
				t.Fatalf("cancel = %d %s", res.Status, res.Body)
			}
			_, after := l.read(o.ID)
			if after.Status != "cancelled" || len(after.Refunds) != 0 || l.gw.Calls(paymenttest.Void) != voids+1 ||
				after.path() != "authorize:pending>authorized by customer, cancel:authorized>cancelled by staff" {
				t.Fatalf("cancelled authorized order: %s %+v", after.path(), after)
			}
		})

		t.Run("each transition's webhook event is in the outbox", func(t *testing.T) {
			// Five checkouts authorized; two captures (staff, and the first
			// fulfilment's); a void and a cancellation; one fulfilment. The
			// last ones' deliveries appear at the workers' next dispatch of
			// the event outbox, a moment after the change.
			want := map[string]int{"order.authorized": 5, "order.paid": 2, "order.cancelled": 2, "order.fulfilled": 1}
			deadline := time.Now().Add(10 * time.Second)
			for {
				var ds struct{ Items []deliveryJSON }
				l.must(200, req{method: "GET", path: "/api/v1/admin/webhooks/" + hook.ID + "/deliveries?limit=100", token: l.admin}).JSON(t, &ds)
				got := map[string]int{}
				for _, d := range ds.Items {
					got[d.EventType]++
				}
				if fmt.Sprint(got) == fmt.Sprint(want) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("webhook events %v, want %v", got, want)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})

		t.Run("an authorization past authorization-expiry is voided and restocked by the system", func(t *testing.T) {
			o := l.buy("ac-6", 3, p.ID)
			stock := l.stock(p.ID)
			voids := l.gw.Calls(paymenttest.Void)
			l.Clock.Advance(30 * time.Minute)
			time.Sleep(2 * time.Second) // a few ticks of the job: nothing is due yet
			var now lifecycleOrder      // read as the customer: staff sessions end after 15 idle minutes
			if l.must(200, req{method: "GET", path: "/api/v1/orders/" + o.ID, token: l.pat.token}).JSON(t, &now); now.Status != "authorized" {
				t.Fatalf("an authorization half its expiry old: %+v", now)
			}
			l.Clock.Advance(31 * time.Minute) // past the expiry of both
			var after lifecycleOrder
			deadline := time.Now().Add(20 * time.Second)
			for after.Status != "cancelled" && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
				l.must(200, req{method: "GET", path: "/api/v1/orders/" + o.ID, token: l.pat.token}).JSON(t, &after)
			}
			if after.Status != "cancelled" || after.path() != "authorize:pending>authorized by customer, expire:authorized>cancelled by system" {
				t.Fatalf("expired authorization: %s %+v", after.path(), after)
			}
			for first.Status != "cancelled" && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
				l.must(200, req{method: "GET", path: "/api/v1/orders/" + first.ID, token: l.pat.token}).JSON(t, &first)
			}
			// Both authorizations left (3 + 2 units) come back; the
			// captured and cancelled orders are not touched.
			if st := l.stock(p.ID); st != stock+5 || first.Status != "cancelled" || l.gw.Calls(paymenttest.Void) != voids+2 {
				t.Fatalf("stock %d after the expiry, want %d; first order %s; %d voids", st, stock+5, first.Status, l.gw.Calls(paymenttest.Void)-voids)
			}
			if !l.auditHas("order.expire", "success", "by system") {
				t.Fatal("no audit record of the expiry")
			}
		})
	})
}

type returnJSON struct {
	ID       string `json:"id"`
	OrderID  string `json:"order_id"`
	Status   string `json:"status"`
	RefundID string `json:"refund_id"`
	Lines    []struct {
		LineID   string `json:"line_id"`
		Quantity int    `json:"quantity"`
		Restock  bool   `json:"restock"`
	} `json:"lines"`
}

func TestReturns(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		l := newLifecycleShop(t, db, func(c *config.Config) { c.ReturnWindow = time.Hour })
		p := l.createProduct(l.admin, "RT-1", 20)
		q := l.createProduct(l.admin, "RT-2", 20)
		o := l.buy("rt-1", 3, p.ID, q.ID)
		lineP, lineQ := o.lineOf(p.ID), o.lineOf(q.ID)
		ask := func(token, orderID string, body any) response {
			return l.do(req{method: "POST", path: "/api/v1/orders/" + orderID + "/returns", token: token, body: body})
		}
		ret := func(lines ...any) map[string]any { return map[string]any{"lines": lines, "reason": "too small"} }

		t.Run("nothing shipped, nothing to return", func(t *testing.T) {
			if res := ask(l.pat.token, o.ID, ret(line(lineP, 1))); res.Status != 409 || res.Code(t) != "return_exceeds_shipped" {
				t.Fatalf("return before shipping = %d %s", res.Status, res.Body)
			}
		})
		l.fulfilOK(t, o.ID, line(lineP, 2))

		t.Run("bad returns get a clear 4xx and change nothing", func(t *testing.T) {
			before, _ := l.read(o.ID)
			other := l.shopper("rt-other@example.com", "4242424242424242")
			for _, c := range []struct {
				token, order string
				body         any
				status       int
				code         string
			}{
				{l.pat.token, o.ID, ret(line(lineP, 3)), 409, "return_exceeds_shipped"},
				{l.pat.token, o.ID, ret(line(lineQ, 1)), 409, "return_exceeds_shipped"},
				{l.pat.token, o.ID, ret(line("oli_aaaaaaaaaaaaaaaaaaaaaaaaaa", 1)), 422, "validation_failed"},
				{l.pat.token, o.ID, ret(line(lineP, 0)), 422, "validation_failed"},
				{l.pat.token, o.ID, map[string]any{"lines": []any{line(lineP, 1)}, "reason": ""}, 422, "validation_failed"},
				{l.pat.token, o.ID, map[string]any{"lines": []any{line(lineP, 1)}, "reason": strings.Repeat("r", 501)}, 422, "validation_failed"},
				{l.pat.token, o.ID, `{"lines":[{"line_id":"` + lineP + `","quantity":1e40}],"reason":"x"}`, 400, "invalid_json"},
				{l.pat.token, o.ID, `{"lines":[],"reason":"x","refund":{}}`, 400, "invalid_json"},
				{other.token, o.ID, ret(line(lineP, 1)), 404, "not_found"},
				{l.pat.token, "ord_aaaaaaaaaaaaaaaaaaaaaaaaaa", ret(line(lineP, 1)), 404, "not_found"},
			} {
				res := ask(c.token, c.order, c.body)
				if res.Status != c.status || res.Code(t) != c.code {
					t.Errorf("return %v = %d %s, want %d %s", c.body, res.Status, res.Body, c.status, c.code)
				}
			}
			l.unchanged(t, o.ID, before)
		})

		var r returnJSON
		t.Run("a return of shipped units is requested, accepted and received with a restock and a refund", func(t *testing.T) {
			res := ask(l.pat.token, o.ID, ret(line(lineP, 2)))
			if res.Status != 201 {
				t.Fatalf("return = %d %s", res.Status, res.Body)
			}
			res.JSON(t, &r)
			if !strings.HasPrefix(r.ID, "ret_") || r.Status != "requested" || len(r.Lines) != 1 {
				t.Fatalf("requested return %+v", r)
			}
			if res := ask(l.pat.token, o.ID, ret(line(lineP, 1))); res.Status != 409 || res.Code(t) != "return_exceeds_shipped" {
				t.Fatalf("a second return of the same units = %d %s", res.Status, res.Body)
			}
			admin := func(token, what string, body any) response {
				return l.do(req{method: "POST", path: "/api/v1/admin/returns/" + r.ID + "/" + what, token: token, body: body})
			}
			if res := admin(l.fulfiller, "accept", map[string]any{}); res.Status != 403 {
				t.Fatalf("fulfillment staff accept: %d", res.Status)
			}
			if res := admin(l.finance, "receive", map[string]any{}); res.Status != 409 || res.Code(t) != "illegal_transition" {
				t.Fatalf("receive before accept = %d %s", res.Status, res.Body)
			}
			if res := admin(l.finance, "accept", map[string]any{}); res.Status != 200 {
				t.Fatalf("accept = %d %s", res.Status, res.Body)
			}
			if res := admin(l.finance, "accept", map[string]any{}); res.Status != 409 || res.Code(t) != "illegal_transition" {
				t.Fatalf("accept twice = %d %s", res.Status, res.Body)
			}
			before, _ := l.read(o.ID)
			stock := l.stock(p.ID)
			for _, bad := range []any{
				map[string]any{"refund": map[string]any{"amount": 999999999, "currency": "EUR"}},
				map[string]any{"refund": map[string]any{"amount": 100, "currency": "USD"}},
				map[string]any{"lines": []any{map[string]any{"line_id": lineQ, "restock": true}}},
				map[string]any{"refund": map[string]any{"amount": -1, "currency": "EUR"}},
			} {
				if res := admin(l.finance, "receive", bad); res.Status < 400 || res.Status >= 500 {
					t.Fatalf("receive %v = %d %s", bad, res.Status, res.Body)
				}
			}
			l.unchanged(t, o.ID, before)
			if st := l.stock(p.ID); st != stock {
				t.Fatalf("stock %d after refused receipts, want %d", st, stock)
			}
			// The processor does not answer the refund: 503, nothing received
			// or restocked, the refund left reserved (it may have been made).
			// The retry resumes that refund, with its amount whatever the
			// retry asks: one refund at the processor, never a second.
			l.gw.FailNext(paymenttest.Refund, 1)
			if res := admin(l.finance, "receive", map[string]any{"lines": []any{map[string]any{"line_id": lineP, "restock": true}},
				"refund": map[string]any{"amount": 500, "currency": "EUR"}}); res.Status != 503 || res.Header.Get("Retry-After") == "" {
				t.Fatalf("receive with a failing refund = %d %s", res.Status, res.Body)
			}
			_, mid := l.read(o.ID)
			if len(mid.Refunds) != 1 || mid.Refunds[0].Status != "pending" || mid.Refunds[0].Amount.Amount != 500 {
				t.Fatalf("after the unanswered refund: %+v", mid.Refunds)
			}
			if st := l.stock(p.ID); st != stock {
				t.Fatalf("stock %d after a failed receipt, want %d", st, stock)
			}
			refunds := l.gw.Calls(paymenttest.Refund)
			res = admin(l.finance, "receive", map[string]any{"lines": []any{map[string]any{"line_id": lineP, "restock": true}},
				"refund": map[string]any{"amount": 300, "currency": "EUR"}})
			if n := l.gw.Calls(paymenttest.Refund); n != refunds+1 {
				t.Fatalf("%d refunds at the processor for the retried receipt, want 1", n-refunds)
			}
			if res.Status != 200 {
				t.Fatalf("receive = %d %s", res.Status, res.Body)
			}
			res.JSON(t, &r)
			if r.Status != "received" || r.RefundID != mid.Refunds[0].ID || !r.Lines[0].Restock {
				t.Fatalf("received return %+v, want it to resume refund %s", r, mid.Refunds[0].ID)
			}
			if st := l.stock(p.ID); st != stock+2 {
				t.Fatalf("stock %d after the receipt, want %d", st, stock+2)
			}
			_, after := l.read(o.ID)
			if after.Status != "partially_refunded" || after.Refunded.Amount != 500 || len(after.Refunds) != 1 {
				t.Fatalf("order after the receipt: %s %+v", after.path(), after)
			}
			if res := admin(l.finance, "reject", map[string]any{}); res.Status != 409 {
				t.Fatalf("reject of a received return = %d %s", res.Status, res.Body)
			}
		})

		t.Run("a rejected return frees its units; the window closes", func(t *testing.T) {
			l.fulfilOK(t, o.ID, line(lineQ, 3))
			var r2 returnJSON
			res := ask(l.pat.token, o.ID, ret(line(lineQ, 3)))
			if res.Status != 201 {
				t.Fatalf("return = %d %s", res.Status, res.Body)
			}
			res.JSON(t, &r2)
			if res := l.do(req{method: "POST", path: "/api/v1/admin/returns/" + r2.ID + "/reject", token: l.finance, body: map[string]any{}}); res.Status != 200 {
				t.Fatalf("reject = %d %s", res.Status, res.Body)
			}
			var mine lifecycleOrder
			l.must(200, req{method: "GET", path: "/api/v1/orders/" + o.ID, token: l.pat.token}).JSON(t, &mine)
			if mine.Status == "" || len(mine.Items) != 2 {
				t.Fatalf("order %+v", mine)
			}
			l.Clock.Advance(61 * time.Minute)
			if res := ask(l.pat.token, o.ID, ret(line(lineQ, 1))); res.Status != 409 || res.Code(t) != "return_window_closed" {
				t.Fatalf("return after the window = %d %s", res.Status, res.Body)
			}
		})
		if n := l.countAudit("return.receive"); n != 1 {
			t.Errorf("%d return.receive audit records", n)
		}

		t.Run("erasure takes the reasons the customer wrote; the returns stay", func(t *testing.T) {
			token := l.login("lc-pat@example.com", testPassword)
			l.must(204, req{method: "DELETE", path: "/api/v1/me", token: token, body: map[string]string{"password": testPassword}})
			admin := l.loginWithMFA("lc-admin@example.com", l.secrets["lc-admin@example.com"])
			res := l.must(200, req{method: "GET", path: "/api/v1/admin/orders/" + o.ID, token: admin})
			var after struct {
				Returns []struct{ Status, Reason string } `json:"returns"`
			}
			res.JSON(t, &after)
			statuses := map[string]bool{}
			for _, r := range after.Returns {
				statuses[r.Status] = true
			}
			if strings.Contains(string(res.Body), "too small") || len(after.Returns) != 2 || !statuses["received"] || !statuses["rejected"] {
				t.Fatalf("after erasure: %s", res.Body)
			}
		})
	})
}
