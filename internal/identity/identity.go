// Package identity owns accounts and sessions: registration, login, logout and
// who the caller is. It guarantees that passwords are kept only as argon2id
// hashes, that a login reveals nothing about whether an account exists (same
// answer, same work), and that session tokens are random, kept only as hashes,
// and expire when idle and at an absolute limit.
package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/detect"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/identity/password"
	"github.com/bulwark-shop/bulwark/internal/reqinfo"
	"github.com/bulwark-shop/bulwark/internal/throttle"
)

// NoPassword is the password hash of an account made through an identity
// provider: no password matches it.
const NoPassword = "!oidc-only"

// TokenPrefix starts every session token, so secret scanners and the log
// redaction layer recognise one.
const TokenPrefix = "bws_"

// Limits of account fields.
const (
	MaxEmailLength = 254
	MaxNameLength  = 100
	// touchInterval bounds how often a session's last use is written: at most
	// once a minute per session rather than on every request.
	touchInterval = time.Minute
)

// Errors returned by the store and the service.
var (
	ErrNotFound        = apperr.NotFound("user")
	ErrSessionNotFound = apperr.NotFound("session")
	ErrEmailTaken      = apperr.New(apperr.CodeEmailTaken, "an account with this email already exists")
	// ErrKeysBehind: this instance has not read the newest blind-index keyset
	// (a rotation's file not yet here), so it cannot tell whether an email is taken.
	ErrKeysBehind         = apperr.New(apperr.CodeNotReady, "this server is loading new keys: try again in a moment")
	ErrInvalidCredentials = apperr.New(apperr.CodeInvalidCredentials, "the email or password is wrong")
	ErrUnauthenticated    = apperr.New(apperr.CodeUnauthenticated, "authentication required")
)

// User is an account.
type User struct {
	ID    string
	Email string
	Name  string
	Roles []access.Role
	// MFAEnabled says the account has a second factor: a confirmed TOTP or a
	// passkey (which verifies the user on the device: possession and PIN or
	// biometrics). A password alone then no longer logs it in.
	MFAEnabled   bool
	PasswordHash string
	CreatedAt    time.Time
}

// Session is a signed-in client. Only the SHA-256 of its token is kept.
type Session struct {
	ID         string
	UserID     string
	TokenHash  string
	CreatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time // the absolute limit
	IP         string
	UserAgent  string
}

// Store keeps accounts and sessions. Methods that take an audit.Record append it
// in the same transaction as their change.
type Store interface {
	GateStore
	CreateUser(ctx context.Context, u User, rec audit.Record) error // ErrEmailTaken
	UserByEmail(ctx context.Context, email string) (User, error)    // ErrNotFound
	UserByID(ctx context.Context, id string) (User, error)          // ErrNotFound
	SetPasswordHash(ctx context.Context, userID, hash string) error
	// ChangePassword sets the hash and ends every session of the user but keep, with rec.
	ChangePassword(ctx context.Context, userID, hash, keepSessionID string, rec audit.Record) error
	// SetRoles replaces the user's roles and ends all the user's sessions, so a
	// privilege change takes effect at once.
	SetRoles(ctx context.Context, userID string, roles []access.Role, rec audit.Record) (User, error)
	CreateSession(ctx context.Context, s Session, rec audit.Record) error
	// SessionByTokenHash returns the session and its user; ErrSessionNotFound.
	SessionByTokenHash(ctx context.Context, tokenHash string) (Session, User, error)
	TouchSession(ctx context.Context, sessionID string, at time.Time) error
	// DeleteSession ends a session; rec is appended when not nil.
	DeleteSession(ctx context.Context, sessionID string, rec *audit.Record) error
	// Sessions lists a user's sessions, newest first.
	Sessions(ctx context.Context, userID string) ([]Session, error)
	// DeleteUserSession ends one of the user's sessions; ErrSessionNotFound for
	// another user's.
	DeleteUserSession(ctx context.Context, userID, sessionID string, rec audit.Record) error
}

// ActionPasswordChange is the audit action of a password change.
const ActionPasswordChange = "user.password_change"

// ChangePassword sets a new password for the caller, who proves it is them
// with the current one, and ends every other session of the account.
func (s *Service) ChangePassword(ctx context.Context, current, next string) error {
	p, err := access.Require(ctx, access.Authenticated)
	if err != nil {
		return err
	}
	u, err := s.store.UserByID(ctx, p.UserID)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	ok, _, err := s.hasher.Verify(ctx, current, u.PasswordHash)
	if errors.Is(err, password.ErrMalformedHash) {
		ok, err = false, nil // no password yet (an identity-provider account): set one by reset
	}
	if err != nil {
		return fmt.Errorf("verify password of %s: %w", u.ID, err)
	}
	if !ok {
		return &apperr.Error{Code: apperr.CodeInvalidCredentials, Message: "the current password is wrong"}
	}
	if err := password.CheckPolicy(next); err != nil {
		var pe *password.PolicyError
		if errors.As(err, &pe) {
			return &apperr.Error{Code: apperr.CodeWeakPassword, Message: pe.Reason, Fields: []apperr.FieldError{{Field: "new_password", Message: pe.Reason}}}
		}
		return err
	}
	h, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	rec := audit.New(ctx, s.now(), ActionPasswordChange, u.ID, audit.Success, "other sessions ended")
	if err := s.store.ChangePassword(ctx, u.ID, h, p.SessionID, rec); err != nil {
		return err
	}
	s.notify.Notify(ctx, u.ID, EventPasswordChanged)
	return nil
}

// ConfirmPassword checks the caller's password before an irreversible act
// (erasing the account) and returns the caller's account. Failures count
// against the login throttle, so a stolen session cannot guess the password
// here faster than at the login route. An account without a password (made
// through an identity provider) confirms with a login from the last five
// minutes instead.
func (s *Service) ConfirmPassword(ctx context.Context, pw string) (User, error) {
	p, err := access.Require(ctx, access.Authenticated)
	if err != nil {
		return User{}, err
	}
	u, err := s.store.UserByID(ctx, p.UserID)
	if err != nil {
		return User{}, fmt.Errorf("confirm password: %w", err)
	}
	ip := reqinfo.From(ctx).IP
	wait, err := s.throttle.Check(ctx, u.Email, ip)
	if err != nil {
		return User{}, err
	}
	if wait > 0 {
		return User{}, &apperr.Error{Code: apperr.CodeTooManyAttempts, Message: "too many failed attempts; try again later", RetryAfter: wait}
	}
	if u.PasswordHash == NoPassword {
		if _, err := access.RequireRecent(ctx, access.Authenticated, s.now()); err != nil {
			return User{}, err
		}
		return u, nil
	}
	ok, _, err := s.hasher.Verify(ctx, pw, u.PasswordHash)
	if err != nil {
		return User{}, fmt.Errorf("verify password of %s: %w", u.ID, err)
	}
	if !ok {
		return User{}, s.loginFailed(ctx, detect.LoginFailed, u.Email, ip, u, "wrong password to confirm an erasure",
			&apperr.Error{Code: apperr.CodeInvalidCredentials, Message: "the password is wrong"})
	}
	return u, nil
}

// ActionSessionRevoke is the audit action of ending a session from the list.
const ActionSessionRevoke = "user.session_revoke"

// SessionView is a session as its owner sees it.
type SessionView struct {
	Session
	Current bool
}

// ListSessions returns the caller's live sessions.
func (s *Service) ListSessions(ctx context.Context) ([]SessionView, error) {
	p, err := access.Require(ctx, access.Authenticated)
	if err != nil {
		return nil, err
	}
	all, err := s.store.Sessions(ctx, p.UserID)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	idle, _ := s.timeouts.of(p.Roles)
	now := s.now()
	out := []SessionView{}
	for _, sess := range all {
		if now.Before(sess.ExpiresAt) && now.Before(sess.LastUsedAt.Add(idle)) {
			out = append(out, SessionView{Session: sess, Current: sess.ID == p.SessionID})
		}
	}
	return out, nil
}

// RevokeSession ends one of the caller's sessions at once.
func (s *Service) RevokeSession(ctx context.Context, sessionID string) error {
	p, err := access.Require(ctx, access.Authenticated)
	if err != nil {
		return err
	}
	if !id.Valid(id.Session, sessionID) {
		return ErrSessionNotFound
	}
	rec := audit.New(ctx, s.now(), ActionSessionRevoke, p.UserID, audit.Success, "session="+sessionID)
	return s.store.DeleteUserSession(ctx, p.UserID, sessionID, rec)
}

// Timeouts are the session limits for customers and for staff.
type Timeouts struct {
	CustomerIdle     time.Duration
	CustomerAbsolute time.Duration
	StaffIdle        time.Duration
	StaffAbsolute    time.Duration
}

func (t Timeouts) of(roles []access.Role) (idle, absolute time.Duration) {
	if access.IsStaff(roles) {
		return t.StaffIdle, t.StaffAbsolute
	}
	return t.CustomerIdle, t.CustomerAbsolute
}

// Service is the identity use cases.
type Service struct {
	store    Store
	mfa      *MFA
	throttle *throttle.Limiter
	hasher   *password.Hasher
	trail    *audit.Trail
	timeouts Timeouts
	now      func() time.Time
	log      *slog.Logger
	notify   *Notifier
	signals  Signals
	stepUps  StepUps
	// accountLocks, when set, refuses sign-in to accounts a response to a
	// finding locked (response.Checker).
	accountLocks AccountLocks
}

// Signals takes what sign-ins tell threat detection (threat.Intake): it
// must neither fail nor wait, so a sign-in's answer never depends on it.
type Signals interface {
	Report(ctx context.Context, s detect.Signal)
}

// UseSignals makes every way in report its outcomes to threat detection:
// failed first and second factors, and sessions started, each once, from
// the one place they all pass (loginFailed, admit).
func (s *Service) UseSignals(r Signals) { s.signals = r }

// AccountLocks answers how long a response to a finding locked an account
// (0 when it did not), from memory: response.Checker.
type AccountLocks interface {
	AccountLockedFor(accountID string) time.Duration
}

// StepUps answers since when an account must prove itself again (a
// response to a finding about it), from memory: response.Checker. The zero
// time when it need not.
type StepUps interface {
	StepUpSince(accountID string) time.Time
}

// UseStepUps makes Authenticate treat a session begun before an account's
// step-up as not recently authenticated: what needs a recent login asks
// for a new sign-in, through the one login gate.
func (s *Service) UseStepUps(u StepUps) { s.stepUps = u }

// UseAccountLocks makes the one login gate refuse sign-in, whatever the way
// in, to an account a response locked (429 with Retry-After, audited).
func (s *Service) UseAccountLocks(l AccountLocks) { s.accountLocks = l }

// signal reports one sign-in outcome about account (an id, "" when the
// email is unknown) from ip, counted per address key (an IPv6 /64).
func (s *Service) signal(ctx context.Context, kind detect.Kind, account, ip, why string) {
	s.report(ctx, detect.Signal{Kind: kind, Account: account, IP: ip, Detail: map[string]string{"why": why}})
}

// report hands sig to threat detection, stamped now, its address reduced to
// the address key.
func (s *Service) report(ctx context.Context, sig detect.Signal) {
	if s.signals == nil {
		return
	}
	sig.At, sig.IP = s.now().UTC(), reqinfo.AddressKey(sig.IP)
	s.signals.Report(ctx, sig)
}

// UseNotifier makes the service mail security events (a password change) to
// the account's owner.
func (s *Service) UseNotifier(n *Notifier) { s.notify = n }

// NewService returns the identity service.
func NewService(store Store, mfa *MFA, limiter *throttle.Limiter, hasher *password.Hasher, trail *audit.Trail, timeouts Timeouts, now func() time.Time, log *slog.Logger) *Service {
	return &Service{store: store, mfa: mfa, throttle: limiter, hasher: hasher, trail: trail, timeouts: timeouts, now: now, log: log}
}

// validEmail accepts a bare address (no display name, no comments) of sane length.
func validEmail(email string) bool {
	if len(email) > MaxEmailLength {
		return false
	}
	a, err := mail.ParseAddress(email)
	return err == nil && a.Address == email && a.Name == "" && strings.Contains(email[strings.LastIndexByte(email, '@'):], ".")
}

// Decoy spends what hashing a registration's password costs and creates
// nothing, so a silently refused registration (the bot honeypot) takes as long
// as a real one. It returns the hasher's error (a cancelled context).
func (s *Service) Decoy(ctx context.Context, pw string) error {
	if err := s.hasher.VerifyDummy(ctx, pw); err != nil {
		return fmt.Errorf("decoy registration: %w", err)
	}
	return nil
}

// CreateAdmin creates a staff account with the admin role; it is the bootstrap
// used by the command line. Its address counts as verified: the operator
// vouches for it. It returns the account's one-time enrolment code (valid
// EnrollmentLifetime), which its first second factor needs: the operator hands
// it to the admin apart from the password.
func (s *Service) CreateAdmin(ctx context.Context, email, pw, name string) (User, string, error) {
	u, err := s.createUser(ctx, email, pw, name, []access.Role{access.Customer, access.Admin}, audit.ActionAdminCreate)
	if err != nil {
		return User{}, "", err
	}
	code, err := s.issueEnrollmentCode(ctx, u)
	if err != nil {
		return User{}, "", err
	}
	return u, code, nil
}

func (s *Service) createUser(ctx context.Context, email, pw, name string, roles []access.Role, action string) (User, error) {
	email, name = NormalizeEmail(email), NormalizeName(name)
	if err := checkAccountFields(&email, &name); err != nil {
		return User{}, err
	}
	if err := password.CheckPolicy(pw); err != nil {
		return User{}, weakPassword(err, "password")
	}
	hash, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return User{}, fmt.Errorf("hash password: %w", err)
	}
	now := s.now().UTC()
	u := User{ID: id.New(id.User), Email: email, Name: name, Roles: roles, PasswordHash: hash, CreatedAt: now}
	rec := audit.New(ctx, now, action, u.ID, audit.Success, "roles="+joinRoles(roles))
	if err := s.store.CreateUser(ctx, u, rec); err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// LoginResult is a new session, or, when MFATicket is set, no session yet:
// the login owes its second factor (complete it with CompleteMFA).
type LoginResult struct {
	Token     string
	ExpiresAt time.Time
	User      User
	// MFATicket is the one-time ticket of a login whose second factor is owed.
	MFATicket          string
	MFATicketExpiresAt time.Time
}

// Login checks an email and password (and, for an account with MFA, a one-time
// or recovery code) and starts a session. An unknown email and a wrong password
// both return ErrInvalidCredentials after the same work: a password hash is
// verified either way and a failure is audited either way. Only after the right
// password does the answer say a second factor is needed (ErrMFARequired,
// ErrInvalidOTP).
//
// Attempts are throttled (package throttle) before any of this, for known and
// unknown emails alike: a locked login answers 429 too_many_attempts with
// Retry-After, even with the right password. The one exception is the
// email's daily cap from every address, which strangers can reach: past it,
// the owner of an account with MFA who gives the right password and second
// factor still gets in. The account then goes through the login gate (admit).
func (s *Service) Login(ctx context.Context, email, pw, otpCode string) (LoginResult, error) {
	email = NormalizeEmail(email)
	ip := reqinfo.From(ctx).IP
	hard, daily, err := s.throttle.CheckParts(ctx, email, ip)
	if err != nil {
		return LoginResult{}, err
	}
	if hard > 0 {
		return LoginResult{}, s.loginRefused(ctx, "", "throttled", tooMany(hard))
	}
	// The email's daily cap from every address is a lock any stranger can set
	// off, for staff too. Behind it the login does the same work for every
	// email and answers 429 alike, unless the caller proves both factors of an
	// account with MFA: its owner is not kept out. Such attempts count nothing
	// more against the email (the second factor has a cap of its own).
	var refusal error
	if daily > 0 {
		refusal = tooMany(daily)
	}
	u, err := s.store.UserByEmail(ctx, email)
	switch {
	case errors.Is(err, ErrNotFound):
		if err := s.hasher.VerifyDummy(ctx, pw); err != nil {
			return LoginResult{}, fmt.Errorf("verify dummy password: %w", err)
		}
		if refusal != nil {
			return LoginResult{}, s.loginRefused(ctx, "", "throttled", refusal)
		}
		return LoginResult{}, s.loginFailed(ctx, detect.LoginFailed, email, ip, User{}, "unknown account", ErrInvalidCredentials)
	case err != nil:
		return LoginResult{}, fmt.Errorf("login: %w", err)
	}
	ok, rehash, err := s.hasher.Verify(ctx, pw, u.PasswordHash)
	if errors.Is(err, password.ErrMalformedHash) {
		// An account without a password (made through an identity provider):
		// nothing matches, after the same work as a real verification.
		if err := s.hasher.VerifyDummy(ctx, pw); err != nil {
			return LoginResult{}, fmt.Errorf("verify dummy password: %w", err)
		}
		ok, rehash, err = false, false, nil
	}
	if err != nil {
		return LoginResult{}, fmt.Errorf("verify password of %s: %w", u.ID, err)
	}
	if refusal != nil && (!ok || !u.MFAEnabled || otpCode == "") {
		return LoginResult{}, s.loginRefused(ctx, u.ID, "throttled", refusal)
	}
	if !ok {
		return LoginResult{}, s.loginFailed(ctx, detect.LoginFailed, email, ip, u, "wrong password", ErrInvalidCredentials)
	}
	if rehash {
		// The cost parameters were raised since this hash was made: upgrade it now
		// that the password is at hand. A failure only delays the upgrade.
		if h, err := s.hasher.Hash(ctx, pw); err == nil {
			if err := s.store.SetPasswordHash(ctx, u.ID, h); err != nil {
				s.log.WarnContext(ctx, "password rehash failed", "user", u.ID, "err", err)
			}
		}
	}
	return s.admit(ctx, u, proof{method: MethodPassword, code: otpCode, email: email, ip: ip, refusal: refusal})
}

func tooMany(wait time.Duration) error {
	return &apperr.Error{Code: apperr.CodeTooManyAttempts, Message: "too many failed attempts; try again later", RetryAfter: wait}
}

// loginRefused audits a failed login and returns refusal.
func (s *Service) loginRefused(ctx context.Context, userID, why string, refusal error) error {
	if err := s.trail.Record(ctx, audit.ActionLogin, userID, audit.Failure, why); err != nil {
		return err
	}
	return refusal
}

// loginFailed counts a failed attempt (locking what reached its limit, audited),
// reports it to threat detection as kind (a wrong first or second factor), and
// returns refusal. u is the zero User for an unknown email.
func (s *Service) loginFailed(ctx context.Context, kind detect.Kind, email, ip string, u User, why string, refusal error) error {
	tried := ""
	if u.ID == "" {
		tried = throttle.EmailKey(email) // no account: the email's digest, for stuffing with unknown emails
	}
	s.report(ctx, detect.Signal{Kind: kind, Account: u.ID, IP: ip, Tried: tried, Detail: map[string]string{"why": why}})
	locked, err := s.throttle.Failed(ctx, email, ip, access.IsStaff(u.Roles))
	if err != nil {
		return err
	}
	for _, l := range locked {
		if l == throttle.StaffAlert {
			if err := s.staffAlert(ctx, u, l); err != nil {
				return err
			}
			continue
		}
		if err := s.trail.Record(ctx, ActionLockout, u.ID, audit.Success, "locked: "+string(l)); err != nil {
			return err
		}
		s.report(ctx, detect.Signal{Kind: detect.Lockout, Account: u.ID, IP: ip, Detail: map[string]string{"lock": string(l)}})
	}
	return s.loginRefused(ctx, u.ID, why, refusal)
}

// ActionLockout is the audit action of a login lock.
const ActionLockout = "user.lockout"

// startSession starts a session for u; only the gate (admit) calls it. detail
// goes to the login's audit record (the way in and the factors used).
func (s *Service) startSession(ctx context.Context, u User, detail string) (LoginResult, error) {
	token := id.Token(TokenPrefix)
	now := s.now().UTC()
	_, absolute := s.timeouts.of(u.Roles)
	info := reqinfo.From(ctx)
	sess := Session{
		ID: id.New(id.Session), UserID: u.ID, TokenHash: hashToken(token),
		CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(absolute),
		IP: info.IP, UserAgent: truncate(info.UserAgent, 256),
	}
	// The record names the user as actor: the login is theirs, though no principal is set yet.
	rec := audit.New(access.WithPrincipal(ctx, &access.Principal{UserID: u.ID}), now, audit.ActionLogin, u.ID, audit.Success, "session="+sess.ID+" "+detail)
	if err := s.store.CreateSession(ctx, sess, rec); err != nil {
		return LoginResult{}, fmt.Errorf("create session for %s: %w", u.ID, err)
	}
	return LoginResult{Token: token, ExpiresAt: sess.ExpiresAt, User: u}, nil
}

// Authenticate returns the principal of a session token, or ErrUnauthenticated
// for an unknown, expired or idle one (which it ends).
func (s *Service) Authenticate(ctx context.Context, token string) (*access.Principal, error) {
	if !strings.HasPrefix(token, TokenPrefix) || len(token) > 128 {
		return nil, ErrUnauthenticated
	}
	sess, u, err := s.store.SessionByTokenHash(ctx, hashToken(token))
	if errors.Is(err, ErrSessionNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	now := s.now()
	idle, _ := s.timeouts.of(u.Roles)
	if !now.Before(sess.ExpiresAt) || !now.Before(sess.LastUsedAt.Add(idle)) {
		if err := s.store.DeleteSession(ctx, sess.ID, nil); err != nil {
			return nil, fmt.Errorf("end expired session %s: %w", sess.ID, err)
		}
		return nil, ErrUnauthenticated
	}
	if now.Sub(sess.LastUsedAt) >= touchInterval {
		if err := s.store.TouchSession(ctx, sess.ID, now.UTC()); err != nil {
			return nil, fmt.Errorf("touch session %s: %w", sess.ID, err)
		}
	}
	authenticated := sess.CreatedAt
	if s.stepUps != nil {
		if since := s.stepUps.StepUpSince(u.ID); !since.IsZero() && !authenticated.After(since) {
			// Signed in before a step-up (or at its instant): never
			// "recent" (access.RequireRecent).
			authenticated = time.Time{}
		}
	}
	return &access.Principal{UserID: u.ID, SessionID: sess.ID, Roles: u.Roles, MFAEnabled: u.MFAEnabled, AuthenticatedAt: authenticated}, nil
}

// Logout ends the caller's session at once.
func (s *Service) Logout(ctx context.Context) error {
	p, err := access.Require(ctx, access.Authenticated)
	if err != nil {
		return err
	}
	rec := audit.New(ctx, s.now(), audit.ActionLogout, p.UserID, audit.Success, "session="+p.SessionID)
	if err := s.store.DeleteSession(ctx, p.SessionID, &rec); err != nil {
		return fmt.Errorf("logout %s: %w", p.SessionID, err)
	}
	return nil
}

// Me returns the caller's account.
func (s *Service) Me(ctx context.Context) (User, error) {
	p, err := access.Require(ctx, access.Authenticated)
	if err != nil {
		return User{}, err
	}
	u, err := s.store.UserByID(ctx, p.UserID)
	if err != nil {
		return User{}, fmt.Errorf("me: %w", err)
	}
	return u, nil
}

// SetRoles replaces a user's roles (customer is always kept) and ends the
// user's sessions. Needs access.RolesManage; an admin cannot remove their own
// admin role, so the shop never loses its last way in by accident. When the
// account is then staff without a second factor, it also returns a new
// one-time enrolment code (shown once to the admin; "" otherwise), which the
// account's first enrolment needs.
func (s *Service) SetRoles(ctx context.Context, userID string, names []string) (User, string, error) {
	u, err := s.setRoles(ctx, userID, names)
	if err != nil || !access.IsStaff(u.Roles) || u.MFAEnabled {
		return u, "", err
	}
	code, err := s.issueEnrollmentCode(ctx, u)
	if err != nil {
		return User{}, "", err
	}
	return u, code, nil
}

func (s *Service) setRoles(ctx context.Context, userID string, names []string) (User, error) {
	p, err := access.RequireRecent(ctx, access.RolesManage, s.now())
	if err != nil {
		return User{}, err
	}
	if !id.Valid(id.User, userID) {
		return User{}, ErrNotFound
	}
	roles := []access.Role{access.Customer}
	var v apperr.Validator
	v.Check(len(names) <= len(access.Roles()), "roles", "lists too many roles")
	for i, n := range names {
		r, ok := access.ParseRole(n)
		v.Check(ok, fmt.Sprintf("roles[%d]", i), "is not a role")
		if ok && !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	if err := v.Err(); err != nil {
		return User{}, err
	}
	if userID == p.UserID && !slices.Contains(roles, access.Admin) {
		return User{}, apperr.New(apperr.CodeCannotDemoteSelf, "you cannot remove your own admin role")
	}
	before, err := s.store.UserByID(ctx, userID)
	if err != nil {
		return User{}, fmt.Errorf("set roles: %w", err)
	}
	rec := audit.New(ctx, s.now(), audit.ActionRolesChange, userID, audit.Success,
		fmt.Sprintf("roles %s -> %s", joinRoles(before.Roles), joinRoles(roles)))
	u, err := s.store.SetRoles(ctx, userID, roles, rec)
	if err != nil {
		return User{}, fmt.Errorf("set roles of %s: %w", userID, err)
	}
	return u, nil
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func joinRoles(roles []access.Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
