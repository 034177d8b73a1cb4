package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/detect"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/identity/password"
	"github.com/bulwark-shop/bulwark/internal/mail"
	"github.com/bulwark-shop/bulwark/internal/reqinfo"
)

// VerifyPrefix starts every email-verification token.
const VerifyPrefix = "bwv_"

// VerifyLifetime is how long a verification link works.
const VerifyLifetime = 24 * time.Hour

// Mail limits: a stranger can make the shop mail an account (a reset link, a
// "you already have an account" notice) or an address (a verification link)
// at most this often, whatever the number of client addresses they use.
const (
	MailsPerWindow = 3
	MailWindow     = time.Hour
)

// Purposes of a verification.
const (
	PurposeRegister    = "register"
	PurposeEmailChange = "email_change"
)

// Audit actions of verified emails.
const (
	ActionEmailChange        = "user.email_change"
	ActionEmailChangeRequest = "user.email_change_request"
	ActionNameChange         = "user.name_change"
)

// ErrInvalidVerifyToken is the one answer for an unknown, used or expired
// verification token, and for one whose address was taken in the meantime.
var ErrInvalidVerifyToken = apperr.New("invalid_verification_token", "this verification link is invalid, used or expired")

// Verification is an address waiting for its owner's confirmation: a new
// account's, or an existing account's new one.
type Verification struct {
	TokenHash string
	Purpose   string
	// UserID is the account to be made (register) or whose address changes.
	UserID       string
	Email        string
	Name         string // of a new account
	PasswordHash string // of a new account
	CreatedAt    time.Time
	ExpiresAt    time.Time
}

// Pending is what the store did with a verification.
type Pending struct {
	// OwnerID is the live account that has the address, or one that looks
	// like it: nothing was stored.
	OwnerID string
	// Limited says the address got MailsPerWindow verifications within
	// MailWindow already: nothing was stored.
	Limited bool
}

// Verified is the outcome of a used verification token.
type Verified struct {
	Purpose       string
	User          User
	PreviousEmail string // of an email change
}

// VerifyStore keeps addresses waiting for verification.
type VerifyStore interface {
	// PendRegistration keeps v unless the address or a look-alike has a live
	// account or was pended too often (see Pending). ErrKeysBehind.
	PendRegistration(ctx context.Context, v Verification, perAddress int, window time.Duration) (Pending, error)
	// PendEmailChange is PendRegistration for a new address of v.UserID, whose
	// earlier pending change it replaces; rec is appended when stored.
	PendEmailChange(ctx context.Context, v Verification, perAddress int, window time.Duration, rec audit.Record) (Pending, error)
	// UseVerification consumes a live token: it makes the account of a
	// registration (customer role) or sets the new address of a change, and
	// appends rec(the verification). ErrInvalidVerifyToken, also when the
	// address has been taken since.
	UseVerification(ctx context.Context, tokenHash string, now time.Time, rec func(Verification) audit.Record) (Verified, error)
	// SetName replaces the account's name; ErrNotFound.
	SetName(ctx context.Context, userID, name string, rec audit.Record) (User, error)
	// TakeMailQuota records a mail to subject at now and reports true, unless
	// max were recorded within window before now.
	TakeMailQuota(ctx context.Context, subject string, now time.Time, window time.Duration, max int) (bool, error)
}

// EmailsConfig are what the verified-email service works with.
type EmailsConfig struct {
	Store     VerifyStore
	Identity  *Service
	Mail      mail.Sender
	Notifier  *Notifier
	PublicURL string
	Now       func() time.Time
	Log       *slog.Logger
}

// Emails is registration with a verified email and the rectification of an
// account's name and address (GDPR art. 16). Registration answers the same
// way whether or not the address has an account: the address's owner gets a
// verification link, or, when it has an account already (or one that looks
// like it), a notice, and the account is made only when the link is used.
type Emails struct {
	cfg EmailsConfig
}

// NewEmails returns the verified-email service.
func NewEmails(cfg EmailsConfig) *Emails {
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	return &Emails{cfg: cfg}
}

// checkAccountFields validates a normalized address and name; a nil pointer is not checked.
func checkAccountFields(email, name *string) error {
	var v apperr.Validator
	if email != nil {
		p := EmailProblem(*email)
		v.Check(p == "", "email", p)
	}
	if name != nil {
		v.CheckText("name", *name, 1, MaxNameLength, false)
		v.Check(!HasInvisible(*name), "name", "must not contain invisible or direction-changing characters")
	}
	return v.Err()
}

func weakPassword(err error, field string) error {
	var pe *password.PolicyError
	if errors.As(err, &pe) {
		return &apperr.Error{Code: apperr.CodeWeakPassword, Message: pe.Reason, Fields: []apperr.FieldError{{Field: field, Message: pe.Reason}}}
	}
	return fmt.Errorf("check password policy: %w", err)
}

// Register asks for a customer account. It returns nil (202 verification_sent)
// whether or not the address has an account, after the same work: the
// password is hashed either way, and the mail is sent after the caller has
// its answer. A weak password or a malformed field is refused (422, 400).
func (e *Emails) Register(ctx context.Context, email, pw, name string) error {
	email, name = NormalizeEmail(email), NormalizeName(name)
	if err := checkAccountFields(&email, &name); err != nil {
		return err
	}
	if err := password.CheckPolicy(pw); err != nil {
		return weakPassword(err, "password")
	}
	hash, err := e.cfg.Identity.hasher.Hash(ctx, pw)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	token := id.Token(VerifyPrefix)
	now := e.cfg.Now().UTC()
	v := Verification{TokenHash: hashToken(token), Purpose: PurposeRegister, UserID: id.New(id.User), Email: email, Name: name,
		PasswordHash: hash, CreatedAt: now, ExpiresAt: now.Add(VerifyLifetime)}
	pend, err := e.cfg.Store.PendRegistration(ctx, v, MailsPerWindow, MailWindow)
	if err != nil {
		return fmt.Errorf("pend registration: %w", err)
	}
	// Per address, not per email: what a signal may say of a registration
	// that does not exist yet (mass sign-ups from one client).
	e.cfg.Identity.report(ctx, detect.Signal{Kind: detect.Registered, IP: reqinfo.From(ctx).IP})
	e.background(ctx, "registration mail", func(ctx context.Context) error {
		switch {
		case pend.OwnerID != "":
			return e.noticeOwner(ctx, pend.OwnerID)
		case pend.Limited:
			return nil
		}
		return e.cfg.Mail.Send(ctx, mail.Message{To: email, Subject: "Confirm your email address",
			Body: "Someone (we hope you) asked for a Bulwark account with this address. To create it, open this link within 24 hours:\n\n" +
				e.cfg.PublicURL + "/verify-email#token=" + token + "\n\nIf it was not you, ignore this message: no account is made.\n"})
	})
	return nil
}

// noticeOwner tells an account's owner that someone tried to register their
// address (or one that looks like it), within the account's mail quota.
func (e *Emails) noticeOwner(ctx context.Context, ownerID string) error {
	ok, err := e.cfg.Store.TakeMailQuota(ctx, "user:"+ownerID, e.cfg.Now().UTC(), MailWindow, MailsPerWindow)
	if err != nil || !ok {
		return err
	}
	u, err := e.cfg.Identity.store.UserByID(ctx, ownerID)
	if err != nil {
		return fmt.Errorf("owner of a registered address: %w", err)
	}
	return e.cfg.Mail.Send(ctx, mail.Message{To: u.Email, Subject: "You already have an account",
		Body: "Someone asked for a new Bulwark account with this address, or with one that looks like it. You already have an account:\n" +
			"if it was you, log in, or reset your password at " + e.cfg.PublicURL + "/reset-password if you forgot it.\n\n" +
			"If it was not you, no action is needed: no account was made.\n"})
}

// background runs fn after the caller has its answer, bounded in time.
func (e *Emails) background(ctx context.Context, what string, fn func(context.Context) error) {
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := fn(ctx); err != nil {
			e.cfg.Log.ErrorContext(ctx, what+" failed", "err", err)
		}
	}()
}

// Verify uses a verification token: it makes the registration's account, or
// sets an account's new address (and tells the old one), and returns the account.
func (e *Emails) Verify(ctx context.Context, token string) (User, error) {
	if !strings.HasPrefix(token, VerifyPrefix) || len(token) > 128 {
		return User{}, ErrInvalidVerifyToken
	}
	now := e.cfg.Now().UTC()
	res, err := e.cfg.Store.UseVerification(ctx, hashToken(token), now, func(v Verification) audit.Record {
		// The record names the account as actor: it is its owner who proved the address.
		actx := access.WithPrincipal(ctx, &access.Principal{UserID: v.UserID})
		if v.Purpose == PurposeRegister {
			return audit.New(actx, now, audit.ActionRegister, v.UserID, audit.Success, "roles=customer, email verified")
		}
		return audit.New(actx, now, ActionEmailChange, v.UserID, audit.Success, "new email verified")
	})
	if errors.Is(err, ErrEmailTaken) {
		return User{}, ErrInvalidVerifyToken
	}
	if err != nil {
		return User{}, err
	}
	if res.Purpose == PurposeEmailChange && res.PreviousEmail != "" {
		e.cfg.Notifier.NotifyAddress(ctx, res.PreviousEmail, EventEmailChanged)
	}
	return res.User, nil
}

// UpdateMe corrects the caller's name and asks to change their address (nil:
// unchanged). A new address takes effect only once its owner confirms it with
// the token mailed to it; until then the account keeps the old one. A new
// address that another account has (or one like it) is answered the same way,
// and nothing is mailed to it.
func (e *Emails) UpdateMe(ctx context.Context, name, email *string) (User, error) {
	p, err := access.Require(ctx, access.Authenticated)
	if err != nil {
		return User{}, err
	}
	if p.KeyID != "" {
		return User{}, apperr.New(apperr.CodeForbidden, "an API key cannot change an account")
	}
	if name != nil {
		n := NormalizeName(*name)
		name = &n
	}
	if email != nil {
		m := NormalizeEmail(*email)
		email = &m
	}
	if err := checkAccountFields(email, name); err != nil {
		return User{}, err
	}
	u, err := e.cfg.Identity.store.UserByID(ctx, p.UserID)
	if err != nil {
		return User{}, fmt.Errorf("update account: %w", err)
	}
	now := e.cfg.Now().UTC()
	if name != nil && *name != u.Name {
		rec := audit.New(ctx, now, ActionNameChange, u.ID, audit.Success, "")
		if u, err = e.cfg.Store.SetName(ctx, u.ID, *name, rec); err != nil {
			return User{}, fmt.Errorf("set name of %s: %w", p.UserID, err)
		}
	}
	if email == nil || *email == u.Email {
		return u, nil
	}
	token := id.Token(VerifyPrefix)
	v := Verification{TokenHash: hashToken(token), Purpose: PurposeEmailChange, UserID: u.ID, Email: *email,
		CreatedAt: now, ExpiresAt: now.Add(VerifyLifetime)}
	rec := audit.New(ctx, now, ActionEmailChangeRequest, u.ID, audit.Success, "verification sent to the new address")
	pend, err := e.cfg.Store.PendEmailChange(ctx, v, MailsPerWindow, MailWindow, rec)
	if err != nil {
		return User{}, fmt.Errorf("pend email change: %w", err)
	}
	// Asking to move the account to another address is what a thief does
	// to keep it: a signal to takeover detection.
	e.cfg.Identity.report(ctx, detect.Signal{Kind: detect.AccountChanged, Account: u.ID, IP: reqinfo.From(ctx).IP,
		Detail: map[string]string{"change": "email"}})
	if pend.OwnerID == "" && !pend.Limited {
		to := *email
		e.background(ctx, "email change mail", func(ctx context.Context) error {
			return e.cfg.Mail.Send(ctx, mail.Message{To: to, Subject: "Confirm your new email address",
				Body: "Someone (we hope you) asked to use this address for their Bulwark account. To confirm it, open this link within 24 hours:\n\n" +
					e.cfg.PublicURL + "/verify-email#token=" + token + "\n\nIf it was not you, ignore this message: nothing changes.\n"})
		})
	}
	return u, nil
}
