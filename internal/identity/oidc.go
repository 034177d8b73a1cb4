package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/reqinfo"
)

// oidcLoginLifetime bounds how long a user has at the provider.
const oidcLoginLifetime = 10 * time.Minute

// ActionOIDCLink is the audit action of linking an external identity to an account.
const ActionOIDCLink = "user.oidc_link"

// ErrOIDCFailed is the one answer for a social login that does not verify.
var ErrOIDCFailed = apperr.New("oidc_failed", "the sign-in with the identity provider could not be verified; start again")

// ErrOIDCEmailUnverified refuses a provider identity whose email the provider has not verified.
var ErrOIDCEmailUnverified = apperr.New("oidc_email_unverified", "the identity provider has not verified this email address")

// OIDCLogin is a login in progress at the provider.
type OIDCLogin struct {
	State, Nonce, Verifier, BindingHash string
	ExpiresAt                           time.Time
}

// OIDCStore keeps logins in progress and linked identities.
type OIDCStore interface {
	PutOIDCLogin(ctx context.Context, l OIDCLogin) error
	// TakeOIDCLogin returns and deletes a live login; ErrOIDCFailed otherwise.
	TakeOIDCLogin(ctx context.Context, state string, now time.Time) (OIDCLogin, error)
	// OIDCIdentity returns the user linked to (issuer, subject), or ErrNotFound.
	OIDCIdentity(ctx context.Context, issuer, subject string) (string, error)
	LinkOIDCIdentity(ctx context.Context, issuer, subject, userID string, at time.Time, rec audit.Record) error
}

// OIDCConfig is the relying party's registration at the provider.
type OIDCConfig struct {
	Issuer, ClientID, ClientSecret, RedirectURL string
}

// OIDC logs people in with an OpenID Connect provider (authorization code
// flow with PKCE, state and nonce), linking accounts only by verified email.
type OIDC struct {
	cfg      OIDCConfig
	store    OIDCStore
	identity *Service
	now      func() time.Time

	mu       sync.Mutex // guards the lazily discovered provider
	provider *oidc.Provider
}

// NewOIDC returns the social-login service. The provider is discovered on
// first use, so the shop starts even while the provider is down.
func NewOIDC(cfg OIDCConfig, store OIDCStore, identity *Service, now func() time.Time) *OIDC {
	return &OIDC{cfg: cfg, store: store, identity: identity, now: now}
}

func (o *OIDC) oauth(ctx context.Context) (*oauth2.Config, *oidc.IDTokenVerifier, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider == nil {
		p, err := oidc.NewProvider(ctx, o.cfg.Issuer)
		if err != nil {
			return nil, nil, fmt.Errorf("discover OIDC provider: %w", err)
		}
		o.provider = p
	}
	oc := &oauth2.Config{ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, RedirectURL: o.cfg.RedirectURL,
		Endpoint: o.provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "email", "profile"}}
	return oc, o.provider.Verifier(&oidc.Config{ClientID: o.cfg.ClientID, Now: o.now}), nil
}

func random() string { return id.Token("") }

// Begin starts a login: it returns the provider URL to send the browser to and
// a binding secret for a cookie, so only the browser that began can finish.
func (o *OIDC) Begin(ctx context.Context) (redirect, binding string, err error) {
	oc, _, err := o.oauth(ctx)
	if err != nil {
		return "", "", err
	}
	l := OIDCLogin{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier(), ExpiresAt: o.now().Add(oidcLoginLifetime)}
	binding = random()
	l.BindingHash = hashToken(binding)
	if err := o.store.PutOIDCLogin(ctx, l); err != nil {
		return "", "", err
	}
	return oc.AuthCodeURL(l.State, oidc.Nonce(l.Nonce), oauth2.S256ChallengeOption(l.Verifier)), binding, nil
}

// Finish completes a login from the provider's redirect: it checks state (and
// the browser binding), exchanges the code with the PKCE verifier, verifies the
// ID token and its nonce, and passes the linked account to the login gate
// (which starts a session, or asks for the account's second factor with an
// MFA ticket), linking or creating one only by a verified email.
func (o *OIDC) Finish(ctx context.Context, state, code, binding string) (LoginResult, error) {
	l, err := o.store.TakeOIDCLogin(ctx, state, o.now())
	if err != nil {
		return LoginResult{}, err
	}
	if binding == "" || hashToken(binding) != l.BindingHash {
		return LoginResult{}, ErrOIDCFailed
	}
	oc, verifier, err := o.oauth(ctx)
	if err != nil {
		return LoginResult{}, err
	}
	tok, err := oc.Exchange(ctx, code, oauth2.VerifierOption(l.Verifier))
	if err != nil {
		return LoginResult{}, ErrOIDCFailed
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok {
		return LoginResult{}, ErrOIDCFailed
	}
	idt, err := verifier.Verify(ctx, raw)
	if err != nil || idt.Nonce != l.Nonce {
		return LoginResult{}, ErrOIDCFailed
	}
	var claims oidcClaims
	if err := idt.Claims(&claims); err != nil {
		return LoginResult{}, ErrOIDCFailed
	}
	if claims.Email == "" {
		// Many providers put the email in UserInfo rather than the ID token.
		info, err := o.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil || info.Subject != idt.Subject {
			return LoginResult{}, ErrOIDCFailed
		}
		if err := info.Claims(&claims); err != nil {
			return LoginResult{}, ErrOIDCFailed
		}
	}
	return o.login(ctx, idt, claims)
}

type oidcClaims struct {
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	Name          string `json:"name"`
}

func (o *OIDC) login(ctx context.Context, idt *oidc.IDToken, claims oidcClaims) (LoginResult, error) {
	if userID, err := o.store.OIDCIdentity(ctx, idt.Issuer, idt.Subject); err == nil {
		u, err := o.identity.store.UserByID(ctx, userID)
		if err != nil {
			return LoginResult{}, err
		}
		return o.identity.admit(ctx, u, o.proof(ctx))
	} else if !errors.Is(err, ErrNotFound) {
		return LoginResult{}, err
	}
	if !claims.EmailVerified || claims.Email == "" {
		return LoginResult{}, ErrOIDCEmailUnverified
	}
	email := NormalizeEmail(claims.Email)
	// Linking by email is safe only because both sides verified the address:
	// the provider says so (above), and an account exists in the store only
	// once its address was verified (registration waits in
	// email_verifications until its link is used; `admin create` is vouched
	// for by the operator; accounts made here by the provider's claim), so an
	// address someone registered without reading its mail links nothing.
	u, err := o.identity.store.UserByEmail(ctx, email)
	if errors.Is(err, ErrNotFound) {
		name := claims.Name
		if name == "" {
			name = email
		}
		// A new customer account with an unusable password: its owner logs in
		// through the provider (or sets a password by reset).
		if u, err = o.identity.createUnusable(ctx, email, name); err != nil {
			return LoginResult{}, err
		}
	} else if err != nil {
		return LoginResult{}, err
	}
	ctx = access.WithPrincipal(ctx, &access.Principal{UserID: u.ID})
	rec := audit.New(ctx, o.now(), ActionOIDCLink, u.ID, audit.Success, "issuer="+idt.Issuer)
	if err := o.store.LinkOIDCIdentity(ctx, idt.Issuer, idt.Subject, u.ID, o.now().UTC(), rec); err != nil {
		return LoginResult{}, err
	}
	return o.identity.admit(ctx, u, o.proof(ctx))
}

// proof is what a verified ID token establishes: one factor, the provider's.
// An account with MFA on then owes its own second factor; the callback cannot
// ask for it, so the gate answers with an MFA ticket instead of a session.
func (o *OIDC) proof(ctx context.Context) proof {
	return proof{method: MethodOIDC, ticket: true, ip: reqinfo.From(ctx).IP}
}

// createUnusable makes a customer account whose password hash matches nothing.
func (s *Service) createUnusable(ctx context.Context, email, name string) (User, error) {
	// The provider's name is not the person's to fix here: characters the
	// rules refuse are dropped rather than refusing the login.
	name = NormalizeName(strings.Map(func(r rune) rune {
		if invisible(r) {
			return -1
		}
		return r
	}, name))
	if name == "" {
		name = email
	}
	if len([]rune(name)) > MaxNameLength {
		name = string([]rune(name)[:MaxNameLength])
	}
	if err := checkAccountFields(&email, &name); err != nil {
		return User{}, err
	}
	now := s.now().UTC()
	u := User{ID: id.New(id.User), Email: email, Name: name, Roles: []access.Role{access.Customer},
		PasswordHash: NoPassword, CreatedAt: now}
	rec := audit.New(ctx, now, audit.ActionRegister, u.ID, audit.Success, "roles=customer via OIDC")
	if err := s.store.CreateUser(ctx, u, rec); err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}
