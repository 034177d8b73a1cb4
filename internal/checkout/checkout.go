// Package checkout turns a cart into a paid order in one flow: reserve the
// stock, authorize the card, capture, and complete the order. It guarantees
// that stock is never oversold (the decrement is conditional, in the same
// transaction that creates the reserved order, on both engines and across
// instances), that a declined card leaves the stock as it was and no order, and
// that one Idempotency-Key gives one order and one authorization however often
// and however concurrently it is sent, and that one cart gives at most one
// order at a time whatever the keys: the checkout claims the cart in the
// transaction that reserves the stock, and a concurrent checkout of the same
// cart is refused with ErrCartCheckedOut before anything is reserved or any
// card is read or charged.
//
// A running checkout holds a lease, renewed by its instance (Heartbeat): a
// checkout whose lease ran out was left by a stopped instance, and
// RecoverAbandoned gives back its payment and stock at once, at start-up, on
// a short period, and when the client retries its key, so the retry gets a
// definite answer in seconds rather than request_in_progress.
package checkout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-shop/bulwark/internal/reqinfo"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/cart"
	"github.com/bulwark-shop/bulwark/internal/dependency"
	"github.com/bulwark-shop/bulwark/internal/detect"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/payment"
	"github.com/bulwark-shop/bulwark/internal/pricing"
	"github.com/bulwark-shop/bulwark/internal/vault"
)

// Request is a checkout as the customer sends it. The CVC is used for the
// authorization and is never stored, logged or hashed.
type Request struct {
	CartID          string
	PaymentMethodID string
	CVC             string
	ShippingAddress order.Address
	// ShippingAddressID, when set, names an address of the caller's address
	// book to ship to, in place of ShippingAddress (which must then be empty).
	ShippingAddressID string
	// ExpectedTotal, when set, is the total the customer was shown: a cart
	// whose total is another now is refused with ErrPriceChanged instead of
	// being charged a different amount.
	ExpectedTotal *money.Money

	// emailIndex is the blind index of a guest's email (CheckoutGuest sets
	// it; a client never does): the guest's email in scoring's velocity.
	emailIndex string
}

// CodeCartCheckedOut refuses a checkout of a cart another checkout holds.
const CodeCartCheckedOut = "checkout_in_progress"

// ErrCartCheckedOut is the answer to a checkout of a cart that another
// checkout (with another Idempotency-Key) is paying right now. It is not
// recorded for the key: once the other checkout ends (declined, say), the
// same request may run.
var ErrCartCheckedOut = apperr.New(CodeCartCheckedOut, "another checkout of this cart is running; nothing was reserved or charged")

// ErrPriceChanged refuses a checkout whose total is not the one the customer
// expected, or whose cart or prices changed while it was being reserved.
// Like ErrCartCheckedOut it is not recorded for the key: nothing was
// reserved, and the customer sends the checkout again once they have seen
// the new amounts.
var ErrPriceChanged = apperr.New(apperr.CodePriceChanged, "the cart's total is not the one expected, or its items or prices changed meanwhile; read the cart again and confirm the new total")

// Reservation is a pending order to create while taking its stock.
type Reservation struct {
	OrderID    string
	Key        string // the Idempotency-Key, freed if the reservation is abandoned
	Hash       string // the request's hash, kept with the key
	CustomerID string
	CartID     string
	// Cart is the cart as it was priced, and Priced the order pricing made
	// of it: its amounts, and per line the variant, quantity, unit price,
	// discount and tax. Reserve takes the cart only if it still holds
	// exactly these lines and choices at these unit prices
	// (ErrPriceChanged otherwise), and counts a use of DiscountID.
	Cart       cart.Cart
	Priced     order.Order
	DiscountID string
	Method     payment.Method
	Address    order.Address
	At         time.Time
	// Owner is the instance running the checkout, which renews its lease
	// until LeaseUntil while it runs.
	Owner      string
	LeaseUntil time.Time
}

// Store reserves, releases and completes orders.
type Store interface {
	order.Store
	// PeekIdempotent reports what an earlier request with the key left
	// without claiming it (Fresh when there was none).
	PeekIdempotent(ctx context.Context, ownerID, scope, key, hash string) (order.Prior, error)
	// Reserve claims the Idempotency-Key, takes the stock of every line of the
	// cart, counts the use of the discount and creates the pending order with
	// the amounts of r.Priced, in one transaction. When the key was used
	// before it reserves nothing and returns the earlier request's Prior
	// (Fresh false). Nothing is taken and the key is not claimed when it
	// returns order.ErrOutOfStock (a line lacks stock, or is no longer for
	// sale), order.ErrCartEmpty, ErrCartCheckedOut (another pending order
	// holds the cart), ErrPriceChanged (the cart or a unit price is not as
	// priced), or pricing.ErrDiscountExhausted or pricing.ErrDiscountUnknown
	// (the code's last use was taken meanwhile, or the code deleted).
	Reserve(ctx context.Context, r Reservation) (order.Order, order.Prior, error)
	// Release gives the stock back, frees the cart and deletes the pending order, finishes the
	// idempotency key with code (or forgets the key when code is empty, so a
	// retry runs again), and appends rec, in one transaction.
	Release(ctx context.Context, orderID, key, code string, rec audit.Record) error
	// SetAuthorization records the processor's authorization on a pending order.
	SetAuthorization(ctx context.Context, orderID, authorizationID string) error
	// ExpiredPending lists pending orders whose lease ended before now.
	ExpiredPending(ctx context.Context, now time.Time) ([]Abandoned, error)
	// RenewLeases extends to until the lease of each of orderIDs that is
	// pending and owned by owner.
	RenewLeases(ctx context.Context, owner string, orderIDs []string, until time.Time) error
	// Complete marks the order paid with its authorization and capture, empties
	// and frees the cart, finishes the idempotency key with the order, and appends rec.
	Complete(ctx context.Context, c Completion, rec audit.Record) (order.Order, error)
}

// Abandoned is a pending order whose checkout never finished (its server
// stopped mid-way): its stock is still reserved and its card may be authorized.
type Abandoned struct {
	OrderID, AuthorizationID, Key string
	Total                         money.Money
}

// Completion is what Complete records.
type Completion struct {
	OrderID, CustomerID, CartID, Key, AuthorizationID string
	Captured                                          money.Money
	At                                                time.Time
	// Action is the lifecycle's step: order.ActPay (captured; the default)
	// or order.ActAuthorize (payment-capture=fulfilment: Captured is 0),
	// or order.ActHold (held for review: Captured is 0).
	Action order.Action
	// Risk is what fraud scoring concluded (nil when nothing scored).
	Risk *order.Risk
}

// Methods finds the caller's saved card.
type Methods interface {
	Get(ctx context.Context, methodID string) (payment.Method, error)
}

// Cards reads a card from the vault, audited.
type Cards interface {
	Detokenize(ctx context.Context, token, purpose string) (vault.Card, error)
}

var _ Cards = (*vault.Vault)(nil)

// Scorer assesses the fraud risk of a checkout before its card goes to the
// processor (fraud scoring, issue 14), as Radar does: a blocked checkout
// never reaches the processor, so a card tester learns nothing from it and
// the shop pays no fee and earns no decline for it; one held for review is
// authorized and not captured.
type Scorer interface {
	// Score returns the risk of a and the decision. An error, or no answer
	// within ScoreTimeout, holds the order for review: scoring fails
	// closed, never to allow.
	Score(ctx context.Context, a Attempt) (order.Risk, error)
	// Declined is told of an attempt the processor declined or the
	// checkout refused (a blocked card, a blocked score), for the velocity
	// the next attempts are scored on.
	Declined(ctx context.Context, a Attempt)
	// Recheck runs the decision again once the processor has authorized
	// a, with what it checked (a.CVCCheck), on the features Score
	// computed (prior's); it counts nothing. A block then voids the
	// authorization; an error holds the order for review.
	Recheck(ctx context.Context, a Attempt, prior order.Risk) (order.Risk, error)
}

// EmailIndexer computes the blind index of a normalized email address
// (pii.Cipher), as accounts' emails are kept: a guest's email in velocity.
type EmailIndexer interface {
	EmailIndex(email string) (string, error)
}

// Fingerprinter computes a card's fingerprint: a keyed hash of its number
// (an HMAC under a keyset of its own), the same for every saved copy of the
// card, that names the card to velocity, findings and blocks without the
// number.
type Fingerprinter interface {
	Fingerprint(number string) (string, error)
}

// Signals takes the security signals checkout reports (threat.Intake).
type Signals interface {
	Report(ctx context.Context, s detect.Signal)
}

// CardBlocks answers whether a card fingerprint is blocked now
// (response.Checker, from its in-memory copy).
type CardBlocks interface {
	CardBlocked(fingerprint string) bool
}

// ScoreTimeout bounds a checkout's wait for its score.
const ScoreTimeout = 2 * time.Second

// Attempt is what a checkout knows when it asks for its score: never the
// card's number or CVC.
type Attempt struct {
	OrderID    string
	CustomerID string
	Guest      bool
	Total      money.Money
	// Lines and Units are how many lines and items the order has.
	Lines, Units int
	ShipCountry  string
	// BIN is the card number's first six digits (its issuer); Brand,
	// the card's network.
	BIN, Brand string
	// Card names the card for velocity: its fingerprint (Fingerprinter),
	// or without one the saved payment method, never its number.
	Card string
	// CardCountry is the country of the card's issuer as the processor
	// tells it (payment.Inspector; "" when it does not), BillingCountry
	// that of the card's billing address as the customer gave it ("" when
	// not given).
	CardCountry, BillingCountry string
	// Email names a guest's email for velocity: its blind index, never the
	// address ("" for an account, whose the scorer reads with its history).
	Email string
	// CVCCheck is what the processor said of the CVC once it authorized
	// (payment.Checks; "" before, for Score).
	CVCCheck string
	// IP is the client address edge protection resolved ("" when none).
	IP string
	At time.Time
}

// detail is the evidence a signal of a's outcome carries: the card's BIN
// (never more of its number), the amount.
func (a Attempt) detail(outcome string) map[string]string {
	return map[string]string{"outcome": outcome, "bin": a.BIN, "amount": strconv.FormatInt(a.Total.Amount, 10), "currency": a.Total.Currency}
}

// Carts prices the caller's cart for shipping to a destination (cart.Service).
type Carts interface {
	ForCheckout(ctx context.Context, cartID string, d pricing.Destination) (cart.View, error)
}

var _ Carts = (*cart.Service)(nil)

// Addresses finds an address of the caller's address book
// (addressbook.Service): another customer's is not found.
type Addresses interface {
	Resolve(ctx context.Context, addressID string) (order.Address, error)
}

// Service is checkout.
type Service struct {
	store    Store
	carts    Carts
	methods  Methods
	cards    Cards
	gateway  payment.Gateway
	book     Addresses
	now      func() time.Time
	instance string
	lease    time.Duration
	// authorizeOnly: payment-capture=fulfilment.
	authorizeOnly bool
	guestOn       bool
	vault         payment.Vault
	guests        Guests
	log           *slog.Logger
	scorer        Scorer
	decisions     *prometheus.CounterVec
	scoring       prometheus.Histogram
	fingerprints  Fingerprinter
	signals       Signals
	cardBlocks    CardBlocks
	emailIndex    func(email string) (string, error)

	// running holds the pending orders whose checkout a request of this
	// instance is running now: only their leases are renewed. A checkout
	// that ended without completing or releasing its order (the database
	// went away under it) is no longer renewed, so recovery releases it once
	// its lease runs out, instead of its key answering request_in_progress
	// for as long as this instance lives (issue 12).
	mu      sync.Mutex
	running map[string]bool
	// inFlight counts the checkouts this process is running (Busy).
	inFlight atomic.Int64
}

// Busy reports whether this process is running a checkout now. Background
// work that can wait a little, webhook delivery, gives way to it (issue 13:
// delivery must not slow checkout).
func (s *Service) Busy() bool { return s.inFlight.Load() > 0 }

// Deps is what the checkout service is built from.
type Deps struct {
	Store   Store
	Carts   Carts
	Methods Methods
	Cards   Cards
	Gateway payment.Gateway
	// Addresses resolves a ShippingAddressID; nil refuses one.
	Addresses Addresses
	Now       func() time.Time
	// Instance names this running process (a random id per start) as the
	// owner of its checkouts; Lease is how long a checkout stays its own
	// without a Heartbeat. Zero means DefaultLease.
	Instance string
	Lease    time.Duration
	// CaptureAtFulfilment (payment-capture=fulfilment) makes the checkout
	// authorize only: the order is authorized, and staff capture it (or the
	// first fulfilment does).
	CaptureAtFulfilment bool
	// GuestCheckout turns guest checkout on (guest.go); Vault and Guests
	// serve it: the guest's card goes to the vault for one checkout, the
	// guest's email is sealed on the guest. With them and guest checkout
	// off, SweepGuestCards still deletes cards left over from when it was on.
	GuestCheckout bool
	Vault         payment.Vault
	Guests        Guests
	// Log reports what a finished checkout could not clean up (a guest's
	// card the vault did not delete).
	Log *slog.Logger
	// Scorer, when set, scores every checkout before its authorization;
	// Registry, when set, counts its decisions
	// (bulwark_fraud_decisions_total).
	Scorer   Scorer
	Registry prometheus.Registerer
	// Fingerprints names cards by fingerprint; Signals is told of each
	// declined payment (card-testing detection); CardBlocks refuses a
	// blocked card before it reaches the processor. Each may be nil.
	Fingerprints Fingerprinter
	Signals      Signals
	CardBlocks   CardBlocks
	// EmailIndexes names a guest's email for scoring's velocity by its
	// blind index (an account's the scorer reads); nil: not named.
	EmailIndexes EmailIndexer
}

// DefaultLease is how long a running checkout is held without renewal: long
// enough for a Heartbeat every third of it to be missed once, short enough
// that a retry after a crash waits seconds, not minutes.
const DefaultLease = 30 * time.Second

// NewService returns the checkout service.
func NewService(d Deps) *Service {
	if d.Lease <= 0 {
		d.Lease = DefaultLease
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	s := &Service{store: d.Store, carts: d.Carts, methods: d.Methods, cards: d.Cards, gateway: d.Gateway, book: d.Addresses, now: d.Now,
		instance: d.Instance, lease: d.Lease, guestOn: d.GuestCheckout, vault: d.Vault, guests: d.Guests, log: d.Log,
		running: map[string]bool{}, authorizeOnly: d.CaptureAtFulfilment, scorer: d.Scorer,
		fingerprints: d.Fingerprints, signals: d.Signals, cardBlocks: d.CardBlocks,
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_fraud_decisions_total",
			Help: "Fraud scoring's decisions about checkouts, made before the card goes to the processor: allow, review (held, scorer failures included) or block (blocked cards not included: they are refused before scoring).",
		}, []string{"decision"})}
	if d.EmailIndexes != nil {
		s.emailIndex = d.EmailIndexes.EmailIndex
	}
	// Scoring runs in every checkout: its time is watched in fine buckets
	// (the goal is well under a millisecond; ScoreTimeout is the ceiling).
	s.scoring = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "bulwark_fraud_scoring_seconds",
		Help:    "Time fraud scoring added to a checkout: the processor's answer about the card (its issuing country), the features (the email's index, the account's history, the velocity counters), the rules and models, and their second run once the processor has checked the CVC.",
		Buckets: []float64{0.0001, 0.00025, 0.0005, 0.00075, 0.0009, 0.001, 0.002, 0.005, 0.01, 0.05, 0.25, 1, 2},
	})
	for _, d := range []string{order.DecisionAllow, order.DecisionReview, order.DecisionBlock} {
		s.decisions.WithLabelValues(d)
	}
	if d.Registry != nil && d.Scorer != nil {
		d.Registry.MustRegister(s.decisions, s.scoring)
	}
	return s
}

// Lease is how long a checkout is held without a Heartbeat.
func (s *Service) Lease() time.Duration { return s.lease }

// Heartbeat renews the lease of every checkout this instance is running; call
// it more often than the lease (every third of it, say).
func (s *Service) Heartbeat(ctx context.Context) error {
	s.mu.Lock()
	ids := make([]string, 0, len(s.running))
	for id := range s.running {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	return s.store.RenewLeases(ctx, s.instance, ids, s.now().UTC().Add(s.lease))
}

// hold marks orderID's checkout as running here until the returned function
// is called.
func (s *Service) hold(orderID string) (done func()) {
	s.mu.Lock()
	s.running[orderID] = true
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.running, orderID)
		s.mu.Unlock()
	}
}

// requestHash identifies a request's body for idempotency. The CVC is left
// out: a hash of three digits is as good as the digits.
func requestHash(r Request) string {
	b, _ := json.Marshal(struct {
		Cart, Method string
		Address      order.Address
		Expected     *money.Money `json:",omitempty"` // absent in hashes from before it existed
	}{r.CartID, r.PaymentMethodID, r.ShippingAddress, r.ExpectedTotal})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Checkout runs the whole flow for the caller's cart. It returns the order and
// whether it is a replay of an earlier request with the same key.
func (s *Service) Checkout(ctx context.Context, key string, r Request) (order.Order, bool, error) {
	p, err := access.Require(ctx, access.Authenticated)
	if err != nil {
		return order.Order{}, false, err
	}
	if !order.ValidKey(key) {
		return order.Order{}, false, order.ErrKeyRequired
	}
	if r, err = s.savedAddress(ctx, r); err != nil {
		return order.Order{}, false, err
	}
	var v apperr.Validator
	v.Check(id.Valid(id.Cart, r.CartID), "cart_id", "is not a cart id")
	v.Check(id.Valid(id.PaymentMethod, r.PaymentMethodID), "payment_method", "is not a payment method id")
	v.Check(len(r.CVC) >= 3 && len(r.CVC) <= 4 && isDigits(r.CVC), "cvc", "must be 3 or 4 digits")
	r.ShippingAddress.Validate(&v, "shipping_address")
	if e := r.ExpectedTotal; e != nil {
		v.Check(e.Amount >= 0 && e.Amount <= money.MaxAmount, "expected_total.amount", "must be between 0 and 10^12 minor units")
	}
	if err := v.Err(); err != nil {
		return order.Order{}, false, err
	}
	m, err := s.methods.Get(ctx, r.PaymentMethodID)
	if err != nil {
		// Not another customer's card, nor a missing one: nothing changed, so there
		// is nothing to remember for the key either.
		return order.Order{}, false, err
	}
	// Internal failures need no clean-up here: before the reservation commits,
	// the key is not claimed; after it, pay releases the reservation and frees
	// the key, or (if even that fails) abandoned-checkout recovery does.
	return s.run(ctx, p.UserID, key, requestHash(r), r, m)
}

// savedAddress puts the address book's address named by r.ShippingAddressID
// in r.ShippingAddress. From there on the checkout is the same as one that
// sent the address (and has the same request hash: the same key with either
// form is the same request).
func (s *Service) savedAddress(ctx context.Context, r Request) (Request, error) {
	if r.ShippingAddressID == "" {
		return r, nil
	}
	var v apperr.Validator
	v.Check(r.ShippingAddress == order.Address{}, "shipping_address_id", "send shipping_address or shipping_address_id, not both")
	v.Check(s.book != nil, "shipping_address_id", "saved addresses are not available")
	if err := v.Err(); err != nil {
		return r, err
	}
	a, err := s.book.Resolve(ctx, r.ShippingAddressID)
	if err != nil {
		return r, err
	}
	r.ShippingAddress = a
	return r, nil
}

// refuse records e as the answer for key, so the same request gets it again.
func (s *Service) refuse(ctx context.Context, customerID, key, hash, target string, e *apperr.Error) error {
	rec := audit.New(ctx, s.now(), order.ActionCheckout, target, audit.Failure, e.Code)
	if err := s.store.FinishIdempotentError(ctx, customerID, order.ScopeCheckout, key, hash, e.Code, s.now(), rec); err != nil {
		return err
	}
	return e
}

// run checks out r's cart for customerID, paying with m: the one path of
// account and guest checkouts.
func (s *Service) run(ctx context.Context, customerID, key, hash string, r Request, m payment.Method) (order.Order, bool, error) {
	// Counted from here, after the caller and the request were checked: a
	// request refused at the door does not make the process look busy.
	s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	// A key already answered is answered again before the cart is read: its
	// checkout emptied the cart (or refused it, as recorded).
	if prior, err := s.store.PeekIdempotent(ctx, customerID, order.ScopeCheckout, key, hash); err != nil {
		return order.Order{}, false, fmt.Errorf("read idempotency key: %w", err)
	} else if !prior.Fresh && !prior.InProgress {
		return order.Replay(prior)
	}
	// Priced before anything is claimed, with the same code as GET /carts:
	// a refusal here (an item no longer for sale, a code that no longer
	// applies, a total other than expected) changes nothing and is not
	// recorded for the key, so the customer fixes the cart and sends the
	// same request again.
	// A request with the same key running alongside may empty or change the
	// cart meanwhile: when the cart is refused, that request's answer wins.
	refused := func(err error) (order.Order, bool, error) {
		if prior, perr := s.store.PeekIdempotent(ctx, customerID, order.ScopeCheckout, key, hash); perr == nil && !prior.Fresh {
			return order.Replay(prior)
		}
		return order.Order{}, false, err
	}
	view, err := s.carts.ForCheckout(ctx, r.CartID, pricing.Destination{Country: r.ShippingAddress.Country, Region: r.ShippingAddress.Region})
	if err != nil {
		return order.Order{}, false, err
	}
	if err := view.CheckoutProblem(); err != nil {
		return refused(err)
	}
	if len(view.Lines) == 0 {
		return refused(order.ErrCartEmpty)
	}
	priced := Priced(view.Quote)
	if e := r.ExpectedTotal; e != nil && *e != priced.Total {
		return refused(ErrPriceChanged)
	}
	reserve := func() (order.Order, order.Prior, error) {
		at := s.now().UTC()
		return s.store.Reserve(ctx, Reservation{OrderID: id.New(id.Order), Key: key, Hash: hash, CustomerID: customerID,
			CartID: r.CartID, Cart: view.Cart, Priced: priced, DiscountID: view.Quote.DiscountID,
			Method: m, Address: r.ShippingAddress, At: at, Owner: s.instance, LeaseUntil: at.Add(s.lease)})
	}
	pending, prior, err := reserve()
	if err == nil && prior.InProgress {
		// The key's checkout may have been left by a stopped instance: recover
		// what has outlived its lease, and if that freed the key, run again
		// rather than answer request_in_progress until a sweep comes by.
		if n, rerr := s.RecoverAbandoned(ctx); rerr != nil {
			return order.Order{}, false, fmt.Errorf("recover abandoned checkouts: %w", rerr)
		} else if n > 0 {
			pending, prior, err = reserve()
		}
	}
	if err == nil && !prior.Fresh {
		return order.Replay(prior)
	}
	if errors.Is(err, ErrCartCheckedOut) || errors.Is(err, ErrPriceChanged) ||
		errors.Is(err, pricing.ErrDiscountExhausted) || errors.Is(err, pricing.ErrDiscountUnknown) {
		// Transient, or about the cart's code (its last use taken, or staff
		// ended it, since the cart was priced): nothing was claimed, so
		// nothing is recorded for the key, and the same request runs again
		// once the customer has removed the code, as when pricing finds it.
		return order.Order{}, false, err
	}
	if err != nil {
		var e *apperr.Error
		if errors.As(err, &e) {
			return order.Order{}, false, s.refuse(ctx, customerID, key, hash, r.CartID, e)
		}
		return order.Order{}, false, fmt.Errorf("reserve stock: %w", err)
	}
	defer s.hold(pending.ID)()
	o, err := s.pay(ctx, customerID, key, r, m, pending)
	return o, false, err
}

// pay authorizes, captures and completes a reserved order, or releases it.
func (s *Service) pay(ctx context.Context, customerID, key string, r Request, m payment.Method, pending order.Order) (order.Order, error) {
	release := func(code, why string) error {
		rec := audit.New(ctx, s.now(), order.ActionCheckout, pending.ID, audit.Failure, why)
		return s.store.Release(context.WithoutCancel(ctx), pending.ID, key, code, rec)
	}
	card, err := s.cards.Detokenize(ctx, m.Token, "authorize "+pending.ID)
	if err != nil {
		return order.Order{}, errors.Join(fmt.Errorf("read card for %s: %w", pending.ID, err), release("", "card unreadable"))
	}
	// spent is what fraud scoring adds to this checkout (the card's
	// fingerprint, the processor's answer about the card,
	// the score, the second run after the authorization), observed however
	// the checkout ends.
	var spent time.Duration
	if s.scorer != nil {
		defer func() { s.scoring.Observe(spent.Seconds()) }()
	}
	began := time.Now()
	attempt, err := s.attempt(ctx, customerID, pending, r, m, card)
	if err != nil {
		return order.Order{}, errors.Join(fmt.Errorf("fingerprint the card of %s: %w", pending.ID, err), release("", "card fingerprint failed"))
	}
	// refuse answers a declined checkout, or one the shop refuses itself,
	// as a decline with no hint of why (the audit trail says). Either
	// counts as a decline for the velocity of the next attempts, as the
	// customer was told one, and is a signal to card-testing detection
	// (outcome: declined by the processor, or refused before it).
	refuse := func(outcome, why string) (order.Order, error) {
		if s.scorer != nil {
			s.scorer.Declined(ctx, attempt)
		}
		if s.signals != nil {
			s.signals.Report(ctx, detect.Signal{Kind: detect.PaymentDeclined, At: attempt.At, IP: attempt.IP,
				Account: customerID, Card: attempt.Card, Detail: attempt.detail(outcome)})
		}
		if err := release(order.CodePaymentDeclined, why); err != nil {
			return order.Order{}, err
		}
		return order.Order{}, order.ErrDeclined
	}
	if s.cardBlocks != nil && attempt.Card != "" && s.cardBlocks.CardBlocked(attempt.Card) {
		return refuse("refused", "card blocked by a response to a finding")
	}
	if insp, ok := s.gateway.(payment.Inspector); ok && s.scorer != nil {
		// The issuer's country, for the rules: nothing is held yet.
		info, err := insp.Inspect(ctx, payment.AuthorizeRequest{Card: card, CVC: r.CVC, Amount: pending.Total, Reference: pending.ID})
		if errors.Is(err, payment.ErrDeclined) {
			// Stripe refuses some cards already when making the payment
			// method (an incorrect number): a decline like any other.
			return refuse("declined", "declined")
		}
		if err != nil {
			return order.Order{}, errors.Join(fmt.Errorf("inspect the card of %s: %w", pending.ID, err), release("", "card inspection failed"))
		}
		attempt.CardCountry = info.Country
	}
	risk := s.score(ctx, attempt)
	spent += time.Since(began)
	if risk != nil && risk.Decision == order.DecisionBlock {
		return refuse("refused", fmt.Sprintf("blocked by fraud scoring: score %d (%s)", risk.Score, strings.Join(risk.Reasons, ", ")))
	}
	var checks *payment.Checks
	// The authorization's id is recorded on the pending order before the
	// processor holds anything (payment.AuthorizeRequest.Record): a server
	// stopping at any point after leaves recovery the id to void.
	var recorded string
	authID, err := s.gateway.Authorize(ctx, payment.AuthorizeRequest{Card: card, CVC: r.CVC, Amount: pending.Total, Reference: pending.ID,
		Record: func(ctx context.Context, authID string) error {
			if err := s.store.SetAuthorization(ctx, pending.ID, authID); err != nil {
				return fmt.Errorf("record authorization of %s: %w", pending.ID, err)
			}
			recorded = authID
			return nil
		},
		Checked: func(c payment.Checks) { checks = &c }})
	if errors.Is(err, payment.ErrDeclined) {
		return refuse("declined", "declined")
	}
	if err != nil && recorded != "" {
		// The hold may have been made (the answer lost on the way back):
		// void it before letting the order go; if that fails too, the
		// order stays pending and recovery voids it once the lease ends.
		if verr := s.gateway.Void(context.WithoutCancel(ctx), recorded); verr != nil {
			return order.Order{}, fmt.Errorf("authorize %s (left to recovery): %w", pending.ID, errors.Join(err, verr))
		}
	}
	if err != nil {
		return order.Order{}, errors.Join(fmt.Errorf("authorize %s: %w", pending.ID, err), release("", "authorization failed"))
	}
	if risk != nil && checks != nil {
		attempt.CVCCheck = checks.CVC
		began = time.Now()
		risk = s.rescore(ctx, attempt, *risk)
		spent += time.Since(began)
		if risk.Decision == order.DecisionBlock {
			// What the issuer checked makes the rules block: the hold goes
			// back before the customer is told of a decline.
			if err := s.gateway.Void(context.WithoutCancel(ctx), authID); err != nil {
				return order.Order{}, fmt.Errorf("void %s blocked after authorization (left to recovery): %w", pending.ID, err)
			}
			return refuse("refused", fmt.Sprintf("blocked by fraud scoring after authorization: score %d (%s)", risk.Score, strings.Join(risk.Reasons, ", ")))
		}
	}
	if s.signals != nil {
		s.signals.Report(ctx, detect.Signal{Kind: detect.PaymentAuthorized, At: attempt.At, IP: attempt.IP,
			Account: customerID, Card: attempt.Card, Detail: attempt.detail("authorized")})
	}
	decision := order.DecisionAllow
	if risk != nil {
		decision = risk.Decision
	}
	captured, action := pending.Total, order.ActionFor(decision, s.authorizeOnly)
	if action != order.ActPay {
		// Captured later: by staff or the first fulfilment, or, held for
		// review, once finance or admin approve it.
		captured = money.Money{Currency: pending.Total.Currency}
	} else if err := s.gateway.Capture(ctx, authID, pending.Total); err != nil {
		// A capture that failed may yet have been made (the answer lost on
		// the way back): void, or refund what can no longer be voided.
		gerr := s.giveBack(context.WithoutCancel(ctx), authID, pending.Total, pending.ID)
		return order.Order{}, errors.Join(fmt.Errorf("capture %s: %w", pending.ID, err), gerr, release("", "capture failed"))
	}
	rec := audit.New(ctx, s.now(), order.ActionCheckout, pending.ID, audit.Success,
		fmt.Sprintf("total=%d %s card=%s", pending.Total.Amount, pending.Total.Currency, m.ID))
	done, err := s.store.Complete(ctx, Completion{OrderID: pending.ID, CustomerID: customerID, CartID: r.CartID, Key: key,
		AuthorizationID: authID, Captured: captured, At: s.now().UTC(), Action: action, Risk: risk}, rec)
	if errors.Is(err, order.ErrNotFound) {
		// The money was taken (or held) but the order is no longer pending
		// (recovery released it under a very slow request): give it back.
		bg := context.WithoutCancel(ctx)
		var rerr error
		if action != order.ActPay {
			rerr = s.gateway.Void(bg, authID)
		} else {
			_, rerr = s.gateway.Refund(bg, authID, pending.Total, pending.ID)
		}
		return order.Order{}, errors.Join(fmt.Errorf("complete %s: %w", pending.ID, err), rerr, release("", "completion failed; capture refunded"))
	}
	if err != nil {
		// Whether the completion committed is unknown (the connection may
		// have dropped at COMMIT): refunding now could refund a paid order.
		// The order is left as it is; once its lease runs out (this instance
		// stops renewing it when pay returns) recovery refunds and releases
		// it if it is still pending, and leaves it alone if it was paid.
		return order.Order{}, fmt.Errorf("complete %s (left to recovery): %w", pending.ID, err)
	}
	return done, nil
}

// attempt is what the scorer is told of a checkout: the card's
// fingerprint, BIN and brand, never its number.
func (s *Service) attempt(ctx context.Context, customerID string, pending order.Order, r Request, m payment.Method, card vault.Card) (Attempt, error) {
	p := access.PrincipalFrom(ctx)
	a := Attempt{OrderID: pending.ID, CustomerID: customerID, Guest: p != nil && p.GuestCartID != "", Total: pending.Total,
		Lines: len(pending.Lines), ShipCountry: r.ShippingAddress.Country, Card: m.ID, IP: reqinfo.AddressKey(reqinfo.From(ctx).IP), At: s.now().UTC()}
	for _, l := range pending.Lines {
		a.Units += l.Quantity
	}
	n := vault.NormalizeNumber(card.Number)
	if len(n) >= 6 {
		a.BIN = n[:6]
		if b, ok := vault.BrandOf(n); ok {
			a.Brand = string(b)
		}
	}
	if s.fingerprints != nil {
		fp, err := s.fingerprints.Fingerprint(n)
		if err != nil {
			return a, err
		}
		a.Card = fp
	}
	a.BillingCountry, a.Email = m.BillingCountry, r.emailIndex
	return a, nil
}

// score asks the scorer about a; nil when there is none. A scorer that
// fails, or does not answer within ScoreTimeout, holds the order for
// review: fails closed, never to allow.
func (s *Service) score(ctx context.Context, a Attempt) *order.Risk {
	if s.scorer == nil {
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, ScoreTimeout)
	defer cancel()
	risk, err := s.scorer.Score(sctx, a)
	if err == nil {
		err = risk.Check()
	}
	if err != nil {
		s.scoringFailed(ctx, "fraud scoring failed: the order is held for review", a.OrderID, err)
		risk = order.Risk{Score: 0, Decision: order.DecisionReview, Reasons: []string{"scoring failed: held for review"}}
	}
	s.decisions.WithLabelValues(risk.Decision).Inc()
	return &risk
}

// scoringFailed logs a scorer's failure: an error, but a warning when the
// scorer only met an outage of a dependency (its history read cut with the
// database), which the dependency tracker reports once for the whole
// outage; the order is held for review either way.
func (s *Service) scoringFailed(ctx context.Context, msg, orderID string, err error) {
	level := slog.LevelError
	if _, outage := dependency.Classify(err); outage {
		level = slog.LevelWarn
	}
	s.log.Log(ctx, level, msg, "order", orderID, "err", err)
}

// rescore runs the decision again with what the processor checked. A
// scorer that fails holds the order for review, as in score; a decision
// that changes is counted again (block or review).
func (s *Service) rescore(ctx context.Context, a Attempt, prior order.Risk) *order.Risk {
	sctx, cancel := context.WithTimeout(ctx, ScoreTimeout)
	defer cancel()
	risk, err := s.scorer.Recheck(sctx, a, prior)
	if err == nil {
		err = risk.Check()
	}
	if err != nil {
		s.scoringFailed(ctx, "fraud scoring after authorization failed: the order is held for review", a.OrderID, err)
		risk = prior
		if risk.Decision == order.DecisionAllow {
			risk.Decision = order.DecisionReview
		}
		risk.Reasons = append(risk.Reasons, "scoring failed: held for review")
	}
	if risk.Decision != prior.Decision {
		s.decisions.WithLabelValues(risk.Decision).Inc()
	}
	return &risk
}

// RecoverAbandoned finishes checkouts that a stopped server left half done:
// every pending order whose lease has run out has its authorization voided,
// its stock given back, its cart freed and its Idempotency-Key freed (so the
// client's retry runs again), audited. It returns how many it recovered.
// Several instances may run it at once: Release acts on a pending order once.
func (s *Service) RecoverAbandoned(ctx context.Context) (int, error) {
	stale, err := s.store.ExpiredPending(ctx, s.now().UTC())
	if err != nil {
		return 0, err
	}
	for i, a := range stale {
		if a.AuthorizationID != "" {
			// The server may have stopped before or after the capture.
			if err := s.giveBack(ctx, a.AuthorizationID, a.Total, a.OrderID); err != nil {
				return i, fmt.Errorf("give back the payment of abandoned %s: %w", a.OrderID, err)
			}
		}
		rec := audit.New(ctx, s.now(), order.ActionCheckout, a.OrderID, audit.Failure, "abandoned checkout released")
		if err := s.store.Release(ctx, a.OrderID, a.Key, "", rec); err != nil {
			return i, fmt.Errorf("release abandoned %s: %w", a.OrderID, err)
		}
	}
	return len(stale), nil
}

// giveBack voids the authorization, or refunds total when it can no longer
// be voided (it was captured), with the order id as the refund's reference:
// whichever path gives back an order's payment, it is one refund.
func (s *Service) giveBack(ctx context.Context, authID string, total money.Money, orderID string) error {
	verr := s.gateway.Void(ctx, authID)
	if verr == nil {
		return nil
	}
	if _, rerr := s.gateway.Refund(ctx, authID, total, orderID); rerr != nil {
		return errors.Join(fmt.Errorf("void %s: %w", orderID, verr), fmt.Errorf("refund %s: %w", orderID, rerr))
	}
	return nil
}

// Priced is the order pricing made of a quote: its amounts, and per line
// the variant, quantity, unit price, total, discount and tax. The store
// completes it with what it reads while taking the stock (names, SKUs).
func Priced(q pricing.Quote) order.Order {
	m := func(a int64) money.Money { return money.Money{Amount: a, Currency: q.Currency} }
	o := order.Order{Subtotal: m(q.Subtotal), Discount: m(q.Discount), DiscountCode: q.DiscountCode,
		Shipping: m(q.ShippingAmount()), Tax: m(q.Tax), TaxInclusive: q.TaxMode == pricing.TaxInclusive,
		Taxes: make([]order.TaxLine, 0, len(q.Taxes)), Total: m(q.Total),
		Captured: m(0), Refunded: m(0), Lines: make([]order.Line, 0, len(q.Lines))}
	if q.Shipping != nil {
		o.ShippingOption = &order.ShippingChoice{OptionID: q.Shipping.OptionID, Name: q.Shipping.Name}
	}
	for _, t := range q.Taxes {
		o.Taxes = append(o.Taxes, order.TaxLine{RateID: t.RateID, Name: t.Name, Country: t.Place.Country, Region: t.Place.Region,
			RatePPM: t.RatePPM, Base: m(t.Base), Amount: m(t.Amount)})
	}
	for _, l := range q.Lines {
		o.Lines = append(o.Lines, order.Line{VariantID: l.VariantID, ProductID: l.ProductID, Quantity: int(l.Quantity),
			UnitPrice: m(l.UnitPrice), LineTotal: m(l.Total), Discount: m(l.Discount), Tax: m(l.Tax)})
	}
	return o
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
