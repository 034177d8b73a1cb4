package identity

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/throttle"
)

// KeyPrefix starts every API key, so secret scanners recognise a leaked one.
const KeyPrefix = "bwk_"

// MaxKeyLifetime bounds how long a key may live.
const MaxKeyLifetime = 366 * 24 * time.Hour

// Audit actions of API keys.
const (
	ActionKeyCreate = "api_key.create"
	ActionKeyRevoke = "api_key.revoke"
)

// ErrKeyNotFound is returned for an unknown API key id.
var ErrKeyNotFound = apperr.NotFound("API key")

// APIKey is an integration's credential. Only the SHA-256 of the key is kept.
type APIKey struct {
	ID          string
	Name        string
	KeyHash     string
	Permissions []access.Permission
	CreatedBy   string
	CreatedAt   time.Time
	ExpiresAt   time.Time
	LastUsedAt  time.Time // zero until first use
	RevokedAt   time.Time // zero unless revoked
}

// KeyStore keeps API keys.
type KeyStore interface {
	CreateAPIKey(ctx context.Context, k APIKey, rec audit.Record) error
	APIKeys(ctx context.Context) ([]APIKey, error)
	APIKeyByHash(ctx context.Context, hash string) (APIKey, error) // ErrKeyNotFound
	TouchAPIKey(ctx context.Context, keyID string, at time.Time) error
	RevokeAPIKey(ctx context.Context, keyID string, at time.Time, rec audit.Record) error // ErrKeyNotFound
}

// Keys is the API-key use cases.
type Keys struct {
	store  KeyStore
	users  Store
	logins *throttle.Limiter
	now    func() time.Time
}

// NewKeys returns the API-key service; users is read for each key's creator,
// and logins (the login gate's throttle) for whether the creator's second
// factor is locked.
func NewKeys(store KeyStore, users Store, logins *throttle.Limiter, now func() time.Time) *Keys {
	return &Keys{store: store, users: users, logins: logins, now: now}
}

// Create makes a key with permissions (each one the caller holds and keys may
// carry) that expires at expiresAt. It returns the key itself, shown once.
// Needs access.KeysManage and a recent login.
func (k *Keys) Create(ctx context.Context, name string, perms []string, expiresAt time.Time) (APIKey, string, error) {
	p, err := access.RequireRecent(ctx, access.KeysManage, k.now())
	if err != nil {
		return APIKey{}, "", err
	}
	now := k.now().UTC()
	var v apperr.Validator
	v.CheckText("name", name, 1, 100, false)
	v.Check(len(perms) >= 1 && len(perms) <= len(access.KeyGrantable()), "permissions", "list one or more permissions")
	var granted []access.Permission
	for i, s := range perms {
		perm := access.Permission(s)
		ok := slices.Contains(access.KeyGrantable(), perm) && p.Can(perm)
		v.Check(ok, fmt.Sprintf("permissions[%d]", i), "is not a permission you hold that a key may carry ("+joinPerms(access.KeyGrantable())+")")
		if ok && !slices.Contains(granted, perm) {
			granted = append(granted, perm)
		}
	}
	v.Check(expiresAt.After(now) && expiresAt.Before(now.Add(MaxKeyLifetime)), "expires_at", "must be in the future and within a year")
	if err := v.Err(); err != nil {
		return APIKey{}, "", err
	}
	secret := id.Token(KeyPrefix)
	key := APIKey{ID: id.New(id.APIKey), Name: name, KeyHash: hashToken(secret), Permissions: granted,
		CreatedBy: p.UserID, CreatedAt: now, ExpiresAt: expiresAt.UTC()}
	rec := audit.New(ctx, now, ActionKeyCreate, key.ID, audit.Success, "permissions="+joinPerms(granted))
	if err := k.store.CreateAPIKey(ctx, key, rec); err != nil {
		return APIKey{}, "", fmt.Errorf("create API key: %w", err)
	}
	return key, secret, nil
}

// List returns every key (never the keys themselves). Needs access.KeysManage.
func (k *Keys) List(ctx context.Context) ([]APIKey, error) {
	if _, err := access.Require(ctx, access.KeysManage); err != nil {
		return nil, err
	}
	return k.store.APIKeys(ctx)
}

// Revoke ends a key at once. Needs access.KeysManage.
func (k *Keys) Revoke(ctx context.Context, keyID string) error {
	if _, err := access.Require(ctx, access.KeysManage); err != nil {
		return err
	}
	if !id.Valid(id.APIKey, keyID) {
		return ErrKeyNotFound
	}
	rec := audit.New(ctx, k.now(), ActionKeyRevoke, keyID, audit.Success, "")
	return k.store.RevokeAPIKey(ctx, keyID, k.now().UTC(), rec)
}

// Authenticate returns the principal of an API key, or ErrUnauthenticated for
// an unknown, expired or revoked one, or one whose creator's account is gone
// (erased). A key never grants more than its creator holds now: its
// permissions are those it was given that the creator's roles still grant,
// staff MFA rule included, so a demotion, a role taken away or a second factor
// turned off takes effect on the creator's keys at their next request. While
// the creator's second factor is locked (throttle.SecondFactorLocked: someone
// who passed the creator's first factor guessed codes up to the daily cap),
// every key of the creator is suspended the same way: it holds no permission
// (403 forbidden, as a key of a demoted creator) until the lock ends.
func (k *Keys) Authenticate(ctx context.Context, secret string) (*access.Principal, error) {
	if !strings.HasPrefix(secret, KeyPrefix) || len(secret) > 128 {
		return nil, ErrUnauthenticated
	}
	key, err := k.store.APIKeyByHash(ctx, hashToken(secret))
	if err != nil {
		if apperr.Code(err) == apperr.CodeNotFound {
			return nil, ErrUnauthenticated
		}
		return nil, fmt.Errorf("authenticate API key: %w", err)
	}
	now := k.now()
	if !key.RevokedAt.IsZero() || !now.Before(key.ExpiresAt) {
		return nil, ErrUnauthenticated
	}
	if now.Sub(key.LastUsedAt) >= touchInterval {
		if err := k.store.TouchAPIKey(ctx, key.ID, now.UTC()); err != nil {
			return nil, fmt.Errorf("touch API key %s: %w", key.ID, err)
		}
	}
	creator, err := k.users.UserByID(ctx, key.CreatedBy)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("read creator of API key %s: %w", key.ID, err)
	}
	perms := bounded(key.Permissions, creator)
	if len(perms) > 0 {
		// One indexed read of the lock the login gate sets, in the same
		// database (store.LoginThrottle), skipped for a key already suspended.
		locked, err := k.logins.SecondFactorLocked(ctx, creator.Email)
		if err != nil {
			return nil, fmt.Errorf("API key %s: %w", key.ID, err)
		}
		if locked > 0 {
			perms = nil
		}
	}
	return &access.Principal{UserID: key.ID, KeyID: key.ID, KeyPermissions: perms}, nil
}

// bounded returns the permissions of perms that creator holds now.
func bounded(perms []access.Permission, creator User) []access.Permission {
	holder := access.WithPrincipal(context.Background(), &access.Principal{UserID: creator.ID, Roles: creator.Roles, MFAEnabled: creator.MFAEnabled})
	var out []access.Permission
	for _, p := range perms {
		if _, err := access.Require(holder, p); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func joinPerms(ps []access.Permission) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, ",")
}
