package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
)

// TOTP parameters: RFC 6238 defaults that every authenticator app supports.
const (
	totpPeriod        = 30 * time.Second
	totpSkew          = 1 // steps either side accepted, for clock drift
	recoveryCodeCount = 10
	// Issuer names the shop in authenticator apps.
	Issuer = "Bulwark"
)

// Audit actions of MFA.
const (
	ActionMFAEnroll       = "user.mfa_enroll"
	ActionMFAConfirm      = "user.mfa_confirm"
	ActionMFADisable      = "user.mfa_disable"
	ActionMFARecoveryUsed = "user.mfa_recovery_code_used"
)

// Codes of MFA errors.
const (
	CodeMFARequired = "mfa_required"
	CodeInvalidOTP  = "invalid_otp"
)

// Errors of MFA.
var (
	ErrMFARequired   = apperr.New(CodeMFARequired, "this account needs a second factor: a one-time code or recovery code, or log in with its passkey")
	ErrInvalidOTP    = apperr.New(CodeInvalidOTP, "the one-time code is wrong, expired or already used")
	ErrMFANotPending = apperr.New(apperr.CodeConflict, "start enrolment first")
	ErrMFAEnabled    = apperr.New(apperr.CodeConflict, "two-factor authentication is already on; turn it off first")
	ErrMFANotEnabled = apperr.New(apperr.CodeConflict, "two-factor authentication is not on")
)

// TOTPState is a user's stored second factor.
type TOTPState struct {
	SecretCiphertext []byte
	Confirmed        bool
	LastCounter      int64
}

// MFAStore keeps second factors.
type MFAStore interface {
	// PutPendingTOTP stores an unconfirmed secret, replacing an unconfirmed one;
	// ErrMFAEnabled when a confirmed one exists.
	PutPendingTOTP(ctx context.Context, userID string, secretCiphertext []byte, at time.Time, rec audit.Record) error
	TOTP(ctx context.Context, userID string) (TOTPState, error) // ErrMFANotPending when none
	// ConfirmTOTP confirms the secret, records counter as used and replaces the
	// recovery codes, unless the secret was confirmed meanwhile.
	ConfirmTOTP(ctx context.Context, userID string, counter int64, codeHashes []string, rec audit.Record) error
	// UseTOTPCounter accepts counter only if it is newer than every accepted one,
	// atomically, so a code cannot be used twice even by concurrent logins.
	UseTOTPCounter(ctx context.Context, userID string, counter int64) (bool, error)
	// UseRecoveryCode deletes the code if the user has it and appends rec.
	UseRecoveryCode(ctx context.Context, userID, codeHash string, rec audit.Record) (bool, error)
	DisableTOTP(ctx context.Context, userID string, rec audit.Record) error
	// ReplaceRecoveryCodes replaces the recovery codes of a user whose TOTP is
	// confirmed, with rec; ErrMFANotEnabled otherwise.
	ReplaceRecoveryCodes(ctx context.Context, userID string, codeHashes []string, rec audit.Record) error
}

// ParseOTP normalizes a six-digit code as people type it ("123 456").
func ParseOTP(s string) (string, bool) {
	s = strings.ReplaceAll(strings.TrimSpace(s), " ", "")
	if len(s) != 6 {
		return "", false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	return s, true
}

const recoveryAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

var recoveryEncoding = base32.NewEncoding(recoveryAlphabet).WithPadding(base32.NoPadding)

// ParseRecoveryCode normalizes a recovery code ("ABCD-efgh-ijkl-mnop") to its 16
// base32 characters.
func ParseRecoveryCode(s string) (string, bool) {
	s = strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(s)))
	if len(s) != 16 {
		return "", false
	}
	// Checked by hand: the base32 decoder skips \r and \n, so it would accept them.
	for _, c := range s {
		if !strings.ContainsRune(recoveryAlphabet, c) {
			return "", false
		}
	}
	return s, true
}

func newRecoveryCode() (display, hash string) {
	var b [10]byte // 80 bits: SHA-256 of it cannot be brute-forced
	_, _ = rand.Read(b[:])
	c := recoveryEncoding.EncodeToString(b[:])
	return c[0:4] + "-" + c[4:8] + "-" + c[8:12] + "-" + c[12:16], hashRecoveryCode(c)
}

func hashRecoveryCode(normalized string) string {
	sum := sha256.Sum256([]byte(normalized))
	return hex.EncodeToString(sum[:])
}

// MFA is the second-factor use cases.
type MFA struct {
	store  MFAStore
	users  Store
	aead   tink.AEAD
	trail  *audit.Trail
	now    func() time.Time
	notify *Notifier
}

// UseNotifier makes the service mail security events (MFA on or off, new
// recovery codes) to the account's owner.
func (m *MFA) UseNotifier(n *Notifier) { m.notify = n }

// NewMFA returns the MFA service; aead encrypts the TOTP secrets.
func NewMFA(store MFAStore, users Store, aead tink.AEAD, trail *audit.Trail, now func() time.Time) *MFA {
	return &MFA{store: store, users: users, aead: aead, trail: trail, now: now}
}

// Enrollment is a new, unconfirmed TOTP secret to show the user once.
type Enrollment struct {
	Secret     string
	OTPAuthURL string
}

// Enroll starts TOTP enrolment for the caller. A staff account without a
// second factor must give its enrolment code (spent here):
// ErrEnrollmentCodeRequired, ErrInvalidEnrollmentCode.
func (m *MFA) Enroll(ctx context.Context, enrollmentCode string) (Enrollment, error) {
	p, err := access.Require(ctx, access.Authenticated)
	if err != nil {
		return Enrollment{}, err
	}
	u, err := m.users.UserByID(ctx, p.UserID)
	if err != nil {
		return Enrollment{}, fmt.Errorf("enrol: %w", err)
	}
	if err := takeEnrollment(ctx, m.users, m.now().UTC(), u, enrollmentCode); err != nil {
		return Enrollment{}, err
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: Issuer, AccountName: u.Email, Period: uint(totpPeriod / time.Second), Rand: rand.Reader})
	if err != nil {
		return Enrollment{}, fmt.Errorf("generate TOTP secret: %w", err)
	}
	ct, err := m.aead.Encrypt([]byte(key.Secret()), []byte(u.ID))
	if err != nil {
		return Enrollment{}, fmt.Errorf("encrypt TOTP secret: %w", err)
	}
	rec := audit.New(ctx, m.now(), ActionMFAEnroll, u.ID, audit.Success, "totp pending")
	if err := m.store.PutPendingTOTP(ctx, u.ID, ct, m.now().UTC(), rec); err != nil {
		return Enrollment{}, err
	}
	return Enrollment{Secret: key.Secret(), OTPAuthURL: key.URL()}, nil
}

// matchCounter returns the time step whose code equals code, within the skew.
func (m *MFA) matchCounter(userID string, st TOTPState, code string) (int64, bool, error) {
	secret, err := m.aead.Decrypt(st.SecretCiphertext, []byte(userID))
	if err != nil {
		return 0, false, fmt.Errorf("decrypt TOTP secret of %s: %w", userID, err)
	}
	now := m.now().Unix() / int64(totpPeriod/time.Second)
	for c := now - totpSkew; c <= now+totpSkew; c++ {
		ok, err := hotp.ValidateCustom(code, uint64(c), string(secret), hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, false, fmt.Errorf("check TOTP code: %w", err)
		}
		if ok {
			return c, true, nil
		}
	}
	return 0, false, nil
}

// Confirm turns TOTP on with a first code and returns the recovery codes, shown once.
func (m *MFA) Confirm(ctx context.Context, code string) ([]string, error) {
	p, err := access.Require(ctx, access.Authenticated)
	if err != nil {
		return nil, err
	}
	st, err := m.store.TOTP(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	if st.Confirmed {
		return nil, ErrMFAEnabled
	}
	code, ok := ParseOTP(code)
	if !ok {
		return nil, ErrInvalidOTP
	}
	counter, ok, err := m.matchCounter(p.UserID, st, code)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrInvalidOTP
	}
	codes := make([]string, recoveryCodeCount)
	hashes := make([]string, recoveryCodeCount)
	for i := range codes {
		codes[i], hashes[i] = newRecoveryCode()
	}
	rec := audit.New(ctx, m.now(), ActionMFAConfirm, p.UserID, audit.Success, "totp on, 10 recovery codes issued")
	if err := m.store.ConfirmTOTP(ctx, p.UserID, counter, hashes, rec); err != nil {
		return nil, err
	}
	m.notify.Notify(ctx, p.UserID, EventMFAOn)
	return codes, nil
}

// ActionMFARecoveryCodes is the audit action of new recovery codes.
const ActionMFARecoveryCodes = "user.mfa_recovery_codes"

// RegenerateRecoveryCodes replaces the caller's recovery codes with new ones,
// shown once; the old ones stop working. It needs a login from the last five
// minutes (step-up): whoever holds the codes can stand in for the second factor.
func (m *MFA) RegenerateRecoveryCodes(ctx context.Context) ([]string, error) {
	p, err := access.RequireRecent(ctx, access.Authenticated, m.now())
	if err != nil {
		return nil, err
	}
	if p.KeyID != "" {
		return nil, apperr.New(apperr.CodeForbidden, "an API key cannot change an account")
	}
	codes := make([]string, recoveryCodeCount)
	hashes := make([]string, recoveryCodeCount)
	for i := range codes {
		codes[i], hashes[i] = newRecoveryCode()
	}
	rec := audit.New(ctx, m.now(), ActionMFARecoveryCodes, p.UserID, audit.Success, "10 new recovery codes, the old ones retired")
	if err := m.store.ReplaceRecoveryCodes(ctx, p.UserID, hashes, rec); err != nil {
		return nil, err
	}
	m.notify.Notify(ctx, p.UserID, EventRecoveryCodes)
	return codes, nil
}

// Disable turns TOTP off; it needs a current code.
func (m *MFA) Disable(ctx context.Context, code string) error {
	p, err := access.Require(ctx, access.Authenticated)
	if err != nil {
		return err
	}
	if err := m.Check(ctx, p.UserID, code); err != nil {
		return err
	}
	rec := audit.New(ctx, m.now(), ActionMFADisable, p.UserID, audit.Success, "totp off")
	if err := m.store.DisableTOTP(ctx, p.UserID, rec); err != nil {
		return err
	}
	m.notify.Notify(ctx, p.UserID, EventMFAOff)
	return nil
}

// Enabled reports whether the user has confirmed TOTP.
func (m *MFA) Enabled(ctx context.Context, userID string) (bool, error) {
	st, err := m.store.TOTP(ctx, userID)
	if errors.Is(err, ErrMFANotPending) {
		return false, nil
	}
	return err == nil && st.Confirmed, err
}

// Check accepts a current TOTP code (once) or a recovery code (once) for the user.
func (m *MFA) Check(ctx context.Context, userID, code string) error {
	st, err := m.store.TOTP(ctx, userID)
	if errors.Is(err, ErrMFANotPending) || (err == nil && !st.Confirmed) {
		return ErrMFANotEnabled
	}
	if err != nil {
		return err
	}
	if otpCode, ok := ParseOTP(code); ok {
		counter, ok, err := m.matchCounter(userID, st, otpCode)
		if err != nil {
			return err
		}
		if !ok {
			return ErrInvalidOTP
		}
		fresh, err := m.store.UseTOTPCounter(ctx, userID, counter)
		if err != nil {
			return err
		}
		if !fresh {
			return ErrInvalidOTP // this code (or a later one) was used already
		}
		return nil
	}
	if rc, ok := ParseRecoveryCode(code); ok {
		rec := audit.New(ctx, m.now(), ActionMFARecoveryUsed, userID, audit.Success, "")
		used, err := m.store.UseRecoveryCode(ctx, userID, hashRecoveryCode(rc), rec)
		if err != nil {
			return err
		}
		if used {
			return nil
		}
	}
	return ErrInvalidOTP
}
