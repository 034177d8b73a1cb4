package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/detect"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/identity/password"
	"github.com/bulwark-shop/bulwark/internal/mail"
	"github.com/bulwark-shop/bulwark/internal/reqinfo"
)

// ResetPrefix starts every password-reset token.
const ResetPrefix = "bwr_"

// ResetLifetime is how long a reset link works.
const ResetLifetime = 30 * time.Minute

// Audit actions of password resets.
const (
	ActionResetRequest = "user.password_reset_request"
	ActionResetUse     = "user.password_reset"
)

// ErrInvalidResetToken is the one answer for an unknown, used or expired token.
var ErrInvalidResetToken = apperr.New("invalid_reset_token", "this reset link is invalid, used or expired; ask for a new one")

// ResetStore keeps reset tokens.
type ResetStore interface {
	CreateReset(ctx context.Context, tokenHash, userID string, at, expires time.Time, rec audit.Record) error
	// UseReset marks the token used and, in the same transaction, sets the
	// user's password hash and ends all the user's sessions; ErrInvalidResetToken
	// for an unknown, used or expired token.
	UseReset(ctx context.Context, tokenHash, newHash string, at time.Time, rec func(userID string) audit.Record) error
	// TakeMailQuota: see VerifyStore; reset mails count against the account's quota.
	TakeMailQuota(ctx context.Context, subject string, now time.Time, window time.Duration, max int) (bool, error)
}

// Resets is the password-reset use cases.
type Resets struct {
	store     ResetStore
	users     Store
	hasher    *password.Hasher
	mail      mail.Sender
	publicURL string
	now       func() time.Time
	log       *slog.Logger
	notify    *Notifier
	signals   Signals
}

// UseNotifier makes the service tell the owner when their password was reset.
func (r *Resets) UseNotifier(n *Notifier) { r.notify = n }

// UseSignals makes the service report each reset mailed to threat detection.
func (r *Resets) UseSignals(s Signals) { r.signals = s }

// NewResets returns the password-reset service; links point at publicURL.
func NewResets(store ResetStore, users Store, hasher *password.Hasher, sender mail.Sender, publicURL string, now func() time.Time, log *slog.Logger) *Resets {
	return &Resets{store: store, users: users, hasher: hasher, mail: sender, publicURL: strings.TrimRight(publicURL, "/"), now: now, log: log}
}

// Request starts a reset for email, if it has an account. It answers the same
// way, and as fast, whether or not it does: the lookup and the mail happen after
// the caller has its answer.
func (r *Resets) Request(ctx context.Context, email string) {
	email = NormalizeEmail(email)
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := r.request(ctx, email); err != nil {
			r.log.ErrorContext(ctx, "password reset request failed", "err", err)
		}
	}()
}

func (r *Resets) request(ctx context.Context, email string) error {
	u, err := r.users.UserByEmail(ctx, email)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	now := r.now().UTC()
	// However many client addresses ask, an account gets at most
	// MailsPerWindow reset mails an hour (counted in the database, so across
	// instances): asking is free, and a mailbox is not a target.
	ok, err := r.store.TakeMailQuota(ctx, "user:"+u.ID, now, MailWindow, MailsPerWindow)
	if err != nil {
		return fmt.Errorf("reset mail quota: %w", err)
	}
	if !ok {
		r.log.InfoContext(ctx, "password reset mail limit reached", "user", u.ID)
		return nil
	}
	token := id.Token(ResetPrefix)
	rec := audit.New(ctx, now, ActionResetRequest, u.ID, audit.Success, "")
	if err := r.store.CreateReset(ctx, hashToken(token), u.ID, now, now.Add(ResetLifetime), rec); err != nil {
		return fmt.Errorf("store reset token: %w", err)
	}
	if r.signals != nil {
		r.signals.Report(ctx, detect.Signal{Kind: detect.ResetRequested, At: now, Account: u.ID, IP: reqinfo.AddressKey(reqinfo.From(ctx).IP)})
	}
	return r.mail.Send(ctx, mail.Message{To: u.Email, Subject: "Reset your password",
		Body: "Someone asked to reset the password of your account. If it was you, open this link within 30 minutes:\n\n" +
			r.publicURL + "/reset-password#token=" + token + "\n\nIf it was not you, ignore this message; your password stays as it is.\n"})
}

// Confirm sets a new password with a reset token and ends every session of the account.
func (r *Resets) Confirm(ctx context.Context, token, newPassword string) error {
	if !strings.HasPrefix(token, ResetPrefix) || len(token) > 128 {
		return ErrInvalidResetToken
	}
	if err := password.CheckPolicy(newPassword); err != nil {
		var pe *password.PolicyError
		if errors.As(err, &pe) {
			return &apperr.Error{Code: apperr.CodeWeakPassword, Message: pe.Reason, Fields: []apperr.FieldError{{Field: "password", Message: pe.Reason}}}
		}
		return err
	}
	h, err := r.hasher.Hash(ctx, newPassword)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	now := r.now().UTC()
	var owner string
	if err := r.store.UseReset(ctx, hashToken(token), h, now, func(userID string) audit.Record {
		owner = userID
		return audit.New(ctx, now, ActionResetUse, userID, audit.Success, "all sessions ended")
	}); err != nil {
		return err
	}
	r.notify.Notify(ctx, owner, EventPasswordReset)
	return nil
}
