package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/detect"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/reqinfo"
	"github.com/bulwark-shop/bulwark/internal/throttle"
)

// The ways in. Each one checks its own first factor, then hands the account
// to the one login gate (Service.admit), which alone decides whether the
// second factor is owed and given, applies the staff rules, and starts the
// session, audited with the method.
const (
	MethodPassword = "password"
	MethodPasskey  = "passkey"
	MethodOIDC     = "oidc"
)

// Lifetimes of the gate's one-time secrets.
const (
	// MFATicketLifetime bounds how long a login may wait for its second factor.
	MFATicketLifetime = 5 * time.Minute
	// EnrollmentLifetime is how long a staff enrolment code works.
	EnrollmentLifetime = 24 * time.Hour
)

// Prefixes of the gate's one-time secrets, so secret scanners recognise them.
const (
	MFATicketPrefix  = "bwm_"
	EnrollmentPrefix = "bwe_"
)

// Audit actions of the gate.
const (
	ActionEnrollmentCode     = "user.enrollment_code"
	ActionEnrollmentCodeUsed = "user.enrollment_code_used"
	// ActionStaffLoginAlert: a staff account's password is being guessed from
	// several addresses. It locks nothing (a lock strangers could set off would
	// be theirs to use against the staff); it is recorded and logged for people.
	ActionStaffLoginAlert = "user.staff_login_alert"
)

// Codes of the gate's refusals.
const (
	CodeInvalidMFATicket       = "invalid_mfa_ticket"
	CodeEnrollmentCodeRequired = "enrollment_code_required"
	CodeInvalidEnrollmentCode  = "invalid_enrollment_code"
)

// Errors of the gate.
var (
	ErrInvalidTicket          = apperr.New(CodeInvalidMFATicket, "this sign-in expired or was already used; start again")
	ErrEnrollmentCodeRequired = apperr.New(CodeEnrollmentCodeRequired, "a staff account's first second factor needs the one-time enrolment code from the admin who made it staff")
	ErrInvalidEnrollmentCode  = apperr.New(CodeInvalidEnrollmentCode, "the enrolment code is wrong, used or expired; ask an admin for a new one")
)

// MFATicket is a login whose first factor is done and whose second factor is
// owed. Only the SHA-256 of the ticket is kept.
type MFATicket struct {
	Hash      string
	UserID    string
	Method    string
	ExpiresAt time.Time
	// Passkey is the WebAuthn session (its challenge) of the passkey
	// assertion last begun for this ticket (Passkeys.BeginMFA), nil before:
	// the challenge belongs to the ticket, and is spent with it.
	Passkey []byte
}

// EnrollmentCode lets a staff account without a second factor enrol its first
// one. Only the SHA-256 of the code is kept.
type EnrollmentCode struct {
	UserID    string
	Hash      string
	CreatedBy string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// GateStore keeps the gate's one-time secrets.
type GateStore interface {
	PutMFATicket(ctx context.Context, t MFATicket) error
	// TakeMFATicket returns and deletes a live ticket; ErrInvalidTicket otherwise.
	TakeMFATicket(ctx context.Context, hash string, now time.Time) (MFATicket, error)
	// MFATicket returns a live ticket and leaves it; ErrInvalidTicket otherwise.
	MFATicket(ctx context.Context, hash string, now time.Time) (MFATicket, error)
	// SetMFATicketPasskey keeps session as the live ticket's passkey
	// challenge, replacing an earlier one; ErrInvalidTicket when the ticket
	// is not live (taken or expired meanwhile).
	SetMFATicketPasskey(ctx context.Context, hash string, session []byte, now time.Time) error
	// PutEnrollmentCode stores the account's code, replacing an older one, and
	// drops enrolments begun before it (a pending TOTP secret, passkey
	// ceremonies): whoever began them did not have this code.
	PutEnrollmentCode(ctx context.Context, c EnrollmentCode, rec audit.Record) error
	// TakeEnrollmentCode deletes the account's live code if hash is it, with rec.
	TakeEnrollmentCode(ctx context.Context, userID, hash string, now time.Time, rec audit.Record) (bool, error)
}

// proof is what a way in established before the gate.
type proof struct {
	method string
	// bothFactors: the first factor is two factors on its own (a passkey the
	// authenticator verified the user on: possession and PIN or biometrics).
	bothFactors bool
	// code is a TOTP or recovery code sent along with the first factor.
	code string
	// passkey, when set, is the second factor instead of code: it verifies
	// a passkey assertion (an MFA ticket finished with a passkey). Like
	// mfa.Check, it returns an *apperr.Error for a second factor that does
	// not verify, which counts as a wrong one, and any other error for a
	// failure to check.
	passkey func(ctx context.Context) error
	// ticket: when the second factor is owed and no code came, answer with an
	// MFA ticket to complete at POST /auth/mfa (a redirect from an identity
	// provider cannot carry a code), rather than mfa_required.
	ticket bool
	// email and ip name the login throttle's counters; email is "" for a way
	// in that names no email (a passkey).
	email, ip string
	// refusal, when set, is the answer to a wrong second factor instead of
	// invalid_otp (a login through the daily cap answers 429 whatever fails).
	refusal error
}

// admit is the one login gate. Every way in calls it after its own first
// factor with the account it proved: it asks for the second factor an
// account with MFA owes (a TOTP or recovery code, or for an MFA ticket a
// passkey; a user-verified passkey login is both factors), counts a wrong
// one against the login throttle, and starts a session whose
// authentication time (step-up) is now. A staff account
// without MFA gets a session that holds no staff permission (access.Require
// answers mfa_enrollment_required) and may enrol only with its enrolment code.
func (s *Service) admit(ctx context.Context, u User, pr proof) (LoginResult, error) {
	if s.accountLocks != nil {
		// Checked once the first factor passed, as the other locks are
		// reported only to a caller who got that far.
		if wait := s.accountLocks.AccountLockedFor(u.ID); wait > 0 {
			return LoginResult{}, s.loginRefused(ctx, u.ID, pr.method+": account locked by a response to a finding", tooMany(wait))
		}
	}
	factors := "1"
	if pr.bothFactors {
		factors = "2"
	}
	if u.MFAEnabled && !pr.bothFactors {
		check, why, factor := pr.passkey, ": passkey did not verify", " second=passkey"
		if check == nil && pr.code != "" {
			check, why, factor = func(ctx context.Context) error { return s.mfa.Check(ctx, u.ID, pr.code) }, "", ""
		}
		if check == nil {
			if pr.ticket {
				return s.issueTicket(ctx, u, pr.method)
			}
			return LoginResult{}, s.loginRefused(ctx, u.ID, pr.method+": second factor missing", ErrMFARequired)
		}
		wait, err := s.throttle.SecondFactorLocked(ctx, u.Email)
		if err != nil {
			return LoginResult{}, err
		}
		if wait > 0 {
			return LoginResult{}, s.loginRefused(ctx, u.ID, pr.method+": second factor locked", tooMany(wait))
		}
		if err := check(ctx); err != nil {
			var e *apperr.Error
			if !errors.As(err, &e) {
				return LoginResult{}, fmt.Errorf("check second factor of %s: %w", u.ID, err)
			}
			locked, err := s.throttle.SecondFactorFailed(ctx, u.Email)
			if err != nil {
				return LoginResult{}, err
			}
			if locked {
				if err := s.trail.Record(ctx, ActionLockout, u.ID, audit.Success, "locked: second factor from every address for the day; the account's API keys are suspended until then"); err != nil {
					return LoginResult{}, err
				}
			}
			refusal := pr.refusal
			if refusal == nil {
				refusal = ErrInvalidOTP
			}
			return LoginResult{}, s.loginFailed(ctx, detect.MFAFailed, u.Email, pr.ip, u, pr.method+": wrong second factor"+why, refusal)
		}
		factors = "2" + factor
	}
	if pr.email != "" {
		if err := s.throttle.Succeeded(ctx, pr.email, pr.ip); err != nil {
			return LoginResult{}, err
		}
	}
	detail := "method=" + pr.method + " factors=" + factors
	if access.IsStaff(u.Roles) && !u.MFAEnabled {
		detail += " staff without MFA: enrolment only"
	}
	res, err := s.startSession(ctx, u, detail)
	if err == nil {
		s.signal(ctx, detect.LoginSucceeded, u.ID, reqinfo.From(ctx).IP, "method="+pr.method)
	}
	return res, err
}

func (s *Service) issueTicket(ctx context.Context, u User, method string) (LoginResult, error) {
	ticket := id.Token(MFATicketPrefix)
	t := MFATicket{Hash: hashToken(ticket), UserID: u.ID, Method: method, ExpiresAt: s.now().UTC().Add(MFATicketLifetime)}
	if err := s.store.PutMFATicket(ctx, t); err != nil {
		return LoginResult{}, fmt.Errorf("issue MFA ticket for %s: %w", u.ID, err)
	}
	if err := s.trail.Record(ctx, audit.ActionLogin, u.ID, audit.Failure, method+": first factor done, second factor owed (ticket issued)"); err != nil {
		return LoginResult{}, err
	}
	return LoginResult{MFATicket: ticket, MFATicketExpiresAt: t.ExpiresAt, User: u}, nil
}

// CompleteMFA finishes a login that holds an MFA ticket with a TOTP or
// recovery code. The ticket works once, whatever the outcome (a wrong code
// means starting the sign-in again), and the attempt is throttled like a
// password login of the account. (Passkeys.CompleteMFA finishes one with a
// passkey.)
func (s *Service) CompleteMFA(ctx context.Context, ticket, code string) (LoginResult, error) {
	_, u, pr, err := s.takeTicket(ctx, ticket)
	if err != nil {
		return LoginResult{}, err
	}
	pr.code = code
	return s.admit(ctx, u, pr)
}

// validTicket says whether ticket looks like one of ours, before any lookup.
func validTicket(ticket string) bool {
	return strings.HasPrefix(ticket, MFATicketPrefix) && len(ticket) <= 128
}

// takeTicket spends a live MFA ticket and returns it, its account, and the
// proof its first factor left for the gate (the second factor to be added).
// The attempt is throttled like a password login of the account:
// too_many_attempts, with the ticket spent.
func (s *Service) takeTicket(ctx context.Context, ticket string) (MFATicket, User, proof, error) {
	if !validTicket(ticket) {
		return MFATicket{}, User{}, proof{}, ErrInvalidTicket
	}
	t, err := s.store.TakeMFATicket(ctx, hashToken(ticket), s.now())
	if err != nil {
		return MFATicket{}, User{}, proof{}, err
	}
	u, err := s.store.UserByID(ctx, t.UserID)
	if errors.Is(err, ErrNotFound) {
		return MFATicket{}, User{}, proof{}, ErrInvalidTicket
	}
	if err != nil {
		return MFATicket{}, User{}, proof{}, fmt.Errorf("complete MFA: %w", err)
	}
	ip := reqinfo.From(ctx).IP
	wait, err := s.throttle.Check(ctx, u.Email, ip)
	if err != nil {
		return MFATicket{}, User{}, proof{}, err
	}
	if wait > 0 {
		return MFATicket{}, User{}, proof{}, s.loginRefused(ctx, u.ID, "throttled", tooMany(wait))
	}
	return t, u, proof{method: t.Method, email: u.Email, ip: ip}, nil
}

// issueEnrollmentCode gives a staff account without a second factor a new
// one-time enrolment code, shown once to the admin who asked.
func (s *Service) issueEnrollmentCode(ctx context.Context, u User) (string, error) {
	code := id.Token(EnrollmentPrefix)
	now := s.now().UTC()
	by := ""
	if p := access.PrincipalFrom(ctx); p != nil {
		by = p.UserID
	}
	c := EnrollmentCode{UserID: u.ID, Hash: hashToken(code), CreatedBy: by, CreatedAt: now, ExpiresAt: now.Add(EnrollmentLifetime)}
	rec := audit.New(ctx, now, ActionEnrollmentCode, u.ID, audit.Success, "one-time staff enrolment code issued, valid 24h")
	if err := s.store.PutEnrollmentCode(ctx, c, rec); err != nil {
		return "", fmt.Errorf("issue enrolment code for %s: %w", u.ID, err)
	}
	return code, nil
}

// takeEnrollment lets u begin enrolling a second factor: anyone may, except
// a staff account that has none yet, which must present (and so spends) the
// enrolment code its admin was shown. A stolen password alone then cannot
// make a staff account's first second factor the thief's.
func takeEnrollment(ctx context.Context, store GateStore, now time.Time, u User, code string) error {
	if !access.IsStaff(u.Roles) || u.MFAEnabled {
		return nil
	}
	code = strings.TrimSpace(code)
	if code == "" {
		return ErrEnrollmentCodeRequired
	}
	if !strings.HasPrefix(code, EnrollmentPrefix) || len(code) > 128 {
		return ErrInvalidEnrollmentCode
	}
	rec := audit.New(ctx, now, ActionEnrollmentCodeUsed, u.ID, audit.Success, "staff enrolment begun")
	ok, err := store.TakeEnrollmentCode(ctx, u.ID, hashToken(code), now, rec)
	if err != nil {
		return fmt.Errorf("use enrolment code of %s: %w", u.ID, err)
	}
	if !ok {
		return ErrInvalidEnrollmentCode
	}
	return nil
}

// staffAlert records and logs that a staff account's password is being guessed.
func (s *Service) staffAlert(ctx context.Context, u User, l throttle.Lockout) error {
	s.log.WarnContext(ctx, "staff account failing logins from several addresses", "user", u.ID, "what", string(l))
	return s.trail.Record(ctx, ActionStaffLoginAlert, u.ID, audit.Success, string(l))
}
