package identity

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/bulwark-shop/bulwark/internal/detect"
	"github.com/bulwark-shop/bulwark/internal/mail"
	"github.com/bulwark-shop/bulwark/internal/reqinfo"
)

// SecurityEvent is a change to how an account is protected, which its owner is
// told of by mail: if it was not them, they learn it at once.
type SecurityEvent string

// The security events. Each is a sentence for the mail; none carries a secret.
const (
	EventPasskeyAdded    SecurityEvent = "A passkey was added to your account."
	EventPasskeyRemoved  SecurityEvent = "A passkey was removed from your account."
	EventMFAOn           SecurityEvent = "Two-factor authentication (an authenticator app) was turned on for your account."
	EventMFAOff          SecurityEvent = "Two-factor authentication (an authenticator app) was turned off for your account."
	EventPasswordChanged SecurityEvent = "The password of your account was changed."
	EventPasswordReset   SecurityEvent = "The password of your account was reset with a link sent to this address."
	EventRecoveryCodes   SecurityEvent = "New recovery codes were made for your account; the old ones no longer work."
	EventEmailChanged    SecurityEvent = "The email address of your account was changed: mail for the account now goes to the new address, not to this one."
	notifyTimeout                      = 30 * time.Second
	notifySubject                      = "Security notice for your Bulwark account"
	notifyFooter                       = "\n\nIf it was you, there is nothing to do. If it was not, reset your password at once and end your other sessions; then contact the shop.\n"
)

// Notifier mails an account's owner about security events. A nil *Notifier
// sends nothing (unit tests of other rules).
type Notifier struct {
	users   Store
	mail    mail.Sender
	now     func() time.Time
	log     *slog.Logger
	signals Signals
}

// changes names the security events that change how an account is got
// into (what a thief does to keep it), for threat detection's
// AccountChanged signal.
var changes = map[SecurityEvent]string{
	EventPasskeyAdded: "passkey", EventMFAOn: "mfa", EventMFAOff: "mfa", EventPasswordChanged: "password",
	EventRecoveryCodes: "recovery-codes",
}

// UseSignals makes Notify also report each change of how the account is got
// into (a password, a second factor, a passkey) to threat detection, with
// the client address of the request that made it: account takeover is a
// sign-in from a new network followed by such a change.
func (n *Notifier) UseSignals(r Signals) { n.signals = r }

// NewNotifier returns the security-event notifier.
func NewNotifier(users Store, sender mail.Sender, now func() time.Time, log *slog.Logger) *Notifier {
	return &Notifier{users: users, mail: sender, now: now, log: log}
}

// Notify mails ev to the account's current address, after the caller has its
// answer: a slow mail server does not hold up the change, and a failure is logged.
func (n *Notifier) Notify(ctx context.Context, userID string, ev SecurityEvent) {
	if n == nil {
		return
	}
	if change, ok := changes[ev]; ok && n.signals != nil {
		n.signals.Report(ctx, detect.Signal{Kind: detect.AccountChanged, At: n.now().UTC(), Account: userID,
			IP: reqinfo.AddressKey(reqinfo.From(ctx).IP), Detail: map[string]string{"change": change}})
	}
	n.background(ctx, func(ctx context.Context) error {
		u, err := n.users.UserByID(ctx, userID)
		if err != nil {
			return fmt.Errorf("account %s: %w", userID, err)
		}
		return n.send(ctx, u.Email, ev)
	})
}

// NotifyAddress mails ev to an address that is no longer the account's (the
// old one, after a change of address).
func (n *Notifier) NotifyAddress(ctx context.Context, to string, ev SecurityEvent) {
	if n == nil {
		return
	}
	n.background(ctx, func(ctx context.Context) error { return n.send(ctx, to, ev) })
}

func (n *Notifier) send(ctx context.Context, to string, ev SecurityEvent) error {
	return n.mail.Send(ctx, mail.Message{To: to, Subject: notifySubject,
		Body: string(ev) + "\n\nWhen: " + n.now().UTC().Format(time.RFC1123) + notifyFooter})
}

func (n *Notifier) background(ctx context.Context, fn func(context.Context) error) {
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), notifyTimeout)
		defer cancel()
		if err := fn(ctx); err != nil {
			n.log.ErrorContext(ctx, "security notice failed", "err", err)
		}
	}()
}
