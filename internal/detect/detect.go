// Package detect turns security signals into findings (issue 14). Every
// layer reports what it saw as a Signal (a failed sign-in, a WAF refusal, a
// declined payment...); the Engine runs the detectors, which are data —
// which signals they count, per which subject, how many within how long —
// and returns an Observation for each detector whose threshold a signal
// reaches, for the findings store to raise or add to.
//
// Counting is in a throttle.Store: in memory for one instance, in Redis so
// that every instance counts together and a decision made on one holds on
// all.
package detect

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/bulwark-shop/bulwark/internal/finding"
)

// Kind is a kind of signal.
type Kind string

// The signals the layers report.
const (
	LoginFailed     Kind = "login.failed"
	LoginSucceeded  Kind = "login.succeeded"
	MFAFailed       Kind = "mfa.failed"
	PaymentDeclined Kind = "payment.declined"
	// Lockout is a sign-in lock the throttle set (Detail "lock" says
	// which); Registered a registration asked for; ResetRequested a
	// password reset asked for: counted per address and account, for
	// staff and for detectors to come.
	Lockout        Kind = "login.locked"
	Registered     Kind = "account.registration_asked"
	ResetRequested Kind = "account.reset_asked"
	// AccessRefused is a request refused by authorization (401: no or a
	// dead session; 403: a permission it lacks — Detail "status", "code",
	// "route"); BotTrap a fetch of the bot trap.
	AccessRefused Kind = "http.access_refused"
	BotTrap       Kind = "edge.bot_trap"
	// AccountChanged is a change that would let whoever made it keep an
	// account: its password, email address, second factor, passkeys or
	// saved cards (Detail "change" says which).
	AccountChanged Kind = "account.changed"
	NotFound       Kind = "http.404"
	WAFBlocked     Kind = "waf.blocked"
	// PaymentAuthorized is a checkout the processor authorized (Detail
	// "outcome", "bin", "amount", "currency", as PaymentDeclined's).
	PaymentAuthorized Kind = "payment.authorized"
	// Refunded is a refund the processor made (Detail "order", "amount",
	// "currency", "via": refund, cancel or return), about the order's
	// customer.
	Refunded Kind = "payment.refunded"
)

// Kinds lists every kind of signal the layers report.
func Kinds() []Kind {
	return []Kind{LoginFailed, LoginSucceeded, MFAFailed, PaymentDeclined, NotFound, WAFBlocked, Lockout, Registered,
		ResetRequested, AccessRefused, BotTrap, AccountChanged, Refunded, PaymentAuthorized}
}

// Signal is one thing a layer saw. IP is the client address edge
// protection resolved; Account an account id; Card a card fingerprint (an
// HMAC of the number, never the number). Detail is evidence for people
// (rule ids, a path), never a secret.
type Signal struct {
	Kind    Kind
	At      time.Time
	IP      string
	Account string
	Card    string
	// Tried stands for the account a failed sign-in named when no account
	// has that name (an opaque digest of the email, as the lockout counts
	// it): counted as a distinct account, so credential stuffing with a
	// list of mostly unknown emails is seen too; never stored or shown.
	Tried  string
	Detail map[string]string
}

// subject returns the signal's subject of kind k, "" when it has none.
func (s Signal) subject(k finding.SubjectKind) string {
	switch k {
	case finding.IP:
		return s.IP
	case finding.Account:
		return s.Account
	case finding.Card:
		return s.Card
	}
	return ""
}

// Detector raises a finding of Type about the Per subject of a signal once
// Threshold of its Signals were seen for that subject within Window. With
// Distinct set, only the first signal per (subject, Distinct subject) in the
// window counts: failures from one address across many accounts, not many
// failures against one.
type Detector struct {
	Type      finding.Type
	Signals   []Kind
	Per       finding.SubjectKind
	Distinct  finding.SubjectKind
	Threshold int64
	Window    time.Duration
	Severity  int
	// Response, when set, names what is done about the finding; empty
	// leaves it to the responses (package response), a new finding
	// starting at "log".
	Response string
}

// Validate reports a detector that cannot work.
func (d Detector) Validate() error {
	var errs []error
	if !d.Type.Known() {
		errs = append(errs, fmt.Errorf("unknown finding type %q", d.Type))
	}
	if len(d.Signals) == 0 {
		errs = append(errs, errors.New("no signals"))
	}
	for _, k := range d.Signals {
		if !slices.Contains(Kinds(), k) {
			errs = append(errs, fmt.Errorf("unknown signal %q", k))
		}
	}
	switch d.Per {
	case finding.IP, finding.Account, finding.Card:
	default:
		errs = append(errs, fmt.Errorf("per %q is not ip, account or card", d.Per))
	}
	switch d.Distinct {
	case "", finding.IP, finding.Account, finding.Card:
	default:
		errs = append(errs, fmt.Errorf("distinct %q is not ip, account or card", d.Distinct))
	}
	if d.Distinct == d.Per && d.Distinct != "" {
		errs = append(errs, errors.New("distinct is the subject itself"))
	}
	if d.Threshold < 1 || d.Threshold > 1_000_000 {
		errs = append(errs, errors.New("threshold must be 1 to 1,000,000"))
	}
	if d.Window < time.Second || d.Window > 7*24*time.Hour {
		errs = append(errs, errors.New("window must be 1 s to 7 days"))
	}
	if d.Severity < 0 || d.Severity > 100 {
		errs = append(errs, errors.New("severity must be 0 to 100"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("detector %s: %w", d.Type, err)
	}
	return nil
}

// Counter counts within windows; throttle.Memory and throttle.Redis are.
type Counter interface {
	// Incr adds one to key and returns the new count; the count expires
	// window after its first increment.
	Incr(ctx context.Context, key string, window time.Duration) (int64, error)
	// Count returns key's count without adding to it (0 when none).
	Count(ctx context.Context, key string) (int64, error)
}

// Engine runs detectors over signals.
type Engine struct {
	detectors []Detector
	bySignal  map[Kind][]int
	counter   Counter
	takeover  Takeover
}

// New returns an engine running ds, counting in c. It refuses an invalid
// detector.
func New(c Counter, ds []Detector) (*Engine, error) {
	e := &Engine{detectors: ds, bySignal: map[Kind][]int{}, counter: c, takeover: DefaultTakeover()}
	for i, d := range ds {
		if err := d.Validate(); err != nil {
			return nil, err
		}
		for _, k := range d.Signals {
			e.bySignal[k] = append(e.bySignal[k], i)
		}
	}
	return e, nil
}

// Observe counts s for every detector that takes it and returns an
// observation for each whose threshold s reaches, and again each time the
// count in the window reaches a further multiple of it: a finding's count
// grows with the attack, by one per threshold's worth of signals. A counter that fails is an error, with the observations of
// the detectors counted before it.
func (e *Engine) Observe(ctx context.Context, s Signal) ([]finding.Observation, error) {
	var out []finding.Observation
	if o, err := e.takeover.observe(ctx, e.counter, s); err != nil {
		return nil, err
	} else if o != nil {
		out = append(out, *o)
	}
	for _, i := range e.bySignal[s.Kind] {
		d := e.detectors[i]
		subject := s.subject(d.Per)
		if subject == "" {
			continue
		}
		key := "detect:" + string(d.Type) + ":" + subject
		if d.Distinct != "" {
			other := s.subject(d.Distinct)
			if other == "" && d.Distinct == finding.Account && s.Tried != "" {
				other = "tried:" + s.Tried
			}
			if other == "" {
				continue
			}
			first, err := e.counter.Incr(ctx, key+":seen:"+other, d.Window)
			if err != nil {
				return out, fmt.Errorf("count %s: %w", d.Type, err)
			}
			if first > 1 {
				continue
			}
		}
		n, err := e.counter.Incr(ctx, key, d.Window)
		if err != nil {
			return out, fmt.Errorf("count %s: %w", d.Type, err)
		}
		// Observed at the threshold and then once per threshold's worth of
		// further signals in the window, not at every one: each observation
		// is a database write, and a flood of cheap requests (404s) must not
		// become a flood of writes beside the checkouts.
		if n < d.Threshold || n%d.Threshold != 0 {
			continue
		}
		evidence := map[string]string{"signal": string(s.Kind), "count": strconv.FormatInt(n, 10),
			"threshold": strconv.FormatInt(d.Threshold, 10), "window": d.Window.String()}
		if d.Distinct != "" {
			evidence["distinct"] = string(d.Distinct)
		}
		if d.Per != finding.IP && s.IP != "" {
			// Where an attack on an account or a card comes from (the
			// finding keeps the distinct addresses, bounded).
			evidence[finding.EvidenceIP] = s.IP
		}
		for k, v := range s.Detail {
			if _, taken := evidence[k]; !taken {
				evidence[k] = v
			}
		}
		// An empty response leaves the finding's as it is (finding.Raise
		// starts it at "log"): what the responses did must not be
		// overwritten by the next observation.
		out = append(out, finding.Observation{Type: d.Type, Severity: d.Severity,
			Subject: finding.Subject{Kind: d.Per, ID: subject}, At: s.At, Evidence: evidence, Response: d.Response})
	}
	return out, nil
}

// Defaults are the detectors Bulwark runs unless configured otherwise. The
// figures are chosen against the scenarios of issue 14 and sit above what a
// person does by mistake:
//
//   - AccountBruteForce: 10 failed sign-ins or second factors to one account
//     in 15 minutes. The lockout already stops guessing at 5 per pair; the
//     finding shows it happening from many addresses.
//   - CredentialStuffing: one address failing against 6 different accounts
//     in 10 minutes. A household or office behind one NAT address mistypes
//     its own few accounts, not six strangers'.
//   - CardTesting: 3 declines of one card within an hour, or 10 declines
//     from one address: card testers try many small amounts on few cards
//     from few addresses.
//   - Scanning: 30 requests for paths that do not exist from one address in
//     a minute; a storefront's broken link gives a handful.
//   - WAFProbe: 10 requests the WAF refused from one address in 5 minutes.
func Defaults() []Detector {
	return []Detector{
		{Type: finding.AccountBruteForce, Signals: []Kind{LoginFailed, MFAFailed}, Per: finding.Account,
			Threshold: 10, Window: 15 * time.Minute, Severity: 60},
		{Type: finding.CredentialStuffing, Signals: []Kind{LoginFailed}, Per: finding.IP, Distinct: finding.Account,
			Threshold: 6, Window: 10 * time.Minute, Severity: 70},
		{Type: finding.CardTesting, Signals: []Kind{PaymentDeclined}, Per: finding.Card,
			Threshold: 3, Window: time.Hour, Severity: 70},
		{Type: finding.CardTesting, Signals: []Kind{PaymentDeclined}, Per: finding.IP,
			Threshold: 10, Window: time.Hour, Severity: 70},
		{Type: finding.Scanning, Signals: []Kind{NotFound}, Per: finding.IP,
			Threshold: 30, Window: time.Minute, Severity: 40},
		{Type: finding.WAFProbe, Signals: []Kind{WAFBlocked}, Per: finding.IP,
			Threshold: 10, Window: 5 * time.Minute, Severity: 60},
	}
}
