// Package response decides what Bulwark does about a finding (issue 14,
// "Responses, graduated"): each finding type, per subject kind, has a rule
// naming one action — log only, add delay, require step-up, hold orders for
// review, lock the account, block the address, block the card fingerprint —
// and, for blocks, how long, growing with repeats.
//
// The rules are data (Defaults, documented in docs/OPERATIONS.md) and the
// decision is pure: Decide takes the finding and what the caller knows of
// the subject (how many blocks it had within RepeatWindow, whether it is an
// address that must never be blocked) and returns a Decision. Three
// guarantees hold whatever the rules say:
//
//   - a finding whose evidence says its signal came from a third-party page
//     (site=cross-site) is never acted on: a page of another site can make a
//     visitor's browser send requests, and must not get that visitor blocked;
//   - an exempt address (loopback, a trusted proxy that stands for every
//     client behind it) is never blocked;
//   - an address is only blocked by the rules of address findings: a
//     finding about an account or card acts on that account or card, so a
//     household or office behind one NAT address does not lose access
//     because one of its users misbehaves.
package response

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/bulwark-shop/bulwark/internal/finding"
)

// Action is what is done about a finding.
type Action string

// The actions, mildest first.
const (
	// Log records the finding and does nothing else.
	Log Action = "log"
	// Delay puts an address's sign-ins (and every request that needs a
	// password hash) behind everyone else's for a time: they take only
	// what the hash pool has to spare, and are turned away (503, Retry-After)
	// while anyone else waits. Nothing is refused to a quiet shop, so the
	// customers behind a NAT address an attacker shares keep signing in,
	// while the attack stops crowding them out of the pool.
	Delay Action = "delay"
	// StepUp makes the account prove itself again: for a time, every
	// session of it begun before the finding counts as not recently
	// authenticated, so what needs a recent login (exporting its data,
	// adding a passkey, turning a second factor off, staff actions) asks
	// for a new sign-in — through the one login gate, second factor and
	// all — while browsing and buying go on.
	StepUp Action = "step-up"
	// HoldOrders holds the orders of the subject (an address, an account
	// or a card) for review for a time: fraud scoring sends each one it
	// would allow to the review queue instead, authorized and not
	// captured. Nothing is refused, so an office's shared NAT address
	// keeps ordering while staff look.
	HoldOrders Action = "hold-orders"
	// LockAccount refuses sign-in to the account for a time.
	LockAccount Action = "lock-account"
	// BlockAddress refuses every request from the address for a time.
	BlockAddress Action = "block-ip"
	// BlockCard refuses checkout with the card fingerprint for a time.
	BlockCard Action = "block-card"
)

// Blocks reports whether a is an action that refuses its subject for a time.
func (a Action) Blocks() bool { return a == BlockAddress || a == BlockCard || a == LockAccount }

// Timed reports whether a lasts for a time that grows with repeats: the
// blocks, Delay, HoldOrders and StepUp.
func (a Action) Timed() bool { return a.Blocks() || a == Delay || a == HoldOrders || a == StepUp }

// subjectOf is the subject kind each blocking action acts on.
var subjectOf = map[Action]finding.SubjectKind{BlockAddress: finding.IP, BlockCard: finding.Card, LockAccount: finding.Account}

// RepeatWindow is how far back earlier blocks of a subject count as
// repeats: a subject blocked again within a day is blocked twice as long.
const RepeatWindow = 24 * time.Hour

// Limits of a rule's durations.
const (
	MinBlock = time.Minute
	MaxBlock = 30 * 24 * time.Hour
)

// Rule is the response to findings of Type about subjects of Kind. For a
// blocking action, the first block lasts Base and each repeat within
// RepeatWindow doubles it, up to Cap.
type Rule struct {
	Type   finding.Type
	Kind   finding.SubjectKind
	Action Action
	Base   time.Duration
	Cap    time.Duration
}

// Validate reports a rule that cannot work: an unknown type, kind or
// action, a blocking action on a subject it cannot act on, or durations
// out of MinBlock..MaxBlock.
func (r Rule) Validate() error {
	var errs []error
	if !r.Type.Known() {
		errs = append(errs, fmt.Errorf("unknown finding type %q", r.Type))
	}
	switch r.Kind {
	case finding.IP, finding.Account, finding.Card:
	default:
		errs = append(errs, fmt.Errorf("subject kind %q is not ip, account or card", r.Kind))
	}
	switch r.Action {
	case Log:
	case StepUp:
		if r.Kind != finding.Account {
			errs = append(errs, fmt.Errorf("%s acts on account subjects, not %s", r.Action, r.Kind))
		}
		if r.Base < MinBlock || r.Base > MaxBlock || r.Cap < r.Base || r.Cap > MaxBlock {
			errs = append(errs, fmt.Errorf("durations must satisfy %s <= base <= cap <= %s", MinBlock, MaxBlock))
		}
	case HoldOrders:
		if r.Base < MinBlock || r.Base > MaxBlock || r.Cap < r.Base || r.Cap > MaxBlock {
			errs = append(errs, fmt.Errorf("durations must satisfy %s <= base <= cap <= %s", MinBlock, MaxBlock))
		}
	case Delay:
		if r.Kind != finding.IP {
			errs = append(errs, fmt.Errorf("%s acts on ip subjects, not %s", r.Action, r.Kind))
		}
		if r.Base < MinBlock || r.Base > MaxBlock || r.Cap < r.Base || r.Cap > MaxBlock {
			errs = append(errs, fmt.Errorf("durations must satisfy %s <= base <= cap <= %s", MinBlock, MaxBlock))
		}
	case LockAccount, BlockAddress, BlockCard:
		if subjectOf[r.Action] != r.Kind {
			// The NAT guarantee: an account's or card's finding never blocks
			// the address it came from, and the other way round.
			errs = append(errs, fmt.Errorf("%s acts on %s subjects, not %s", r.Action, subjectOf[r.Action], r.Kind))
		}
		if r.Base < MinBlock || r.Base > MaxBlock || r.Cap < r.Base || r.Cap > MaxBlock {
			errs = append(errs, fmt.Errorf("durations must satisfy %s <= base <= cap <= %s", MinBlock, MaxBlock))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown action %q", r.Action))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("response rule %s/%s: %w", r.Type, r.Kind, err)
	}
	return nil
}

// Duration is how long the block of a subject with repeats earlier blocks
// within RepeatWindow lasts: Base doubled per repeat, at most Cap.
func (r Rule) Duration(repeats int) time.Duration {
	d := r.Base
	for range max(repeats, 0) {
		if d >= r.Cap {
			break
		}
		d *= 2
	}
	return min(d, r.Cap)
}

// Defaults are the rules Bulwark runs unless configured otherwise:
//
//   - Recon:Ip/Scanning and Recon:Ip/WafProbe block the address for 15
//     minutes, doubled per repeat within a day, at most a day: 30 missing
//     paths a minute or 10 WAF refusals in 5 minutes is a tool, not a
//     person, and the block stops the sweep at the edge before any work.
//   - Fraud:Card/CardTesting about a card blocks the fingerprint for a day
//     (doubling to a week): 3 declines of one card in an hour is a card
//     being tested, and the card's owner is not the one paying.
//   - Fraud:Card/CardTesting about an address holds its orders for review
//     for an hour (doubling, at most a day): 10 declines from one address
//     may be an office's shared NAT, so its orders are looked at, not
//     refused (the scoring rules refuse the cards being tested).
//   - CredentialAccess:Ip/CredentialStuffing delays the address for an hour,
//     doubled per repeat within a day, at most a day: its sign-ins take only
//     what the hash pool has to spare. The per-pair lockout of package
//     throttle already stops guessing, a block would shut out every benign
//     customer behind the same NAT, and the delay keeps the attack from
//     crowding everyone else out of the pool.
//   - CredentialAccess:Account/BruteForce requires step-up for the account
//     for a day: the failures are strangers', and a lock they can set off
//     would let anyone keep a customer out (package throttle refuses such
//     locks too); a session one of them may have opened must sign in again
//     before anything sensitive.
//   - Impact:Account/TakeoverSuspected requires step-up for a day: the
//     session that made the change cannot make the next one without
//     signing in again, password and second factor.
//
// Any other (type, kind) logs only.
func Defaults() []Rule {
	return []Rule{
		{Type: finding.Scanning, Kind: finding.IP, Action: BlockAddress, Base: 15 * time.Minute, Cap: 24 * time.Hour},
		{Type: finding.WAFProbe, Kind: finding.IP, Action: BlockAddress, Base: 15 * time.Minute, Cap: 24 * time.Hour},
		{Type: finding.CardTesting, Kind: finding.Card, Action: BlockCard, Base: 24 * time.Hour, Cap: 7 * 24 * time.Hour},
		{Type: finding.CardTesting, Kind: finding.IP, Action: HoldOrders, Base: time.Hour, Cap: 24 * time.Hour},
		{Type: finding.CredentialStuffing, Kind: finding.IP, Action: Delay, Base: time.Hour, Cap: 24 * time.Hour},
		{Type: finding.AccountBruteForce, Kind: finding.Account, Action: StepUp, Base: 24 * time.Hour, Cap: 24 * time.Hour},
		{Type: finding.TakeoverSuspected, Kind: finding.Account, Action: StepUp, Base: 24 * time.Hour, Cap: 24 * time.Hour},
	}
}

type key struct {
	t finding.Type
	k finding.SubjectKind
}

// Policy is a set of rules, one per (type, subject kind).
type Policy struct{ rules map[key]Rule }

// NewPolicy returns the policy of rules; it refuses an invalid rule and two
// rules for one (type, subject kind).
func NewPolicy(rules []Rule) (*Policy, error) {
	p := &Policy{rules: map[key]Rule{}}
	for _, r := range rules {
		if err := r.Validate(); err != nil {
			return nil, err
		}
		k := key{r.Type, r.Kind}
		if _, dup := p.rules[k]; dup {
			return nil, fmt.Errorf("response rule %s/%s given twice", r.Type, r.Kind)
		}
		p.rules[k] = r
	}
	return p, nil
}

// Rule returns the rule for findings of t about kind: Log when none is set.
func (p *Policy) Rule(t finding.Type, kind finding.SubjectKind) Rule {
	if r, ok := p.rules[key{t, kind}]; ok {
		return r
	}
	return Rule{Type: t, Kind: kind, Action: Log}
}

// Facts are what the caller knows of a finding's subject.
type Facts struct {
	// Repeats is how many blocks the subject had within RepeatWindow.
	Repeats int
	// Exempt says the subject is an address that must never be blocked
	// (loopback, a trusted proxy).
	Exempt bool
	// Unblockable says the subject is an address key the edge cannot block:
	// an IPv6 client's /64, as detection counts it, where the edge's list
	// holds single addresses.
	Unblockable bool
}

// Decision is what to do about one finding.
type Decision struct {
	Action  Action
	Subject finding.Subject
	// For is how long a block lasts (0 for other actions); Repeat counts
	// this block among the subject's blocks within RepeatWindow (1 for the
	// first).
	For    time.Duration
	Repeat int
	// Note says why a rule's action was not taken ("" when it was).
	Note string
}

// Why the rule's action was not taken.
const (
	NoteCrossSite  = "not acted on: signal from a third-party page"
	NoteExempt     = "not acted on: exempt address"
	NoteSuppressed = "not acted on: finding suppressed"
	NoteIPv6Prefix = "not acted on: the edge blocks single addresses, not an IPv6 /64"
)

// Decide returns what to do about f under p with the facts of its subject.
// Only active findings are acted on (a suppressed one is known benign; a
// resolved one is over).
func (p *Policy) Decide(f finding.Finding, facts Facts) Decision {
	r := p.Rule(f.Type, f.Subject.Kind)
	d := Decision{Action: r.Action, Subject: f.Subject}
	switch {
	case r.Action == Log:
		return d
	case f.Status != finding.Active:
		return Decision{Action: Log, Subject: f.Subject, Note: NoteSuppressed}
	case f.Evidence["site"] == "cross-site":
		return Decision{Action: Log, Subject: f.Subject, Note: NoteCrossSite}
	case f.Subject.Kind == finding.IP && facts.Exempt:
		return Decision{Action: Log, Subject: f.Subject, Note: NoteExempt}
	case f.Subject.Kind == finding.IP && facts.Unblockable && r.Action == BlockAddress:
		return Decision{Action: Log, Subject: f.Subject, Note: NoteIPv6Prefix}
	}
	if r.Action.Timed() {
		d.For = r.Duration(facts.Repeats)
		d.Repeat = max(facts.Repeats, 0) + 1
	}
	return d
}

// Response is the finding's response field: what was done, in a few words
// ("block-ip 30m0s (repeat 2)", "log (not acted on: exempt address)").
func (d Decision) Response() string {
	s := string(d.Action)
	if d.Action.Timed() {
		s += " " + d.For.String() + " (repeat " + strconv.Itoa(d.Repeat) + ")"
	}
	if d.Note != "" {
		s += " (" + d.Note + ")"
	}
	return s
}
