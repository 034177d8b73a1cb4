package identity

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/detect"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/reqinfo"
)

// ceremonyLifetime bounds how long a WebAuthn challenge can be answered.
const ceremonyLifetime = 5 * time.Minute

// ActionPasskeyAdd is the audit action of registering a passkey.
const ActionPasskeyAdd = "user.passkey_add"

// ErrPasskeyFailed is the one answer for a passkey ceremony that does not verify.
var ErrPasskeyFailed = apperr.New("passkey_failed", "the passkey could not be verified; start again")

// PasskeyStore keeps passkeys and ceremonies in progress.
type PasskeyStore interface {
	PutCeremony(ctx context.Context, ceremonyID, userID string, session []byte, expires time.Time) error
	// TakeCeremony returns and deletes a ceremony of userID ("" for a login) that
	// has not expired; ErrPasskeyFailed otherwise.
	TakeCeremony(ctx context.Context, ceremonyID, userID string, now time.Time) ([]byte, error)
	AddPasskey(ctx context.Context, userID, credentialID string, credential []byte, at time.Time, rec audit.Record) error
	Passkeys(ctx context.Context, userID string) ([][]byte, error)
	UpdatePasskey(ctx context.Context, credentialID string, credential []byte) error
	// PasskeyList lists a user's passkeys, oldest first.
	PasskeyList(ctx context.Context, userID string) ([]PasskeyInfo, error)
	// DeletePasskey removes one of the user's passkeys with rec; ErrPasskeyNotFound
	// for another user's or an unknown one.
	DeletePasskey(ctx context.Context, userID, credentialID string, rec audit.Record) error
}

// PasskeyInfo is a passkey as its owner sees it: no key material.
type PasskeyInfo struct {
	ID        string // the credential id, base64url
	CreatedAt time.Time
}

// ActionPasskeyRemove is the audit action of removing a passkey.
const ActionPasskeyRemove = "user.passkey_remove"

// ErrPasskeyNotFound is the answer for a passkey that is not the caller's.
var ErrPasskeyNotFound = apperr.NotFound("passkey")

// Passkeys registers WebAuthn credentials and logs in with them, without a password.
type Passkeys struct {
	wa       *webauthn.WebAuthn
	store    PasskeyStore
	identity *Service
	now      func() time.Time
	notify   *Notifier
}

// UseNotifier makes the service mail the owner when a passkey is added or removed.
func (p *Passkeys) UseNotifier(n *Notifier) { p.notify = n }

// NewPasskeys returns the passkey service for the site at publicURL (its host is
// the relying party id, its origin the only origin accepted).
func NewPasskeys(store PasskeyStore, identity *Service, publicURL string, now func() time.Time) (*Passkeys, error) {
	u, err := url.Parse(publicURL)
	if err != nil || u.Hostname() == "" {
		return nil, errors.New("public-url: want an http(s) URL with a host")
	}
	wa, err := webauthn.New(&webauthn.Config{RPID: u.Hostname(), RPDisplayName: "Bulwark", RPOrigins: []string{u.Scheme + "://" + u.Host}})
	if err != nil {
		return nil, fmt.Errorf("webauthn: %w", err)
	}
	return &Passkeys{wa: wa, store: store, identity: identity, now: now}, nil
}

// waUser adapts a User to go-webauthn.
type waUser struct {
	u     User
	creds []webauthn.Credential
}

func (w waUser) WebAuthnID() []byte                         { return []byte(w.u.ID) }
func (w waUser) WebAuthnName() string                       { return w.u.Email }
func (w waUser) WebAuthnDisplayName() string                { return w.u.Name }
func (w waUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

func (p *Passkeys) load(ctx context.Context, userID string) (waUser, error) {
	u, err := p.identity.store.UserByID(ctx, userID)
	if err != nil {
		return waUser{}, err
	}
	raw, err := p.store.Passkeys(ctx, userID)
	if err != nil {
		return waUser{}, err
	}
	w := waUser{u: u}
	for _, r := range raw {
		var c webauthn.Credential
		if err := json.Unmarshal(r, &c); err != nil {
			return waUser{}, fmt.Errorf("read passkey: %w", err)
		}
		w.creds = append(w.creds, c)
	}
	return w, nil
}

// Ceremony is a challenge for the browser: its id and the options to pass to
// navigator.credentials.create or .get.
type Ceremony struct {
	ID      string
	Options json.RawMessage
}

func (p *Passkeys) begin(ctx context.Context, userID string, options any, session *webauthn.SessionData) (Ceremony, error) {
	opts, sess, err := encodeCeremony(options, session)
	if err != nil {
		return Ceremony{}, err
	}
	c := Ceremony{ID: id.New(id.Ceremony), Options: opts}
	if err := p.store.PutCeremony(ctx, c.ID, userID, sess, p.now().Add(ceremonyLifetime)); err != nil {
		return Ceremony{}, err
	}
	return c, nil
}

// encodeCeremony returns the options for the browser and the session to keep.
func encodeCeremony(options any, session *webauthn.SessionData) (opts json.RawMessage, sess []byte, err error) {
	if sess, err = json.Marshal(session); err != nil {
		return nil, nil, fmt.Errorf("save ceremony: %w", err)
	}
	if opts, err = json.Marshal(options); err != nil {
		return nil, nil, fmt.Errorf("encode ceremony: %w", err)
	}
	return opts, sess, nil
}

func (p *Passkeys) take(ctx context.Context, ceremonyID, userID string) (webauthn.SessionData, error) {
	var s webauthn.SessionData
	if !id.Valid(id.Ceremony, ceremonyID) {
		return s, ErrPasskeyFailed
	}
	raw, err := p.store.TakeCeremony(ctx, ceremonyID, userID, p.now())
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return s, fmt.Errorf("read ceremony: %w", err)
	}
	return s, nil
}

// BeginRegistration starts adding a passkey to the caller's account. It needs
// a login from the last five minutes (step-up): a passkey is a way in, and a
// stolen session must not be able to plant one. A staff account without a
// second factor must give its enrolment code (spent here).
func (p *Passkeys) BeginRegistration(ctx context.Context, enrollmentCode string) (Ceremony, error) {
	pr, err := access.RequireRecent(ctx, access.Authenticated, p.now())
	if err != nil {
		return Ceremony{}, err
	}
	if pr.KeyID != "" {
		return Ceremony{}, apperr.New(apperr.CodeForbidden, "an API key cannot change an account")
	}
	u, err := p.load(ctx, pr.UserID)
	if err != nil {
		return Ceremony{}, err
	}
	if err := takeEnrollment(ctx, p.identity.store, p.now().UTC(), u.u, enrollmentCode); err != nil {
		return Ceremony{}, err
	}
	var exclude []protocol.CredentialDescriptor
	for _, c := range u.creds {
		exclude = append(exclude, c.Descriptor())
	}
	options, session, err := p.wa.BeginRegistration(u, webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithExclusions(exclude))
	if err != nil {
		return Ceremony{}, fmt.Errorf("begin passkey registration: %w", err)
	}
	return p.begin(ctx, pr.UserID, options, session)
}

// FinishRegistration verifies the authenticator's answer and keeps the passkey.
func (p *Passkeys) FinishRegistration(ctx context.Context, ceremonyID string, response []byte) error {
	pr, err := access.Require(ctx, access.Authenticated)
	if err != nil {
		return err
	}
	session, err := p.take(ctx, ceremonyID, pr.UserID)
	if err != nil {
		return err
	}
	u, err := p.load(ctx, pr.UserID)
	if err != nil {
		return err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBody(bytes.NewReader(response))
	if err != nil {
		return ErrPasskeyFailed
	}
	cred, err := p.wa.CreateCredential(u, session, parsed)
	if err != nil {
		return ErrPasskeyFailed
	}
	raw, err := json.Marshal(cred)
	if err != nil {
		return fmt.Errorf("save passkey: %w", err)
	}
	credID := base64.RawURLEncoding.EncodeToString(cred.ID)
	rec := audit.New(ctx, p.now(), ActionPasskeyAdd, pr.UserID, audit.Success, "credential="+credID)
	if err := p.store.AddPasskey(ctx, pr.UserID, credID, raw, p.now().UTC(), rec); err != nil {
		return err
	}
	p.notify.Notify(ctx, pr.UserID, EventPasskeyAdded)
	return nil
}

// List returns the caller's passkeys.
func (p *Passkeys) List(ctx context.Context) ([]PasskeyInfo, error) {
	pr, err := access.Require(ctx, access.Authenticated)
	if err != nil {
		return nil, err
	}
	return p.store.PasskeyList(ctx, pr.UserID)
}

// Remove deletes one of the caller's passkeys. Like adding one, it needs a
// login from the last five minutes: it takes a second factor away.
func (p *Passkeys) Remove(ctx context.Context, credentialID string) error {
	pr, err := access.RequireRecent(ctx, access.Authenticated, p.now())
	if err != nil {
		return err
	}
	if pr.KeyID != "" {
		return apperr.New(apperr.CodeForbidden, "an API key cannot change an account")
	}
	if credentialID == "" || len(credentialID) > 1024 {
		return ErrPasskeyNotFound
	}
	rec := audit.New(ctx, p.now(), ActionPasskeyRemove, pr.UserID, audit.Success, "credential="+credentialID)
	if err := p.store.DeletePasskey(ctx, pr.UserID, credentialID, rec); err != nil {
		return err
	}
	p.notify.Notify(ctx, pr.UserID, EventPasskeyRemoved)
	return nil
}

// BeginLogin starts a passwordless login with any passkey of this site.
func (p *Passkeys) BeginLogin(ctx context.Context) (Ceremony, error) {
	options, session, err := p.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return Ceremony{}, fmt.Errorf("begin passkey login: %w", err)
	}
	return p.begin(ctx, "", options, session)
}

// FinishLogin verifies the assertion and starts a session for its account.
func (p *Passkeys) FinishLogin(ctx context.Context, ceremonyID string, response []byte) (LoginResult, error) {
	session, err := p.take(ctx, ceremonyID, "")
	if err != nil {
		return LoginResult{}, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return LoginResult{}, ErrPasskeyFailed
	}
	var who waUser
	handler := func(_, userHandle []byte) (webauthn.User, error) {
		if !id.Valid(id.User, string(userHandle)) {
			return nil, errors.New("unknown user handle")
		}
		w, err := p.load(ctx, string(userHandle))
		who = w
		return w, err
	}
	cred, err := p.wa.ValidateDiscoverableLogin(handler, session, parsed)
	if err != nil {
		// A passkey that does not verify never reaches the gate: reported here.
		p.identity.signal(ctx, detect.LoginFailed, who.u.ID, reqinfo.From(ctx).IP, "passkey did not verify")
		if err := p.identity.trail.Record(ctx, audit.ActionLogin, who.u.ID, audit.Failure, "passkey did not verify"); err != nil {
			return LoginResult{}, err
		}
		return LoginResult{}, ErrPasskeyFailed
	}
	if err := p.keepCounter(ctx, cred); err != nil {
		return LoginResult{}, err
	}
	// The ceremony required user verification (PIN or biometrics on the
	// authenticator) and the library checked its flag: the passkey is both factors.
	return p.identity.admit(ctx, who.u, proof{method: MethodPasskey, bothFactors: true, ip: reqinfo.From(ctx).IP})
}

// keepCounter stores the passkey's new signature counter, which lets the
// library spot a cloned authenticator.
func (p *Passkeys) keepCounter(ctx context.Context, cred *webauthn.Credential) error {
	raw, err := json.Marshal(cred)
	if err != nil {
		return nil // nothing new to keep
	}
	return p.store.UpdatePasskey(ctx, base64.RawURLEncoding.EncodeToString(cred.ID), raw)
}

// ErrNoPasskey answers a passkey asked to finish the login of an account that has none.
var ErrNoPasskey = apperr.New(apperr.CodeConflict, "this account has no passkey; finish the sign-in with a one-time or recovery code")

// BeginMFA starts the passkey assertion that finishes a login holding an MFA
// ticket (a social login of an account with MFA on), for an account whose
// second factor is a passkey. The options allow only the passkeys of the
// ticket's account, and the challenge is kept with the ticket itself
// (replacing one begun before), so only an assertion answering this ticket's
// challenge can finish this ticket. The ticket is not spent: the browser may
// begin again. ErrInvalidTicket, ErrNoPasskey.
func (p *Passkeys) BeginMFA(ctx context.Context, ticket string) (json.RawMessage, error) {
	if !validTicket(ticket) {
		return nil, ErrInvalidTicket
	}
	hash := hashToken(ticket)
	t, err := p.identity.store.MFATicket(ctx, hash, p.now())
	if err != nil {
		return nil, err
	}
	u, err := p.load(ctx, t.UserID)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrInvalidTicket // erased meanwhile
	}
	if err != nil {
		return nil, fmt.Errorf("begin passkey for MFA ticket: %w", err)
	}
	if len(u.creds) == 0 {
		return nil, ErrNoPasskey
	}
	// The passkey is the second factor here, possession; the provider was the
	// first. User verification is preferred, not required: a security key
	// without a PIN is a second factor all the same.
	options, session, err := p.wa.BeginLogin(u, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, fmt.Errorf("begin passkey for MFA ticket: %w", err)
	}
	opts, sess, err := encodeCeremony(options, session)
	if err != nil {
		return nil, err
	}
	if err := p.identity.store.SetMFATicketPasskey(ctx, hash, sess, p.now()); err != nil {
		return nil, err
	}
	return opts, nil
}

// CompleteMFA finishes a login holding an MFA ticket with a passkey
// assertion that answers the challenge BeginMFA kept with this ticket. It
// goes through the login gate like every way in: the ticket works once,
// whatever the outcome; an assertion that does not verify (another
// account's passkey, another ticket's or a replayed challenge, no BeginMFA)
// is a wrong second factor, counted against the same throttle as a wrong
// code (ErrPasskeyFailed; too_many_attempts once locked); staff rules and
// step-up apply as for any login. ErrInvalidTicket for a ticket that is not live.
func (p *Passkeys) CompleteMFA(ctx context.Context, ticket string, response []byte) (LoginResult, error) {
	t, u, pr, err := p.identity.takeTicket(ctx, ticket)
	if err != nil {
		return LoginResult{}, err
	}
	pr.passkey = func(ctx context.Context) error { return p.verifyTicketAssertion(ctx, t, response) }
	pr.refusal = ErrPasskeyFailed
	return p.identity.admit(ctx, u, pr)
}

// verifyTicketAssertion checks response against the ticket's challenge and
// the passkeys of the ticket's account: ErrPasskeyFailed when it does not verify.
func (p *Passkeys) verifyTicketAssertion(ctx context.Context, t MFATicket, response []byte) error {
	if len(t.Passkey) == 0 {
		return ErrPasskeyFailed // no challenge was begun for this ticket
	}
	var session webauthn.SessionData
	if err := json.Unmarshal(t.Passkey, &session); err != nil {
		return fmt.Errorf("read the MFA ticket's passkey challenge: %w", err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return ErrPasskeyFailed
	}
	w, err := p.load(ctx, t.UserID)
	if err != nil {
		return fmt.Errorf("load passkeys of %s: %w", t.UserID, err)
	}
	// The library checks that the session is this account's, that the
	// credential is one of its passkeys and was allowed, the challenge, the
	// origin and the signature.
	cred, err := p.wa.ValidateLogin(w, session, parsed)
	if err != nil {
		return ErrPasskeyFailed
	}
	return p.keepCounter(ctx, cred)
}
