package pages

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/bulwark-shop/bulwark/internal/money"
)

// orderRoutes are the order pages: the list, one order, and its actions,
// each a form that posts to a page route calling the API route of the same
// name (which decides who may: support reads but does not refund, and a
// refund needs a recent sign-in).
func orderRoutes() []pageRoute {
	return []pageRoute{
		get("/console/orders", (*page).consoleOrders),
		get("/console/orders/{id}", (*page).consoleOrder),
		post("/console/orders/{id}/capture", orderAction("capture", "captured")),
		post("/console/orders/{id}/void", orderAction("void", "cancelled")),
		post("/console/orders/{id}/cancel", orderAction("cancel", "cancelled")),
		post("/console/orders/{id}/refund", (*page).consoleRefund),
		post("/console/orders/{id}/fulfil", (*page).consoleFulfil),
		post("/console/orders/{id}/returns/{ret}/accept", returnAction("accept", "return-accepted")),
		post("/console/orders/{id}/returns/{ret}/reject", returnAction("reject", "return-rejected")),
		post("/console/orders/{id}/returns/{ret}/receive", (*page).consoleReceiveReturn),
	}
}

// The API's Order as its caller reads it — a customer their own, staff by
// their role: fields the caller's view does not include are absent (nil).
type (
	orderView struct {
		ID              string                 `json:"id"`
		Status          string                 `json:"status"`
		Items           []orderItem            `json:"items"`
		Subtotal        *money.Money           `json:"subtotal"`
		Discount        *money.Money           `json:"discount"`
		DiscountCode    *string                `json:"discount_code"`
		Shipping        *money.Money           `json:"shipping"`
		Tax             *money.Money           `json:"tax"`
		Total           *money.Money           `json:"total"`
		Captured        *money.Money           `json:"captured"`
		Refunded        *money.Money           `json:"refunded"`
		Payment         *orderPayment          `json:"payment"`
		ShippingAddress *addressJSON           `json:"shipping_address"`
		ShippingOption  *struct{ Name string } `json:"shipping_option"`
		Customer        *orderCustomer         `json:"customer"`
		CreatedAt       string                 `json:"created_at"`
		Events          []orderEvent           `json:"events"`
		Refunds         []orderRefund          `json:"refunds"`
		Fulfillments    []orderFulfillment     `json:"fulfillments"`
		Returns         []orderReturn          `json:"returns"`
		Risk            *struct {
			Score    int    `json:"score"`
			Decision string `json:"decision"`
		} `json:"risk"`
	}
	orderItem struct {
		LineID    string            `json:"line_id"`
		SKU       string            `json:"sku"`
		Name      string            `json:"name"`
		Options   map[string]string `json:"options"`
		Quantity  int               `json:"quantity"`
		Fulfilled int               `json:"fulfilled"`
		Returned  int               `json:"returned"`
		UnitPrice *money.Money      `json:"unit_price"`
		LineTotal *money.Money      `json:"line_total"`
	}
	orderPayment  struct{ Brand, Last4 string }
	orderCustomer struct {
		ID    string `json:"id"`
		Email string `json:"email"`
		Name  string `json:"name"`
		Guest bool   `json:"guest"`
	}
	orderEvent struct {
		At        string `json:"at"`
		ActorKind string `json:"actor_kind"`
		Action    string `json:"action"`
		From      string `json:"from"`
		To        string `json:"to"`
	}
	orderRefund struct {
		ID        string      `json:"id"`
		Amount    money.Money `json:"amount"`
		Status    string      `json:"status"`
		CreatedAt string      `json:"created_at"`
	}
	orderFulfillment struct {
		ID             string `json:"id"`
		Carrier        string `json:"carrier"`
		TrackingNumber string `json:"tracking_number"`
		CreatedAt      string `json:"created_at"`
		Lines          []struct {
			LineID   string `json:"line_id"`
			Quantity int    `json:"quantity"`
		} `json:"lines"`
	}
	orderReturn struct {
		ID        string `json:"id"`
		Status    string `json:"status"`
		Reason    string `json:"reason"`
		CreatedAt string `json:"created_at"`
		Lines     []struct {
			LineID   string `json:"line_id"`
			Quantity int    `json:"quantity"`
			Restock  bool   `json:"restock"`
		} `json:"lines"`
	}
)

// Open says whether the item has units not yet shipped, and how many.
func (it orderItem) Open() int { return max(0, it.Quantity-it.Fulfilled) }

// ItemName names an order line by its id, for fulfilments and returns.
func (o orderView) ItemName(lineID string) string {
	for _, it := range o.Items {
		if it.LineID == lineID {
			return it.Name + " (" + it.SKU + ")"
		}
	}
	return lineID
}

// Currency is the order's currency, when the reader may see amounts.
func (o orderView) Currency() string {
	if o.Total == nil {
		return ""
	}
	return o.Total.Currency
}

// Can says whether the order's status allows action: which forms the page
// offers. The API decides whether it happens.
func (o orderView) Can(action string) bool {
	s := o.Status
	switch action {
	case "capture", "void":
		return s == "authorized" || s == "pending_review"
	case "cancel":
		return s == "authorized" || s == "pending_review" || s == "paid" || (s == "partially_refunded" && !o.shipped())
	case "refund":
		return s == "paid" || s == "partially_fulfilled" || s == "fulfilled" || s == "partially_refunded"
	case "fulfil":
		return (s == "authorized" || s == "paid" || s == "partially_fulfilled" || s == "partially_refunded") && o.open()
	}
	return false
}

// shipped says whether any unit of the order shipped; open whether any
// is left to ship.
func (o orderView) shipped() bool {
	for _, it := range o.Items {
		if it.Fulfilled > 0 {
			return true
		}
	}
	return false
}

func (o orderView) open() bool {
	for _, it := range o.Items {
		if it.Open() > 0 {
			return true
		}
	}
	return false
}

// StatusText is the status as words ("partially refunded").
func (o orderView) StatusText() string { return strings.ReplaceAll(o.Status, "_", " ") }

// ordersPage is the order list's data.
type ordersPage struct {
	Email  string
	Orders []orderView
	Next   string
}

func (p *page) consoleOrders() error {
	q := p.r.URL.Query()
	qs := url.Values{"limit": {"25"}}
	data := ordersPage{Email: q.Get("email")}
	if data.Email != "" {
		qs.Set("email", data.Email)
	}
	if c := q.Get("cursor"); c != "" {
		qs.Set("cursor", c)
	}
	var out list[orderView]
	if err := p.call(http.MethodGet, "/api/v1/admin/orders?"+qs.Encode(), nil, &out); err != nil {
		return p.refused(err, "", func() (string, string, any, error) { return "console-orders.html", "Orders", data, nil })
	}
	data.Orders = out.Items
	if out.NextCursor != "" {
		nq := url.Values{"cursor": {out.NextCursor}}
		if data.Email != "" {
			nq.Set("email", data.Email)
		}
		data.Next = nq.Encode()
	}
	return p.show("console-orders.html", "Orders", data)
}

// orderPage is one order's page.
type orderPage struct {
	Order orderView
	// RefundKey is the refund form's Idempotency-Key.
	RefundKey string
}

func (p *page) loadOrder() (orderPage, error) {
	var o orderView
	err := p.call(http.MethodGet, "/api/v1/admin/orders/"+esc(p.r.PathValue("id")), nil, &o)
	return orderPage{Order: o, RefundKey: idemKey()}, err
}

func (p *page) consoleOrder() error {
	data, err := p.loadOrder()
	if err != nil {
		return err
	}
	return p.show("console-order.html", "Order "+data.Order.ID, data)
}

// orderBack is the order's page, where its forms come from and go back to.
func (p *page) orderBack() string { return "/console/orders/" + url.PathEscape(p.r.PathValue("id")) }

// drawOrder redraws the order's page around a refused form.
func (p *page) drawOrder() (string, string, any, error) {
	data, err := p.loadOrder()
	return "console-order.html", "Order " + data.Order.ID, data, err
}

// orderAction is capture, void or cancel: the body {} and nothing else.
func orderAction(action, done string) handler {
	return func(p *page) error {
		err := p.call(http.MethodPost, "/api/v1/admin/orders/"+esc(p.r.PathValue("id"))+"/"+action, struct{}{}, nil)
		if err != nil {
			return p.refused(err, p.orderBack(), p.drawOrder)
		}
		return p.redirect(p.orderBack(), done)
	}
}

// consoleRefund refunds an amount, or (empty) everything captured and not
// yet refunded, with the form's Idempotency-Key.
func (p *page) consoleRefund() error {
	body := map[string]any{}
	if a := p.r.PostFormValue("amount"); a != "" {
		cur := p.r.PostFormValue("currency")
		n, ok := parseAmount(a, cur)
		if !ok {
			return p.refused(formError("amount", "an amount such as 12.50"), p.orderBack(), p.drawOrder)
		}
		body["amount"] = money.Money{Amount: n, Currency: cur}
	}
	key := p.r.PostFormValue("key")
	if key == "" {
		key = idemKey()
	}
	err := p.callWith(http.MethodPost, "/api/v1/admin/orders/"+esc(p.r.PathValue("id"))+"/refund",
		http.Header{"Idempotency-Key": {key}}, body, nil)
	if err != nil {
		return p.refused(err, p.orderBack(), p.drawOrder)
	}
	return p.redirect(p.orderBack(), "refunded")
}

// consoleFulfil records a shipment of the quantities given per line
// (qty-<line id>), with carrier and tracking number.
func (p *page) consoleFulfil() error {
	type line struct {
		LineID   string `json:"line_id"`
		Quantity int    `json:"quantity"`
	}
	lines := []line{}
	for _, id := range p.r.PostForm["line"] {
		s := p.r.PostFormValue("qty-" + id)
		if s == "" || s == "0" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return p.refused(formError("qty-"+id, "a whole number"), p.orderBack(), p.drawOrder)
		}
		lines = append(lines, line{LineID: id, Quantity: n})
	}
	err := p.call(http.MethodPost, "/api/v1/admin/orders/"+esc(p.r.PathValue("id"))+"/fulfillments", map[string]any{
		"lines": lines, "carrier": p.r.PostFormValue("carrier"), "tracking_number": p.r.PostFormValue("tracking_number")}, nil)
	if err != nil {
		return p.refused(err, p.orderBack(), p.drawOrder)
	}
	return p.redirect(p.orderBack(), "fulfilled")
}

// returnAction accepts or rejects a return (body {}).
func returnAction(action, done string) handler {
	return func(p *page) error {
		err := p.call(http.MethodPost, "/api/v1/admin/returns/"+esc(p.r.PathValue("ret"))+"/"+action, struct{}{}, nil)
		if err != nil {
			return p.refused(err, p.orderBack(), p.drawOrder)
		}
		return p.redirect(p.orderBack(), done)
	}
}

// consoleReceiveReturn marks a return received: the lines checked go back
// into stock, and the amount given (if any) is refunded.
func (p *page) consoleReceiveReturn() error {
	type line struct {
		LineID  string `json:"line_id"`
		Restock bool   `json:"restock"`
	}
	body := map[string]any{}
	var lines []line
	for _, id := range p.r.PostForm["line"] {
		lines = append(lines, line{LineID: id, Restock: p.r.PostFormValue("restock-"+id) == "on"})
	}
	if lines != nil {
		body["lines"] = lines
	}
	if a := p.r.PostFormValue("refund"); a != "" {
		cur := p.r.PostFormValue("currency")
		n, ok := parseAmount(a, cur)
		if !ok {
			return p.refused(formError("refund", "an amount such as 12.50"), p.orderBack(), p.drawOrder)
		}
		body["refund"] = money.Money{Amount: n, Currency: cur}
	}
	err := p.call(http.MethodPost, "/api/v1/admin/returns/"+esc(p.r.PathValue("ret"))+"/receive", body, nil)
	if err != nil {
		return p.refused(err, p.orderBack(), p.drawOrder)
	}
	return p.redirect(p.orderBack(), "return-received")
}
