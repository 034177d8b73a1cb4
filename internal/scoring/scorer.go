package scoring

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bulwark-shop/bulwark/internal/checkout"
	"github.com/bulwark-shop/bulwark/internal/fraudmodel"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/order"
)

// Counter counts within windows and reads a count without adding to it
// (throttle.Memory for one instance, throttle.Redis shared by all).
type Counter interface {
	Incr(ctx context.Context, key string, window time.Duration) (int64, error)
	Count(ctx context.Context, key string) (int64, error)
}

// History is what the shop knows of an account before this checkout.
type History struct {
	Since time.Time
	// Orders is how many orders the account has had in the checkout's
	// currency, and Average their mean total (minor units).
	Orders  int64
	Average int64
	// EmailIndex is the blind index of the account's email ("" for a
	// guest): the email's velocity, read with the rest in one query.
	EmailIndex string
}

// Histories reads an account's history (the store).
type Histories interface {
	CheckoutHistory(ctx context.Context, customerID, currency, excludeOrderID string) (History, error)
	// AccountEmailIndex reads the account's email index alone ("" for a
	// guest): a decline refused before scoring counts for the email too.
	AccountEmailIndex(ctx context.Context, accountID string) (string, error)
}

// Velocity windows.
const (
	hour = time.Hour
	day  = 24 * time.Hour
)

// Scorer scores checkouts: checkout.Scorer.
type Scorer struct {
	// Shared, when set, reports an address key that stands for many
	// clients (the loopback, a trusted proxy): its velocity is not a
	// client's, so the address features stay 0 for it.
	Shared func(addressKey string) bool
	// Held, when set, reports whether a response to a finding holds the
	// orders of the address key, account or card fingerprint for review
	// (response.Checker.OrdersHeld): a checkout the rules do not block is
	// then reviewed, saying so.
	Held func(ip, account, card string) bool

	counter   Counter
	histories Histories
	rules     atomic.Pointer[Compiled]
	shadow    atomic.Pointer[Compiled]
	// model and shadowModel are the trained models enforced and in shadow
	// (none: rules only).
	model       atomic.Pointer[fraudmodel.Model]
	shadowModel atomic.Pointer[fraudmodel.Model]
	// BlockAt and ReviewAt are the model's thresholds (fraud-block-at,
	// fraud-review-at): a score at or above them blocks or reviews.
	BlockAt, ReviewAt int
}

// Default thresholds of the model's score.
const (
	DefaultBlockAt  = 75
	DefaultReviewAt = 65
)

var _ checkout.Scorer = (*Scorer)(nil)

// New returns a scorer running rules (DefaultRules when nil).
func New(c Counter, h Histories, rules *RuleSet) (*Scorer, error) {
	s := &Scorer{counter: c, histories: h, BlockAt: DefaultBlockAt, ReviewAt: DefaultReviewAt}
	rs := DefaultRules()
	if rules != nil {
		rs = *rules
	}
	if err := s.SetRules(rs); err != nil {
		return nil, err
	}
	return s, nil
}

// SetRules compiles rs and runs it from the next checkout on: enforced, or
// in shadow beside the enforced set. An invalid set is refused and the
// running one stays.
func (s *Scorer) SetRules(rs RuleSet) error {
	c, err := Compile(rs)
	if err != nil {
		return err
	}
	if c.Mode == Shadow {
		s.shadow.Store(c)
	} else {
		s.rules.Store(c)
	}
	return nil
}

// modelDecision is what a model's score decides alone.
func (s *Scorer) modelDecision(score int) string {
	switch {
	case score >= s.BlockAt:
		return order.DecisionBlock
	case score >= s.ReviewAt:
		return order.DecisionReview
	}
	return order.DecisionAllow
}

// HeldReason is the reason of a checkout reviewed because a response holds
// its orders.
const HeldReason = "response: orders held for review after a finding"

// ClearShadow stops the shadow rule set (none runs beside the enforced one).
func (s *Scorer) ClearShadow() { s.shadow.Store(nil) }

// SetModel runs m from the next checkout on (nil: rules only), enforced or
// in shadow.
func (s *Scorer) SetModel(m *fraudmodel.Model, shadow bool) {
	if shadow {
		s.shadowModel.Store(m)
	} else {
		s.model.Store(m)
	}
}

// The counters' keys: what they count, of which subject.
func key(what, subject string) string { return "fraud:" + what + ":" + subject }

// Score computes the features of a, counting it, and runs the rules.
func (s *Scorer) Score(ctx context.Context, a checkout.Attempt) (order.Risk, error) {
	f, err := s.Features(ctx, a)
	if err != nil {
		return order.Risk{}, err
	}
	return s.decide(f, a), nil
}

// Recheck implements checkout.Scorer: the decision again on prior's
// features, with what the processor checked of the card. It counts
// nothing: the attempt was counted when it was scored.
func (s *Scorer) Recheck(_ context.Context, a checkout.Attempt, prior order.Risk) (order.Risk, error) {
	f := FromMap(prior.Features)
	s.describe(&f, a)
	return s.decide(f, a), nil
}

// decide runs the rules and the models over f.
func (s *Scorer) decide(f Features, a checkout.Attempt) order.Risk {
	rules := s.rules.Load()
	v := rules.Evaluate(f)
	risk := order.Risk{Score: v.Score, Decision: v.Decision, Reasons: v.Matched, RulesVersion: rules.Version, Features: f.Map()}
	if m := s.model.Load(); m != nil {
		// The model scores; the rules' block stands and an allow rule lets
		// the checkout through review, never through a block.
		score, reasons := m.Score(risk.Features)
		risk.ModelVersion, risk.Score = m.Version, max(risk.Score, score)
		switch d := s.modelDecision(score); {
		case v.Decision == order.DecisionBlock:
		case d == order.DecisionBlock, d == order.DecisionReview && v.Decision == order.DecisionAllow && !v.Allowed:
			risk.Decision = d
			risk.Reasons = append(risk.Reasons, reasons...)
		}
	}
	if risk.Decision != order.DecisionBlock && s.Held != nil && s.Held(a.IP, a.CustomerID, a.Card) {
		risk.Decision, risk.Score = order.DecisionReview, max(risk.Score, ReviewScore)
		risk.Reasons = append(risk.Reasons, HeldReason)
	}
	if risk.Reasons == nil {
		risk.Reasons = []string{}
	}
	var shadows []string
	if sh := s.shadow.Load(); sh != nil {
		sv := sh.Evaluate(f)
		shadows = append(shadows, sh.Version+": "+sv.Decision)
	}
	if m := s.shadowModel.Load(); m != nil {
		score, _ := m.Score(risk.Features)
		shadows = append(shadows, "model "+m.Version+": "+s.modelDecision(score)+" ("+strconv.Itoa(score)+")")
	}
	risk.Shadow = strings.Join(shadows, "; ")
	return risk
}

// Features computes a's features, counting a as an attempt of its card,
// address and account.
func (s *Scorer) Features(ctx context.Context, a checkout.Attempt) (Features, error) {
	f := Features{Amount: major(a.Total), Units: float64(a.Units), Lines: float64(a.Lines), AmountVsAverage: 1}
	s.describe(&f, a)
	if a.Guest {
		f.Guest = 1
	} else if s.histories != nil {
		h, err := s.histories.CheckoutHistory(ctx, a.CustomerID, a.Total.Currency, a.OrderID)
		if err != nil {
			return f, fmt.Errorf("read the account's history: %w", err)
		}
		if a.Email == "" {
			a.Email = h.EmailIndex
		}
		f.AccountAgeHours = math.Max(0, a.At.Sub(h.Since).Hours())
		f.PriorOrders = float64(h.Orders)
		if h.Orders > 0 && h.Average > 0 {
			f.AmountVsAverage = float64(a.Total.Amount) / float64(h.Average)
		}
	}
	var errs []error
	incr := func(dst *float64, k string, window time.Duration) {
		n, err := s.counter.Incr(ctx, k, window)
		errs = append(errs, err)
		*dst = float64(n)
	}
	count := func(dst *float64, k string) {
		n, err := s.counter.Count(ctx, k)
		errs = append(errs, err)
		*dst = float64(n)
	}
	if a.Card != "" {
		incr(&f.CardAttemptsHour, key("attempts-hour", a.Card), hour)
		count(&f.CardDeclinesHour, key("declines-hour", a.Card))
		count(&f.CardDeclinesDay, key("declines-day", a.Card))
	}
	if a.IP != "" && !s.shared(a.IP) {
		incr(&f.AddressAttemptsHour, key("attempts-hour", a.IP), hour)
		count(&f.AddressDeclinesHour, key("declines-hour", a.IP))
		count(&f.AddressDeclinesDay, key("declines-day", a.IP))
		if a.Card != "" {
			s.countCard(ctx, a, &errs)
		}
		count(&f.AddressCardsDay, key("cards-day", a.IP))
	}
	if a.CustomerID != "" {
		incr(&f.AccountAttemptsHour, key("attempts-hour", a.CustomerID), hour)
		count(&f.AccountDeclinesHour, key("declines-hour", a.CustomerID))
		count(&f.AccountDeclinesDay, key("declines-day", a.CustomerID))
	}
	if a.Email != "" {
		e := emailKey(a.Email)
		incr(&f.EmailAttemptsHour, key("attempts-hour", e), hour)
		count(&f.EmailDeclinesHour, key("declines-hour", e))
		count(&f.EmailDeclinesDay, key("declines-day", e))
	}
	if err := errors.Join(errs...); err != nil {
		return f, fmt.Errorf("count the checkout's velocity: %w", err)
	}
	return f, nil
}

// describe sets f's attributes that a tells as they are, counting nothing:
// the countries, the card's BIN and network, the CVC check.
func (s *Scorer) describe(f *Features, a checkout.Attempt) {
	f.ShipCountry, f.BIN, f.Brand = a.ShipCountry, a.BIN, a.Brand
	f.CardCountry, f.BillingCountry, f.CVCCheck = a.CardCountry, a.BillingCountry, a.CVCCheck
	if f.CVCCheck == "" {
		f.CVCCheck = "unchecked"
	}
	f.CardCountryMismatch = mismatch(a.CardCountry, a.ShipCountry)
	f.BillingMismatch = mismatch(a.BillingCountry, a.ShipCountry)
}

// emailKey is the counters' subject of an email's blind index: apart from
// accounts, cards and addresses whatever the index looks like.
func emailKey(index string) string { return "email:" + index }

// countCard counts a's card among its address's distinct cards of the day.
func (s *Scorer) countCard(ctx context.Context, a checkout.Attempt, errs *[]error) {
	first, err := s.counter.Incr(ctx, key("card-seen", a.IP+":"+a.Card), day)
	*errs = append(*errs, err)
	if err == nil && first == 1 {
		_, err = s.counter.Incr(ctx, key("cards-day", a.IP), day)
		*errs = append(*errs, err)
	}
}

// Declined counts a declined (or blocked) attempt for its card, address
// and account. A counter that fails is not an error of the checkout: the
// velocity is the poorer for it, and the next score still runs.
func (s *Scorer) Declined(ctx context.Context, a checkout.Attempt) {
	ip := a.IP
	if s.shared(ip) {
		ip = ""
	}
	if a.Email == "" && !a.Guest && a.CustomerID != "" && s.histories != nil {
		// An account's checkout names its email by the account (Score reads
		// it with the history); a decline reads it alone.
		a.Email, _ = s.histories.AccountEmailIndex(ctx, a.CustomerID)
	}
	email := ""
	if a.Email != "" {
		email = emailKey(a.Email)
	}
	for _, subject := range []string{a.Card, ip, a.CustomerID, email} {
		if subject == "" {
			continue
		}
		_, _ = s.counter.Incr(ctx, key("declines-hour", subject), hour)
		_, _ = s.counter.Incr(ctx, key("declines-day", subject), day)
	}
	if ip != "" && a.Card != "" {
		var errs []error
		s.countCard(ctx, a, &errs)
	}
}

func (s *Scorer) shared(ip string) bool { return s.Shared != nil && s.Shared(ip) }

// major is m in major units.
func major(m money.Money) float64 {
	return float64(m.Amount) / math.Pow10(money.Digits(m.Currency))
}

// Fallback counts in primary (Redis, shared by every instance) and, when it
// fails, in local (this instance's memory): through a Redis outage the
// velocity is this instance's own, and checkouts are still scored on it
// rather than all held for review.
type Fallback struct {
	Primary, Local Counter
}

// Incr implements Counter.
func (f Fallback) Incr(ctx context.Context, key string, window time.Duration) (int64, error) {
	n, err := f.Primary.Incr(ctx, key, window)
	if err != nil {
		return f.Local.Incr(ctx, key, window)
	}
	return n, nil
}

// Count implements Counter.
func (f Fallback) Count(ctx context.Context, key string) (int64, error) {
	n, err := f.Primary.Count(ctx, key)
	if err != nil {
		return f.Local.Count(ctx, key)
	}
	return n, nil
}
