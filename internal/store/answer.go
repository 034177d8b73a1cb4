package store

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/order"
)

// answerVersion is the version of storedAnswer that this program writes.
const answerVersion = 1

// storedAnswer is the store's own record of the answer to an idempotent
// request that succeeded (a checkout or a refund): the order as it was
// answered. It is not the public order.Order JSON, so that renaming or adding
// a field of the API cannot break the replay of an answer stored before: its
// field names are its own, pinned by testdata/answer_v1.json, and a field the
// order gains is added here on purpose (TestStoredAnswerCarriesEveryOrderField
// fails until it is; answers stored before read it as its zero value). A
// field renamed or removed makes version 2, which keeps reading version 1.
//
// Answers stored before this record (a sealed or plain order.Order as it was
// then) have no "v"; their fields are those of answerOrder, which keeps the
// names the public JSON had then.
type storedAnswer struct {
	Version int         `json:"v"`
	Order   answerOrder `json:"order"`
}

type answerOrder struct {
	ID         string       `json:"id"`
	CustomerID string       `json:"customer_id"`
	Status     string       `json:"status"`
	Lines      []answerLine `json:"lines"`
	Subtotal   answerMoney  `json:"subtotal"`
	// Discount, DiscountCode, ShippingOption, Tax, TaxInclusive and Taxes
	// came with priced checkouts: answers stored before read as none.
	Discount        answerMoney     `json:"discount"`
	DiscountCode    string          `json:"discount_code,omitempty"`
	Shipping        answerMoney     `json:"shipping"`
	ShippingOption  *answerShipping `json:"shipping_option,omitempty"`
	Tax             answerMoney     `json:"tax"`
	TaxInclusive    bool            `json:"tax_inclusive,omitempty"`
	Taxes           []answerTax     `json:"taxes,omitempty"`
	Total           answerMoney     `json:"total"`
	Captured        answerMoney     `json:"captured"`
	Refunded        answerMoney     `json:"refunded"`
	PaymentMethodID string          `json:"payment_method_id"`
	Brand           string          `json:"brand"`
	Last4           string          `json:"last4"`
	AuthorizationID string          `json:"authorization_id"`
	ShippingAddress answerAddress   `json:"shipping_address"`
	CustomerEmail   string          `json:"customer_email"`
	CustomerName    string          `json:"customer_name"`
	// CustomerGuest is absent from answers stored before guest checkout.
	CustomerGuest bool      `json:"customer_guest,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	// The history came with the order lifecycle: answers stored before
	// have none (nil: the order was not read with it).
	Events       []answerEvent       `json:"events,omitempty"`
	Refunds      []answerRefund      `json:"refunds,omitempty"`
	Fulfillments []answerFulfillment `json:"fulfillments,omitempty"`
	Returns      []answerReturn      `json:"returns,omitempty"`
	// Risk and Label came with fraud scoring: answers stored before have
	// none.
	Risk  *answerRisk `json:"risk,omitempty"`
	Label string      `json:"label,omitempty"`
}

type answerRisk struct {
	Score        int                `json:"score"`
	Decision     string             `json:"decision"`
	Reasons      []string           `json:"reasons"`
	ModelVersion string             `json:"model_version,omitempty"`
	RulesVersion string             `json:"rules_version,omitempty"`
	Features     map[string]float64 `json:"features,omitempty"`
	Shadow       string             `json:"shadow,omitempty"`
}

type answerReturn struct {
	ID        string             `json:"id"`
	OrderID   string             `json:"order_id"`
	Status    string             `json:"status"`
	Reason    string             `json:"reason"`
	Lines     []answerReturnLine `json:"lines"`
	RefundID  string             `json:"refund_id,omitempty"`
	CreatedAt time.Time          `json:"created_at"`
	UpdatedAt time.Time          `json:"updated_at"`
}

type answerReturnLine struct {
	LineID   string `json:"line_id"`
	Quantity int    `json:"quantity"`
	Restock  bool   `json:"restock,omitempty"`
}

type answerEvent struct {
	At        time.Time `json:"at"`
	ActorKind string    `json:"actor_kind"`
	ActorID   string    `json:"actor_id"`
	Action    string    `json:"action"`
	From      string    `json:"from"`
	To        string    `json:"to"`
}

type answerRefund struct {
	ID        string      `json:"id"`
	Amount    answerMoney `json:"amount"`
	Status    string      `json:"status"`
	CreatedAt time.Time   `json:"created_at"`
}

type answerFulfillment struct {
	ID             string                  `json:"id"`
	Lines          []answerFulfillmentLine `json:"lines"`
	Carrier        string                  `json:"carrier"`
	TrackingNumber string                  `json:"tracking_number"`
	CreatedAt      time.Time               `json:"created_at"`
}

type answerFulfillmentLine struct {
	LineID   string `json:"line_id"`
	Quantity int    `json:"quantity"`
}

type answerLine struct {
	// ID came with the order lifecycle: answers stored before have none.
	ID        string            `json:"line_id,omitempty"`
	VariantID string            `json:"variant_id,omitempty"`
	Options   map[string]string `json:"options,omitempty"`
	ProductID string            `json:"product_id"`
	SKU       string            `json:"sku"`
	Name      string            `json:"name"`
	Quantity  int               `json:"quantity"`
	UnitPrice answerMoney       `json:"unit_price"`
	LineTotal answerMoney       `json:"line_total"`
	Discount  answerMoney       `json:"discount"`
	Tax       answerMoney       `json:"tax"`
	Fulfilled int               `json:"fulfilled,omitempty"`
	Returned  int               `json:"returned,omitempty"`
}

type answerMoney struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

type answerAddress struct {
	Name       string `json:"name"`
	Line1      string `json:"line1"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
	Region     string `json:"region,omitempty"`
	Phone      string `json:"phone,omitempty"`
}

type answerShipping struct {
	OptionID string `json:"option_id"`
	Name     string `json:"name"`
}

type answerTax struct {
	RateID  string      `json:"rate_id"`
	Name    string      `json:"name"`
	Country string      `json:"country"`
	Region  string      `json:"region,omitempty"`
	RatePPM int64       `json:"rate_ppm"`
	Base    answerMoney `json:"base"`
	Amount  answerMoney `json:"amount"`
}

func answerMoneyOf(m money.Money) answerMoney {
	return answerMoney{Amount: m.Amount, Currency: m.Currency}
}
func (m answerMoney) money() money.Money { return money.Money{Amount: m.Amount, Currency: m.Currency} }

// newStoredAnswer is the record of o.
func newStoredAnswer(o order.Order) storedAnswer {
	a := answerOrder{ID: o.ID, CustomerID: o.CustomerID, Status: o.Status,
		Subtotal: answerMoneyOf(o.Subtotal), Discount: answerMoneyOf(o.Discount), DiscountCode: o.DiscountCode,
		Shipping: answerMoneyOf(o.Shipping), Tax: answerMoneyOf(o.Tax), TaxInclusive: o.TaxInclusive, Total: answerMoneyOf(o.Total),
		Captured: answerMoneyOf(o.Captured), Refunded: answerMoneyOf(o.Refunded),
		PaymentMethodID: o.PaymentMethodID, Brand: o.Brand, Last4: o.Last4, AuthorizationID: o.AuthorizationID,
		ShippingAddress: answerAddress(o.ShippingAddress),
		CustomerEmail:   o.CustomerEmail, CustomerName: o.CustomerName, CustomerGuest: o.CustomerGuest, CreatedAt: o.CreatedAt}
	if o.ShippingOption != nil {
		a.ShippingOption = &answerShipping{OptionID: o.ShippingOption.OptionID, Name: o.ShippingOption.Name}
	}
	if o.Risk != nil {
		r := answerRisk(*o.Risk)
		a.Risk = &r
	}
	a.Label = o.Label
	for _, t := range o.Taxes {
		a.Taxes = append(a.Taxes, answerTax{RateID: t.RateID, Name: t.Name, Country: t.Country, Region: t.Region, RatePPM: t.RatePPM,
			Base: answerMoneyOf(t.Base), Amount: answerMoneyOf(t.Amount)})
	}
	if o.Lines != nil {
		a.Lines = make([]answerLine, len(o.Lines))
	}
	for i, l := range o.Lines {
		a.Lines[i] = answerLine{ID: l.ID, VariantID: l.VariantID, Options: l.Options, ProductID: l.ProductID, SKU: l.SKU, Name: l.Name, Quantity: l.Quantity,
			UnitPrice: answerMoneyOf(l.UnitPrice), LineTotal: answerMoneyOf(l.LineTotal), Discount: answerMoneyOf(l.Discount), Tax: answerMoneyOf(l.Tax),
			Fulfilled: l.Fulfilled, Returned: l.Returned}
	}
	if o.Returns != nil {
		a.Returns = make([]answerReturn, 0, len(o.Returns))
	}
	for _, r := range o.Returns {
		ar := answerReturn{ID: r.ID, OrderID: r.OrderID, Status: r.Status, Reason: r.Reason, RefundID: r.RefundID,
			CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Lines: make([]answerReturnLine, 0, len(r.Lines))}
		for _, l := range r.Lines {
			ar.Lines = append(ar.Lines, answerReturnLine(l))
		}
		a.Returns = append(a.Returns, ar)
	}
	if o.Events != nil {
		a.Events = make([]answerEvent, 0, len(o.Events))
		a.Refunds = make([]answerRefund, 0, len(o.Refunds))
		a.Fulfillments = make([]answerFulfillment, 0, len(o.Fulfillments))
	}
	for _, e := range o.Events {
		a.Events = append(a.Events, answerEvent{At: e.At, ActorKind: e.ActorKind, ActorID: e.ActorID, Action: string(e.Action), From: e.From, To: e.To})
	}
	for _, r := range o.Refunds {
		a.Refunds = append(a.Refunds, answerRefund{ID: r.ID, Amount: answerMoneyOf(r.Amount), Status: r.Status, CreatedAt: r.CreatedAt})
	}
	for _, f := range o.Fulfillments {
		af := answerFulfillment{ID: f.ID, Carrier: f.Carrier, TrackingNumber: f.TrackingNumber, CreatedAt: f.CreatedAt,
			Lines: make([]answerFulfillmentLine, 0, len(f.Lines))}
		for _, l := range f.Lines {
			af.Lines = append(af.Lines, answerFulfillmentLine(l))
		}
		a.Fulfillments = append(a.Fulfillments, af)
	}
	return storedAnswer{Version: answerVersion, Order: a}
}

// order is the order the record holds.
func (a answerOrder) order() order.Order {
	o := order.Order{ID: a.ID, CustomerID: a.CustomerID, Status: a.Status,
		Subtotal: a.Subtotal.money(), Discount: a.Discount.money(), DiscountCode: a.DiscountCode,
		Shipping: a.Shipping.money(), Tax: a.Tax.money(), TaxInclusive: a.TaxInclusive, Total: a.Total.money(),
		Captured: a.Captured.money(), Refunded: a.Refunded.money(),
		PaymentMethodID: a.PaymentMethodID, Brand: a.Brand, Last4: a.Last4, AuthorizationID: a.AuthorizationID,
		ShippingAddress: order.Address(a.ShippingAddress),
		CustomerEmail:   a.CustomerEmail, CustomerName: a.CustomerName, CustomerGuest: a.CustomerGuest, CreatedAt: a.CreatedAt}
	if a.ShippingOption != nil {
		o.ShippingOption = &order.ShippingChoice{OptionID: a.ShippingOption.OptionID, Name: a.ShippingOption.Name}
	}
	if a.Risk != nil {
		r := order.Risk(*a.Risk)
		o.Risk = &r
	}
	o.Label = a.Label
	o.Taxes = make([]order.TaxLine, 0, len(a.Taxes))
	for _, t := range a.Taxes {
		o.Taxes = append(o.Taxes, order.TaxLine{RateID: t.RateID, Name: t.Name, Country: t.Country, Region: t.Region, RatePPM: t.RatePPM,
			Base: t.Base.money(), Amount: t.Amount.money()})
	}
	if a.Lines != nil {
		o.Lines = make([]order.Line, len(a.Lines))
	}
	for i, l := range a.Lines {
		o.Lines[i] = order.Line{ID: l.ID, VariantID: l.VariantID, Options: l.Options, ProductID: l.ProductID, SKU: l.SKU, Name: l.Name, Quantity: l.Quantity,
			UnitPrice: l.UnitPrice.money(), LineTotal: l.LineTotal.money(), Discount: l.Discount.money(), Tax: l.Tax.money(),
			Fulfilled: l.Fulfilled, Returned: l.Returned}
	}
	if a.Returns != nil {
		o.Returns = make([]order.Return, 0, len(a.Returns))
	}
	for _, r := range a.Returns {
		or := order.Return{ID: r.ID, OrderID: r.OrderID, Status: r.Status, Reason: r.Reason, RefundID: r.RefundID,
			CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Lines: make([]order.ReturnLine, 0, len(r.Lines))}
		for _, l := range r.Lines {
			or.Lines = append(or.Lines, order.ReturnLine(l))
		}
		o.Returns = append(o.Returns, or)
	}
	if a.Events != nil {
		o.Events = make([]order.Event, 0, len(a.Events))
		o.Refunds = make([]order.Refund, 0, len(a.Refunds))
		o.Fulfillments = make([]order.Fulfillment, 0, len(a.Fulfillments))
	}
	for _, e := range a.Events {
		o.Events = append(o.Events, order.Event{At: e.At, ActorKind: e.ActorKind, ActorID: e.ActorID, Action: order.Action(e.Action), From: e.From, To: e.To})
	}
	for _, r := range a.Refunds {
		o.Refunds = append(o.Refunds, order.Refund{ID: r.ID, Amount: r.Amount.money(), Status: r.Status, CreatedAt: r.CreatedAt})
	}
	for _, f := range a.Fulfillments {
		of := order.Fulfillment{ID: f.ID, Carrier: f.Carrier, TrackingNumber: f.TrackingNumber, CreatedAt: f.CreatedAt,
			Lines: make([]order.FulfillmentLine, 0, len(f.Lines))}
		for _, l := range f.Lines {
			of.Lines = append(of.Lines, order.FulfillmentLine(l))
		}
		o.Fulfillments = append(o.Fulfillments, of)
	}
	// Answers stored before orders had discounts and taxes hold none: zero
	// in the order's currency, as the order itself reads.
	zeroIn := func(m *money.Money) {
		if m.Currency == "" {
			m.Currency = o.Total.Currency
		}
	}
	zeroIn(&o.Discount)
	zeroIn(&o.Tax)
	for i := range o.Lines {
		zeroIn(&o.Lines[i].Discount)
		zeroIn(&o.Lines[i].Tax)
	}
	return o
}

// encodeAnswer is the stored form of o, to seal or to keep as it is.
func encodeAnswer(o order.Order) ([]byte, error) {
	b, err := json.Marshal(newStoredAnswer(o))
	if err != nil {
		return nil, fmt.Errorf("encode stored answer: %w", err)
	}
	return b, nil
}

// decodeAnswer reads a stored answer of any version this program knows,
// and one stored before the record existed (an order with no "v").
func decodeAnswer(b []byte) (order.Order, error) {
	var head struct {
		Version *int            `json:"v"`
		Order   json.RawMessage `json:"order"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return order.Order{}, fmt.Errorf("decode stored answer: %w", err)
	}
	body := b
	switch {
	case head.Version == nil: // an order.Order as versions before the record stored it
	case *head.Version == 1:
		body = head.Order
	default:
		return order.Order{}, fmt.Errorf("decode stored answer: version %d is newer than this program", *head.Version)
	}
	var a answerOrder
	if err := json.Unmarshal(body, &a); err != nil {
		return order.Order{}, fmt.Errorf("decode stored answer: %w", err)
	}
	return a.order(), nil
}
