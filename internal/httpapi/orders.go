package httpapi

import (
	"context"
	"net/http"

	"github.com/bulwark-shop/bulwark/internal/access"

	"github.com/bulwark-shop/bulwark/internal/checkout"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/identity"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/order"
)

type orderPaymentJSON struct {
	Brand string `json:"brand"`
	Last4 string `json:"last4"`
}

type customerJSON struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
	// Guest is true for a guest of guest checkout: no account, and ID is
	// the guest's pseudonymous id (what staff erase it by).
	Guest bool `json:"guest"`
}

type orderItemJSON struct {
	LineID    string            `json:"line_id"`
	VariantID string            `json:"variant_id"`
	ProductID string            `json:"product_id"`
	Options   map[string]string `json:"options"`
	SKU       string            `json:"sku"`
	Name      string            `json:"name"`
	Quantity  int               `json:"quantity"`
	Fulfilled int               `json:"fulfilled"`
	Returned  int               `json:"returned"`
	UnitPrice *money.Money      `json:"unit_price,omitempty"`
	LineTotal *money.Money      `json:"line_total,omitempty"`
	Discount  *money.Money      `json:"discount,omitempty"`
	Tax       *money.Money      `json:"tax,omitempty"`
}

// orderJSON is the API's Order. Fields a view does not include are left out
// of the JSON entirely (see docs/ACCESS.md).
type orderJSON struct {
	ID              string                `json:"id"`
	Status          string                `json:"status"`
	Items           []orderItemJSON       `json:"items"`
	Subtotal        *money.Money          `json:"subtotal,omitempty"`
	Discount        *money.Money          `json:"discount,omitempty"`
	DiscountCode    *string               `json:"discount_code,omitempty"`
	Shipping        *money.Money          `json:"shipping,omitempty"`
	ShippingOption  *order.ShippingChoice `json:"shipping_option,omitempty"`
	Tax             *money.Money          `json:"tax,omitempty"`
	TaxInclusive    *bool                 `json:"tax_inclusive,omitempty"`
	Taxes           *[]order.TaxLine      `json:"taxes,omitempty"`
	Total           *money.Money          `json:"total,omitempty"`
	Captured        *money.Money          `json:"captured,omitempty"`
	Refunded        *money.Money          `json:"refunded,omitempty"`
	Payment         *orderPaymentJSON     `json:"payment,omitempty"`
	ShippingAddress *order.Address        `json:"shipping_address,omitempty"`
	Customer        *customerJSON         `json:"customer,omitempty"`
	CreatedAt       Timestamp             `json:"created_at"`
	// The history, with one order (left out of lists): refunds only for
	// views that see amounts.
	Events       *[]orderEventJSON       `json:"events,omitempty"`
	Refunds      *[]orderRefundJSON      `json:"refunds,omitempty"`
	Fulfillments *[]orderFulfillmentJSON `json:"fulfillments,omitempty"`
	Returns      *[]returnJSON           `json:"returns,omitempty"`
	// Risk and Label: finance and admin only (staffOrderJSON).
	Risk  *order.Risk `json:"risk,omitempty"`
	Label string      `json:"label,omitempty"`
}

type returnJSON struct {
	ID        string             `json:"id"`
	OrderID   string             `json:"order_id"`
	Status    string             `json:"status"`
	Reason    string             `json:"reason"`
	Lines     []order.ReturnLine `json:"lines"`
	RefundID  string             `json:"refund_id,omitempty"`
	CreatedAt Timestamp          `json:"created_at"`
	UpdatedAt Timestamp          `json:"updated_at"`
}

func toReturnJSON(r order.Return) returnJSON {
	lines := r.Lines
	if lines == nil {
		lines = []order.ReturnLine{}
	}
	return returnJSON{ID: r.ID, OrderID: r.OrderID, Status: r.Status, Reason: r.Reason, Lines: lines, RefundID: r.RefundID,
		CreatedAt: Timestamp(r.CreatedAt), UpdatedAt: Timestamp(r.UpdatedAt)}
}

// orderEventJSON is one transition: when, by what kind of actor (never
// which account: a customer need not learn staff ids), and what it did.
type orderEventJSON struct {
	At        Timestamp `json:"at"`
	ActorKind string    `json:"actor_kind"`
	Action    string    `json:"action"`
	From      string    `json:"from"`
	To        string    `json:"to"`
}

type orderRefundJSON struct {
	ID        string      `json:"id"`
	Amount    money.Money `json:"amount"`
	Status    string      `json:"status"`
	CreatedAt Timestamp   `json:"created_at"`
}

type orderFulfillmentJSON struct {
	ID             string                  `json:"id"`
	Lines          []order.FulfillmentLine `json:"lines"`
	Carrier        string                  `json:"carrier"`
	TrackingNumber string                  `json:"tracking_number"`
	CreatedAt      Timestamp               `json:"created_at"`
}

func toFulfillmentJSON(f order.Fulfillment) orderFulfillmentJSON {
	return orderFulfillmentJSON{ID: f.ID, Lines: f.Lines, Carrier: f.Carrier, TrackingNumber: f.TrackingNumber, CreatedAt: Timestamp(f.CreatedAt)}
}

// staffOrderJSON renders o for the staff member (or API key) in ctx: as
// their roles' order view allows, with the fraud risk and label for those
// who review fraud (finance and admin), never for support, fulfilment or
// a key.
func staffOrderJSON(ctx context.Context, o order.Order) orderJSON {
	p := access.PrincipalFrom(ctx)
	out := toOrderJSON(o, access.OrderViewFor(p))
	if p.Can(access.FraudReview) {
		out.Risk, out.Label = o.Risk, o.Label
	}
	return out
}

// toOrderJSON renders o as view allows.
func toOrderJSON(o order.Order, view access.OrderView) orderJSON {
	showMoney := view >= access.OrderFinance
	out := orderJSON{ID: o.ID, Status: o.Status, Items: make([]orderItemJSON, 0, len(o.Lines)), CreatedAt: Timestamp(o.CreatedAt)}
	for _, l := range o.Lines {
		it := orderItemJSON{LineID: l.ID, VariantID: l.VariantID, ProductID: l.ProductID, Options: l.Options, SKU: l.SKU, Name: l.Name,
			Quantity: l.Quantity, Fulfilled: l.Fulfilled, Returned: l.Returned}
		if it.Options == nil {
			it.Options = map[string]string{}
		}
		if showMoney {
			it.UnitPrice, it.LineTotal, it.Discount, it.Tax = &l.UnitPrice, &l.LineTotal, &l.Discount, &l.Tax
		}
		out.Items = append(out.Items, it)
	}
	if showMoney {
		out.Subtotal, out.Shipping, out.Total, out.Captured, out.Refunded = &o.Subtotal, &o.Shipping, &o.Total, &o.Captured, &o.Refunded
		out.Discount, out.DiscountCode, out.ShippingOption = &o.Discount, &o.DiscountCode, o.ShippingOption
		taxes := o.Taxes
		if taxes == nil {
			taxes = []order.TaxLine{}
		}
		out.Tax, out.TaxInclusive, out.Taxes = &o.Tax, &o.TaxInclusive, &taxes
		out.Payment = &orderPaymentJSON{Brand: o.Brand, Last4: o.Last4}
	}
	if view != access.OrderFinance {
		out.ShippingAddress = &o.ShippingAddress
	}
	if view == access.OrderSupport {
		out.Customer = &customerJSON{ID: o.CustomerID, Email: o.CustomerEmail, Name: o.CustomerName, Guest: o.CustomerGuest}
	}
	if o.Events != nil { // read with its history
		events := make([]orderEventJSON, 0, len(o.Events))
		for _, e := range o.Events {
			events = append(events, orderEventJSON{At: Timestamp(e.At), ActorKind: e.ActorKind, Action: string(e.Action), From: e.From, To: e.To})
		}
		fs := make([]orderFulfillmentJSON, 0, len(o.Fulfillments))
		for _, f := range o.Fulfillments {
			fs = append(fs, toFulfillmentJSON(f))
		}
		rets := make([]returnJSON, 0, len(o.Returns))
		for _, r := range o.Returns {
			rets = append(rets, toReturnJSON(r))
		}
		out.Events, out.Fulfillments, out.Returns = &events, &fs, &rets
		if showMoney {
			rs := make([]orderRefundJSON, 0, len(o.Refunds))
			for _, r := range o.Refunds {
				rs = append(rs, orderRefundJSON{ID: r.ID, Amount: r.Amount, Status: r.Status, CreatedAt: Timestamp(r.CreatedAt)})
			}
			out.Refunds = &rs
		}
	}
	return out
}

// replayedHeader marks an answer given again for a repeated Idempotency-Key.
const replayedHeader = "Idempotent-Replayed"

type checkoutRequest struct {
	CartID          string        `json:"cart_id"`
	PaymentMethod   string        `json:"payment_method"`
	CVC             string        `json:"cvc"`
	ShippingAddress order.Address `json:"shipping_address"`
	ExpectedTotal   *money.Money  `json:"expected_total"`
	// ShippingAddressID names an address of the caller's address book
	// instead of ShippingAddress.
	ShippingAddressID string `json:"shipping_address_id"`
}

func (a *API) checkout(w http.ResponseWriter, r *http.Request) error {
	key := r.Header.Get("Idempotency-Key")
	if !order.ValidKey(key) {
		return order.ErrKeyRequired
	}
	var req checkoutRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	o, replayed, err := a.Checkout.Checkout(r.Context(), key, checkout.Request{CartID: req.CartID, PaymentMethodID: req.PaymentMethod,
		CVC: req.CVC, ShippingAddress: req.ShippingAddress, ShippingAddressID: req.ShippingAddressID, ExpectedTotal: req.ExpectedTotal})
	if replayed {
		w.Header().Set(replayedHeader, "true")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toOrderJSON(o, access.OrderOwner))
	return nil
}

func writeOrders(w http.ResponseWriter, os []order.Order, more bool, render func(order.Order) orderJSON) {
	out := listJSON[orderJSON]{Items: make([]orderJSON, 0, len(os))}
	for _, o := range os {
		out.Items = append(out.Items, render(o))
	}
	if more {
		out.NextCursor = encodeCursor(os[len(os)-1].ID)
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) myOrders(w http.ResponseWriter, r *http.Request) error {
	after, err := decodeCursor(r.URL.Query().Get("cursor"), id.Order)
	if err != nil {
		return err
	}
	os, more, err := a.Orders.Mine(r.Context(), parseLimit(r), after)
	if err != nil {
		return err
	}
	writeOrders(w, os, more, func(o order.Order) orderJSON { return toOrderJSON(o, access.OrderOwner) })
	return nil
}

func (a *API) myOrder(w http.ResponseWriter, r *http.Request) error {
	o, err := a.Orders.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toOrderJSON(o, access.OrderOwner))
	return nil
}

func (a *API) allOrders(w http.ResponseWriter, r *http.Request) error {
	after, err := decodeCursor(r.URL.Query().Get("cursor"), id.Order)
	if err != nil {
		return err
	}
	os, more, err := a.Orders.All(r.Context(), parseLimit(r), after, identity.NormalizeEmail(r.URL.Query().Get("email")))
	if err != nil {
		return err
	}
	writeOrders(w, os, more, func(o order.Order) orderJSON { return staffOrderJSON(r.Context(), o) })
	return nil
}

type refundRequest struct {
	Amount *money.Money `json:"amount"`
}

func (a *API) refund(w http.ResponseWriter, r *http.Request) error {
	key := r.Header.Get("Idempotency-Key")
	if !order.ValidKey(key) {
		return order.ErrKeyRequired
	}
	// The body is required, {} for a full refund: a bare POST must not refund everything.
	var req refundRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	o, replayed, err := a.Orders.Refund(r.Context(), key, r.PathValue("id"), req.Amount)
	if replayed {
		w.Header().Set(replayedHeader, "true")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, staffOrderJSON(r.Context(), o))
	return nil
}
