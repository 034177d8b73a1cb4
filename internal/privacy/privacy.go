// Package privacy owns what a person can ask of the shop about their own data:
// a complete export, as one JSON document (GDPR articles 15 and 20), and
// erasure (article 17), which crypto-shreds their personal data while orders
// and the audit trail stay for accounting under a pseudonymous id. Secrets
// (password hash, token hashes, MFA secrets, card numbers) are never part of
// it: they are not personal data the person gave, and they would be dangerous
// in a downloaded file.
package privacy

import (
	"context"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/addressbook"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/cart"
	"github.com/bulwark-shop/bulwark/internal/identity"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/payment"
	"github.com/bulwark-shop/bulwark/internal/pricing"
	"github.com/bulwark-shop/bulwark/internal/vault"
)

// ActionExport is the audit action of a data export.
const ActionExport = "user.data_export"

// Source reads everything held about a person.
type Source interface {
	UserByID(ctx context.Context, id string) (identity.User, error)
	// GuestByID returns a guest of guest checkout (a person with orders
	// and no account) as a User without roles; identity.ErrNotFound otherwise.
	GuestByID(ctx context.Context, id string) (identity.User, error)
	Sessions(ctx context.Context, userID string) ([]identity.Session, error)
	Methods(ctx context.Context, ownerID string) ([]payment.Method, error)
	Orders(ctx context.Context, q order.ListQuery) ([]order.Order, error)
	// AuditAbout returns the audit records whose actor or target is userID.
	AuditAbout(ctx context.Context, userID string) ([]audit.Record, error)
	// PendingEmail returns the new address the user asked for and has not
	// verified yet (and whose link is live at now), or "".
	PendingEmail(ctx context.Context, userID string, now time.Time) (string, error)
	// DiscountUsesOf returns the person's counts of uses of discount codes.
	DiscountUsesOf(ctx context.Context, userID string) ([]pricing.CustomerUse, error)
	// CartsOf returns the person's carts.
	CartsOf(ctx context.Context, userID string) ([]cart.Cart, error)
	// Addresses returns the person's address book.
	Addresses(ctx context.Context, ownerID string) ([]addressbook.Entry, error)
}

// Export is the document a person downloads (format: docs/EXPORT.md).
type Export struct {
	Format         string            `json:"format"`
	ExportedAt     time.Time         `json:"exported_at"`
	Account        Account           `json:"account"`
	Sessions       []Session         `json:"sessions"`
	PaymentMethods []PaymentMethod   `json:"payment_methods"`
	Orders         []order.Order     `json:"orders"`
	Addresses      []order.Address   `json:"addresses"`
	AuditRecords   []AuditRecord     `json:"audit_records"`
	DiscountUses   []DiscountUse     `json:"discount_uses"`
	Carts          []Cart            `json:"carts"`
	Consents       map[string]string `json:"consents"`

	// AddressBook is the addresses the person saved (GET /me/addresses);
	// Addresses is every address their orders shipped to.
	AddressBook []SavedAddress `json:"address_book"`
}

// SavedAddress is an address of the person's address book.
type SavedAddress struct {
	ID        string        `json:"id"`
	Address   order.Address `json:"address"`
	CreatedAt time.Time     `json:"created_at"`
}

// Cart is one of the person's carts as stored: what is in it and the
// choices made for it (its amounts are computed when it is read, not kept).
type Cart struct {
	ID               string     `json:"id"`
	Currency         string     `json:"currency"`
	Items            []CartItem `json:"items"`
	DiscountCode     string     `json:"discount_code,omitempty"`
	ShippingCountry  string     `json:"shipping_country,omitempty"`
	ShippingRegion   string     `json:"shipping_region,omitempty"`
	ShippingOptionID string     `json:"shipping_option_id,omitempty"`
	CreatedAt        time.Time  `json:"created_at"`
}

// CartItem is a variant in a cart and how many of it.
type CartItem struct {
	VariantID string `json:"variant_id"`
	Quantity  int    `json:"quantity"`
}

// Account is the person's account, without secrets.
type Account struct {
	ID         string    `json:"id"`
	Email      string    `json:"email"`
	Name       string    `json:"name"`
	Roles      []string  `json:"roles"`
	MFAEnabled bool      `json:"mfa_enabled"`
	CreatedAt  time.Time `json:"created_at"`
	// PendingEmail is a new address waiting for its verification (PATCH /me).
	PendingEmail string `json:"pending_email,omitempty"`
}

// Session is a sign-in, without its token.
type Session struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
}

// PaymentMethod is a saved card as the shop holds it: never the number.
type PaymentMethod struct {
	ID        string    `json:"id"`
	Brand     string    `json:"brand"`
	Last4     string    `json:"last4"`
	ExpMonth  int       `json:"exp_month"`
	ExpYear   int       `json:"exp_year"`
	CreatedAt time.Time `json:"created_at"`
}

// AuditRecord is an entry of the audit trail about the person.
type AuditRecord struct {
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	Action  string    `json:"action"`
	Target  string    `json:"target"`
	Outcome string    `json:"outcome"`
	IP      string    `json:"ip"`
}

// DiscountUse is how often the person used a discount code. It names the
// discount by id and not by code: the code is the shop's, staff may have
// changed it since, and the export must not hand out a code the person was
// never given.
type DiscountUse struct {
	DiscountID string `json:"discount_id"`
	Uses       int64  `json:"uses"`
}

// FormatVersion names the export's format.
const FormatVersion = "bulwark-export/1"

// Service builds exports and carries out erasures.
type Service struct {
	src    Source
	eraser Eraser
	people Confirmer
	cards  Cards
	trail  *audit.Trail
	now    func() time.Time
}

// NewService returns the privacy service.
func NewService(src Source, eraser Eraser, people Confirmer, cards Cards, trail *audit.Trail, now func() time.Time) *Service {
	return &Service{src: src, eraser: eraser, people: people, cards: cards, trail: trail, now: now}
}

// ExportMine returns every piece of personal data held on the caller. It needs
// a login from the last five minutes (a stolen session must not walk away with
// the whole file) and is audited.
func (s *Service) ExportMine(ctx context.Context) (Export, error) {
	p, err := access.RequireRecent(ctx, access.Authenticated, s.now())
	if err != nil {
		return Export{}, err
	}
	u, err := s.src.UserByID(ctx, p.UserID)
	if err != nil {
		return Export{}, fmt.Errorf("export: %w", err)
	}
	e := Export{Format: FormatVersion, ExportedAt: s.now().UTC(), Consents: map[string]string{},
		Account:  Account{ID: u.ID, Email: u.Email, Name: u.Name, MFAEnabled: u.MFAEnabled, CreatedAt: u.CreatedAt},
		Sessions: []Session{}, PaymentMethods: []PaymentMethod{}, Orders: []order.Order{}, Addresses: []order.Address{}, DiscountUses: []DiscountUse{}, Carts: []Cart{},
		AddressBook: []SavedAddress{}}
	for _, r := range u.Roles {
		e.Account.Roles = append(e.Account.Roles, string(r))
	}
	if e.Account.PendingEmail, err = s.src.PendingEmail(ctx, u.ID, s.now()); err != nil {
		return Export{}, fmt.Errorf("export pending email: %w", err)
	}
	sessions, err := s.src.Sessions(ctx, u.ID)
	if err != nil {
		return Export{}, fmt.Errorf("export sessions: %w", err)
	}
	for _, x := range sessions {
		e.Sessions = append(e.Sessions, Session{ID: x.ID, CreatedAt: x.CreatedAt, LastUsedAt: x.LastUsedAt, IP: x.IP, UserAgent: x.UserAgent})
	}
	methods, err := s.src.Methods(ctx, u.ID)
	if err != nil {
		return Export{}, fmt.Errorf("export payment methods: %w", err)
	}
	for _, m := range methods {
		e.PaymentMethods = append(e.PaymentMethods, PaymentMethod{ID: m.ID, Brand: string(m.Brand), Last4: m.Last4,
			ExpMonth: m.ExpMonth, ExpYear: m.ExpYear, CreatedAt: m.CreatedAt})
	}
	uses, err := s.src.DiscountUsesOf(ctx, u.ID)
	if err != nil {
		return Export{}, fmt.Errorf("export discount uses: %w", err)
	}
	for _, x := range uses {
		e.DiscountUses = append(e.DiscountUses, DiscountUse{DiscountID: x.DiscountID, Uses: x.Uses})
	}
	carts, err := s.src.CartsOf(ctx, u.ID)
	if err != nil {
		return Export{}, fmt.Errorf("export carts: %w", err)
	}
	for _, c := range carts {
		x := Cart{ID: c.ID, Currency: c.Currency, Items: make([]CartItem, 0, len(c.Lines)), DiscountCode: c.DiscountCode,
			ShippingOptionID: c.ShippingOptionID, CreatedAt: c.CreatedAt}
		if d := c.Destination; d != nil {
			x.ShippingCountry, x.ShippingRegion = d.Country, d.Region
		}
		for _, l := range c.Lines {
			x.Items = append(x.Items, CartItem{VariantID: l.VariantID, Quantity: l.Quantity})
		}
		e.Carts = append(e.Carts, x)
	}
	book, err := s.src.Addresses(ctx, u.ID)
	if err != nil {
		return Export{}, fmt.Errorf("export address book: %w", err)
	}
	for _, b := range book {
		e.AddressBook = append(e.AddressBook, SavedAddress{ID: b.ID, Address: b.Address, CreatedAt: b.CreatedAt})
	}
	seen := map[order.Address]bool{}
	for after := ""; ; {
		page, err := s.src.Orders(ctx, order.ListQuery{CustomerID: u.ID, Limit: 100, After: after})
		if err != nil {
			return Export{}, fmt.Errorf("export orders: %w", err)
		}
		for _, o := range page {
			o.AuthorizationID = "" // the processor's reference, not the person's data
			e.Orders = append(e.Orders, o)
			if !seen[o.ShippingAddress] {
				seen[o.ShippingAddress] = true
				e.Addresses = append(e.Addresses, o.ShippingAddress)
			}
		}
		if len(page) < 100 {
			break
		}
		after = page[len(page)-1].ID
	}
	if err := s.trail.Record(ctx, ActionExport, u.ID, audit.Success, ""); err != nil {
		return Export{}, err
	}
	recs, err := s.src.AuditAbout(ctx, u.ID)
	if err != nil {
		return Export{}, fmt.Errorf("export audit records: %w", err)
	}
	e.AuditRecords = make([]AuditRecord, 0, len(recs))
	for _, r := range recs {
		if r.Action == vault.ActionDetokenize {
			r.Target = "card" // the vault's token is a key to the card, not the person's data
		}
		e.AuditRecords = append(e.AuditRecords, AuditRecord{Time: r.Time, Actor: r.Actor, Action: r.Action, Target: r.Target, Outcome: r.Outcome, IP: r.IP})
	}
	return e, nil
}
