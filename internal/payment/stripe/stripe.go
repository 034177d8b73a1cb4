// Package stripe is payment.Gateway on Stripe's PaymentIntents API with
// manual capture: Authorize creates a card PaymentMethod from the card the
// vault gave back and a PaymentIntent confirmed with capture_method=manual
// (a hold, not a charge); Capture captures it with amount_to_capture; Void
// cancels it; Refund creates a refund on it.
//
// It guarantees that:
//   - every call carries an Idempotency-Key derived from the shop's reference
//     (the order id, the authorization, the refund id), so a call retried by
//     the shop or by stripe-go's own network retries never charges, captures
//     or refunds twice;
//   - the card number and CVC are sent to Stripe and nowhere else: they are
//     never kept, never logged, and never part of an error (errors are made
//     of Stripe's type, code, decline code, HTTP status and request id only,
//     never of its message or of stripe-go's error text, which holds the
//     whole answer);
//   - a declined card is payment.ErrDeclined (402 payment_declined); Stripe
//     unreachable, a 5xx, a 429 or a concurrent use of the same key is an
//     outage of dependency.Payment (503 unavailable with Retry-After, never a
//     500), logged here once per failure; anything else (an invalid request,
//     a wrong key) is an internal error with its context, for the log.
//
// Sending card numbers to Stripe's API (rather than tokens made by Stripe.js
// in the buyer's browser) needs the "raw card data APIs" to be enabled on
// the Stripe account (docs/OPERATIONS.md).
package stripe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	stripeapi "github.com/stripe/stripe-go/v82"

	"github.com/bulwark-shop/bulwark/internal/dependency"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/payment"
)

// DefaultAPIBase is Stripe's API.
const DefaultAPIBase = "https://api.stripe.com"

// Config is what the adapter needs.
type Config struct {
	// SecretKey is the account's secret (sk_…) or restricted (rk_…) key.
	SecretKey string
	// APIBase is Stripe's API URL (DefaultAPIBase when empty); tests point it
	// at stripe-mock.
	APIBase string
	// HTTPClient carries the calls (a client with a 30 s timeout when nil).
	HTTPClient *http.Client
	// Retries is how often stripe-go retries a call that met a network
	// failure, a 409 or a 5xx, with the same Idempotency-Key (0: never).
	Retries int
	Log     *slog.Logger
}

// Gateway is payment.Gateway on Stripe.
type Gateway struct {
	client *stripeapi.Client
	log    *slog.Logger
}

var (
	_ payment.Gateway   = (*Gateway)(nil)
	_ payment.Inspector = (*Gateway)(nil)
)

// New returns the Stripe gateway. It refuses an empty key.
func New(c Config) (*Gateway, error) {
	if c.SecretKey == "" {
		return nil, errors.New("stripe: no secret key")
	}
	if c.APIBase == "" {
		c.APIBase = DefaultAPIBase
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	retries := int64(c.Retries)
	backend := stripeapi.GetBackendWithConfig(stripeapi.APIBackend, &stripeapi.BackendConfig{
		URL:               stripeapi.String(strings.TrimRight(c.APIBase, "/")),
		HTTPClient:        c.HTTPClient,
		MaxNetworkRetries: &retries,
		// stripe-go's own log would print Stripe's answers: the adapter logs
		// what it needs, with the fields it chooses.
		LeveledLogger:   quiet{},
		EnableTelemetry: stripeapi.Bool(false),
	})
	client := stripeapi.NewClient(c.SecretKey, stripeapi.WithBackends(&stripeapi.Backends{API: backend, Connect: backend,
		Uploads: backend, MeterEvents: backend}))
	return &Gateway{client: client, log: c.Log}, nil
}

// errNoReference refuses a call whose idempotency key would be made of nothing.
var errNoReference = errors.New("stripe: the shop's reference is needed for the idempotency key")

// Idempotency keys, one per operation and shop reference.
func authorizeKey(reference string) string { return "bulwark-authorize-" + reference }
func methodKey(reference string) string    { return "bulwark-card-" + reference }
func confirmKey(authID string) string      { return "bulwark-confirm-" + authID }
func captureKey(authID string) string      { return "bulwark-capture-" + authID }
func voidKey(authID string) string         { return "bulwark-void-" + authID }
func refundKey(reference string) string    { return "bulwark-refund-" + reference }

// Authorize creates a card PaymentMethod and a PaymentIntent for the amount,
// confirmed with manual capture, and returns the PaymentIntent's id. With
// req.Record, the intent is created unconfirmed (nothing held), recorded,
// and only then confirmed: two calls instead of one, so that a shop that
// stops at any point knows the intent to cancel. A card
// that needs the buyer's authentication (3-D Secure), which a server alone
// cannot give, is cancelled and declined.
func (g *Gateway) Authorize(ctx context.Context, req payment.AuthorizeRequest) (string, error) {
	if req.Reference == "" {
		return "", errNoReference // one key for every call would make them one payment
	}
	if req.Amount.Amount <= 0 {
		return "", fmt.Errorf("%w: amount must be positive", payment.ErrDeclined)
	}
	pm, err := g.method(ctx, req)
	if err != nil {
		return "", g.fail(ctx, "authorize", req.Reference, err)
	}
	piParams := &stripeapi.PaymentIntentCreateParams{
		Amount:             stripeapi.Int64(req.Amount.Amount),
		Currency:           stripeapi.String(strings.ToLower(req.Amount.Currency)),
		PaymentMethod:      stripeapi.String(pm.ID),
		PaymentMethodTypes: []*string{stripeapi.String(string(stripeapi.PaymentMethodTypeCard))},
		CaptureMethod:      stripeapi.String(string(stripeapi.PaymentIntentCaptureMethodManual)),
		// Confirmed once the shop has recorded the intent's id (below):
		// an intent not yet confirmed holds nothing.
		Confirm: stripeapi.Bool(req.Record == nil),
	}
	piParams.AddMetadata("bulwark_reference", req.Reference)
	// The charge, for what the issuer checked (the CVC).
	piParams.AddExpand("latest_charge")
	piParams.SetIdempotencyKey(authorizeKey(req.Reference))
	pi, err := g.client.V1PaymentIntents.Create(ctx, piParams)
	if err != nil {
		return "", g.fail(ctx, "authorize", req.Reference, err)
	}
	if req.Record != nil {
		if err := req.Record(ctx, pi.ID); err != nil {
			if verr := g.Void(context.WithoutCancel(ctx), pi.ID); verr != nil {
				g.log.WarnContext(ctx, "stripe: cancel of an unrecorded intent failed", "payment_intent", pi.ID, "err", verr)
			}
			return "", err
		}
		params := &stripeapi.PaymentIntentConfirmParams{}
		params.AddExpand("latest_charge")
		params.SetIdempotencyKey(confirmKey(pi.ID))
		if pi, err = g.client.V1PaymentIntents.Confirm(ctx, pi.ID, params); err != nil {
			return "", g.fail(ctx, "authorize", req.Reference, err)
		}
	}
	switch pi.Status {
	case stripeapi.PaymentIntentStatusRequiresAction:
		// Nothing is held until the buyer authenticates, which they cannot
		// do here: let the intent go rather than leave it waiting.
		if err := g.Void(context.WithoutCancel(ctx), pi.ID); err != nil {
			g.log.WarnContext(ctx, "stripe: cancel of an intent needing authentication failed", "payment_intent", pi.ID, "err", err)
		}
		return "", fmt.Errorf("%w: the card asks for authentication (3-D Secure)", payment.ErrDeclined)
	case stripeapi.PaymentIntentStatusCanceled:
		return "", payment.ErrDeclined
	}
	if req.Checked != nil {
		req.Checked(checks(pi))
	}
	// requires_capture is the hold. Stripe answers a refused confirmation
	// with a 402 card_error, not with another status; should another status
	// come back anyway, Capture finds that nothing is held and the checkout
	// gives everything back.
	return pi.ID, nil
}

// method creates the payment method of req's card, once per reference:
// Inspect and Authorize send the same parameters under the same
// Idempotency-Key, so Stripe makes one and answers the second call with it.
func (g *Gateway) method(ctx context.Context, req payment.AuthorizeRequest) (*stripeapi.PaymentMethod, error) {
	pmParams := &stripeapi.PaymentMethodCreateParams{
		Type: stripeapi.String(string(stripeapi.PaymentMethodTypeCard)),
		Card: &stripeapi.PaymentMethodCreateCardParams{
			Number:   stripeapi.String(req.Card.Number),
			ExpMonth: stripeapi.Int64(int64(req.Card.ExpMonth)),
			ExpYear:  stripeapi.Int64(int64(req.Card.ExpYear)),
			CVC:      stripeapi.String(req.CVC),
		},
	}
	if req.Card.Holder != "" {
		pmParams.BillingDetails = &stripeapi.PaymentMethodCreateBillingDetailsParams{Name: stripeapi.String(req.Card.Holder)}
	}
	pmParams.SetIdempotencyKey(methodKey(req.Reference))
	return g.client.V1PaymentMethods.Create(ctx, pmParams)
}

// Inspect returns the country of the card's issuer, as Stripe reads it off
// the payment method it makes for the authorization to come; nothing is
// held on the card, and the issuer is not asked.
func (g *Gateway) Inspect(ctx context.Context, req payment.AuthorizeRequest) (payment.CardInfo, error) {
	if req.Reference == "" {
		return payment.CardInfo{}, errNoReference
	}
	pm, err := g.method(ctx, req)
	if err != nil {
		return payment.CardInfo{}, g.fail(ctx, "inspect", req.Reference, err)
	}
	if pm.Card == nil {
		return payment.CardInfo{}, nil
	}
	return payment.CardInfo{Country: strings.ToUpper(pm.Card.Country)}, nil
}

// checks reads what the issuer checked off the intent's charge: unchecked
// when the charge is not there.
func checks(pi *stripeapi.PaymentIntent) payment.Checks {
	c := payment.Checks{CVC: payment.CheckUnchecked}
	if ch := pi.LatestCharge; ch != nil && ch.PaymentMethodDetails != nil && ch.PaymentMethodDetails.Card != nil &&
		ch.PaymentMethodDetails.Card.Checks != nil {
		switch v := string(ch.PaymentMethodDetails.Card.Checks.CVCCheck); v {
		case payment.CheckPass, payment.CheckFail, payment.CheckUnavailable:
			c.CVC = v
		}
	}
	return c
}

// Capture collects amount of the authorization.
func (g *Gateway) Capture(ctx context.Context, authID string, amount money.Money) error {
	params := &stripeapi.PaymentIntentCaptureParams{AmountToCapture: stripeapi.Int64(amount.Amount)}
	params.SetIdempotencyKey(captureKey(authID))
	if _, err := g.client.V1PaymentIntents.Capture(ctx, authID, params); err != nil {
		return g.fail(ctx, "capture", authID, err)
	}
	return nil
}

// Void cancels the authorization.
func (g *Gateway) Void(ctx context.Context, authID string) error {
	params := &stripeapi.PaymentIntentCancelParams{}
	params.SetIdempotencyKey(voidKey(authID))
	if _, err := g.client.V1PaymentIntents.Cancel(ctx, authID, params); err != nil {
		return g.fail(ctx, "void", authID, err)
	}
	return nil
}

// Refund refunds amount of the captured authorization and returns Stripe's
// refund id. The Idempotency-Key is made of reference: the same reference is
// the same refund.
func (g *Gateway) Refund(ctx context.Context, authID string, amount money.Money, reference string) (string, error) {
	if reference == "" {
		return "", errNoReference
	}
	params := &stripeapi.RefundCreateParams{PaymentIntent: stripeapi.String(authID), Amount: stripeapi.Int64(amount.Amount)}
	params.AddMetadata("bulwark_reference", reference)
	params.SetIdempotencyKey(refundKey(reference))
	r, err := g.client.V1Refunds.Create(ctx, params)
	if err != nil {
		return "", g.fail(ctx, "refund", reference, err)
	}
	return r.ID, nil
}

// Failure is what the adapter says of a call Stripe did not carry out: only
// fields that cannot hold card data.
type Failure struct {
	Op, Reference                string
	Status                       int
	Type, Code, DeclineCode, Req string
	// Transport is set when Stripe's answer never came.
	Transport error
}

func (f *Failure) Error() string {
	if f.Transport != nil {
		return fmt.Sprintf("stripe %s %s: no answer: %v", f.Op, f.Reference, f.Transport)
	}
	return fmt.Sprintf("stripe %s %s: status %d type=%s code=%s decline_code=%s request_id=%s",
		f.Op, f.Reference, f.Status, f.Type, f.Code, f.DeclineCode, f.Req)
}

// Unwrap lets errors.Is see a context's end behind a transport failure.
func (f *Failure) Unwrap() error { return f.Transport }

// fail turns what stripe-go returned into Bulwark's errors (see the package
// comment) and logs outages.
func (g *Gateway) fail(ctx context.Context, op, reference string, err error) error {
	var se *stripeapi.Error
	if !errors.As(err, &se) {
		// The transport's error (a refused connection, a timeout) names the
		// host and the cause, never the request's body.
		f := &Failure{Op: op, Reference: reference, Transport: err}
		if errors.Is(err, context.Canceled) {
			return f // the buyer went away: not an outage
		}
		g.log.WarnContext(ctx, "stripe unreachable", "op", op, "reference", reference, "err", f.Transport)
		return dependency.Wrap(dependency.Payment, f)
	}
	f := &Failure{Op: op, Reference: reference, Status: se.HTTPStatusCode, Type: string(se.Type), Code: string(se.Code),
		DeclineCode: string(se.DeclineCode), Req: se.RequestID}
	switch {
	case se.Type == stripeapi.ErrorTypeCard:
		switch {
		case se.Code == stripeapi.ErrorCodeIncorrectCVC:
			return fmt.Errorf("%w: %w: %w", payment.ErrDeclined, payment.ErrIncorrectCVC, f)
		case se.DeclineCode == stripeapi.DeclineCodeInsufficientFunds:
			return fmt.Errorf("%w: %w: %w", payment.ErrDeclined, payment.ErrInsufficientFunds, f)
		}
		return fmt.Errorf("%w: %w", payment.ErrDeclined, f)
	case se.HTTPStatusCode >= 500, se.HTTPStatusCode == http.StatusTooManyRequests, se.Type == stripeapi.ErrorTypeAPI,
		se.Type == stripeapi.ErrorTypeIdempotency && se.HTTPStatusCode == http.StatusConflict:
		g.log.WarnContext(ctx, "stripe unavailable", "op", op, "reference", reference, "status", f.Status, "type", f.Type,
			"code", f.Code, "request_id", f.Req)
		return dependency.Wrap(dependency.Payment, f)
	}
	return f
}

// quiet is stripe-go's logger, silenced.
type quiet struct{}

func (quiet) Debugf(string, ...any) {}
func (quiet) Errorf(string, ...any) {}
func (quiet) Infof(string, ...any)  {}
func (quiet) Warnf(string, ...any)  {}
