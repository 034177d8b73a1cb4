// Package guest owns guest checkout (issue 13): buying without an account,
// when the shop turns it on (setting guest-checkout, off by default).
//
// A guest cart is made with a random token shown once; the shop keeps only
// its SHA-256 and compares it in constant time. With the token (header
// Cart-Token, never in a URL) the guest uses the ordinary cart routes and
// checks out with an email and a card: the card goes to the vault for that
// one checkout, which runs through the same code as an account's
// (checkout.CheckoutGuest). The order is then readable only through a link
// mailed to that email, signed with a Tink MAC keyset and expiring; a wrong,
// expired or other order's signature is not_found, like a missing order, so
// nothing tells them apart. Guests are rows of the people store (store,
// guests.go) that can never sign in, so erasure and retention treat them as
// accounts.
package guest

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/cart"
	"github.com/bulwark-shop/bulwark/internal/checkout"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/order"
)

// TokenPrefix starts every guest cart token, so a token found in a log or a
// repository is recognised for what it is.
const TokenPrefix = "bgc_"

// DefaultLinkTTL is how long a mailed order link opens the order.
const DefaultLinkTTL = 30 * 24 * time.Hour

// ErrOff answers every guest route while guest checkout is off: the routes
// are as absent as any unknown path.
var ErrOff = apperr.NotFound("route")

// errNoOrder is the one answer to a link that does not open an order, what
// ever is wrong with it.
var errNoOrder = order.ErrNotFound

// Store keeps guests and their carts.
type Store interface {
	// CreateGuestCart makes the guest c.OwnerID and its cart c, whose
	// token's SHA-256 (hex) is tokenHash.
	CreateGuestCart(ctx context.Context, c cart.Cart, tokenHash string) error
	// GuestCart returns the guest owning cartID and the cart's token hash;
	// cart.ErrNotFound for a cart that is not a live guest's.
	GuestCart(ctx context.Context, cartID string) (ownerID, tokenHash string, err error)
	// Order returns an order (customerID "" for any customer's).
	Order(ctx context.Context, customerID, orderID string) (order.Order, error)
}

// Checkout runs guest checkouts (checkout.Service).
type Checkout interface {
	CheckoutGuest(ctx context.Context, key string, r checkout.GuestRequest) (order.Order, bool, error)
}

var _ Checkout = (*checkout.Service)(nil)

// MAC signs and verifies order links (keys.LiveMAC, a Tink MAC keyset).
type MAC interface {
	ComputeMAC(data []byte) ([]byte, error)
	VerifyMAC(tag, data []byte) error
}

// Deps is what the guest service is built from.
type Deps struct {
	// Enabled is the guest-checkout setting.
	Enabled  bool
	Store    Store
	Carts    *cart.Service
	Checkout Checkout
	MAC      MAC
	// PublicURL is the storefront's address; the mailed link opens its
	// /guest-order page with the order id and token in the fragment.
	PublicURL string
	// LinkTTL is how long a link opens its order (DefaultLinkTTL when 0).
	LinkTTL time.Duration
	Now     func() time.Time
}

// Service is the guest checkout use cases.
type Service struct{ d Deps }

// NewService returns the guest service.
func NewService(d Deps) *Service {
	if d.LinkTTL <= 0 {
		d.LinkTTL = DefaultLinkTTL
	}
	d.PublicURL = strings.TrimRight(d.PublicURL, "/")
	return &Service{d: d}
}

// Enabled reports whether guest checkout is on.
func (s *Service) Enabled() bool { return s != nil && s.d.Enabled }

// hashToken is what is kept of a cart token.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// StartCart makes a guest and its empty cart in currency ("" for the
// shop's default) and returns the cart with its token, shown this once.
func (s *Service) StartCart(ctx context.Context, currency string) (cart.View, string, error) {
	if !s.Enabled() {
		return cart.View{}, "", ErrOff
	}
	c, err := s.d.Carts.Blank(id.New(id.User), currency)
	if err != nil {
		return cart.View{}, "", err
	}
	token := id.Token(TokenPrefix)
	if err := s.d.Store.CreateGuestCart(ctx, c, hashToken(token)); err != nil {
		return cart.View{}, "", fmt.Errorf("create guest cart: %w", err)
	}
	v, err := s.d.Carts.Price(ctx, c, nil)
	if err != nil {
		return cart.View{}, "", err
	}
	return v, token, nil
}

// Authenticate returns the guest principal of cartID when token is that
// cart's; any other token, and any cart that is not a guest's, is
// cart.ErrNotFound (the answer for someone else's cart).
func (s *Service) Authenticate(ctx context.Context, cartID, token string) (*access.Principal, error) {
	if !s.Enabled() {
		return nil, ErrOff
	}
	if !id.Valid(id.Cart, cartID) || !strings.HasPrefix(token, TokenPrefix) || len(token) > 100 {
		return nil, cart.ErrNotFound
	}
	owner, want, err := s.d.Store.GuestCart(ctx, cartID)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(hashToken(token)), []byte(want)) != 1 {
		return nil, cart.ErrNotFound
	}
	return &access.Principal{UserID: owner, GuestCartID: cartID}, nil
}

// Checkout runs the checkout of the caller's guest cart. The signed link to
// the order reaches the guest in the order's mails (Link, through the order
// mail queue: sent with retries, and not lost to a crash after the commit).
func (s *Service) Checkout(ctx context.Context, key string, r checkout.GuestRequest) (order.Order, bool, error) {
	if !s.Enabled() {
		return order.Order{}, false, ErrOff
	}
	return s.d.Checkout.CheckoutGuest(ctx, key, r)
}

// Link returns a signed link to the guest order orderID, valid for the
// link TTL from now: public-url/guest-order#order=<id>&token=<token>. The
// token is in the fragment, which browsers never send, so it stays out of
// the storefront's logs and Referer headers; the page hands it to the API
// in Order-Token.
func (s *Service) Link(orderID string) (string, error) {
	token, err := s.sign(orderID, s.d.Now().Add(s.d.LinkTTL))
	if err != nil {
		return "", err
	}
	return s.d.PublicURL + "/guest-order#order=" + orderID + "&token=" + token, nil
}

// Order returns the order the link token opens. Anything that is not a
// valid, unexpired signature of this order id is errNoOrder, as is an
// order that does not exist: one answer, no oracle.
func (s *Service) Order(ctx context.Context, orderID, token string) (order.Order, error) {
	if !s.Enabled() {
		return order.Order{}, ErrOff
	}
	if !id.Valid(id.Order, orderID) {
		return order.Order{}, errNoOrder
	}
	if err := s.verify(orderID, token, s.d.Now()); err != nil {
		return order.Order{}, errNoOrder
	}
	return s.d.Store.Order(ctx, "", orderID)
}
