package identity

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/throttle"
)

func TestKeyPermissionsBoundedByCreator(t *testing.T) {
	both := []access.Permission{access.OrdersRead, access.CatalogWrite}
	for _, c := range []struct {
		name    string
		creator User
		want    []access.Permission
	}{
		{"admin with MFA keeps both", User{ID: "usr_a", Roles: []access.Role{access.Customer, access.Admin}, MFAEnabled: true}, both},
		{"demoted to catalog keeps catalog:write", User{ID: "usr_a", Roles: []access.Role{access.Customer, access.Catalog}, MFAEnabled: true}, []access.Permission{access.CatalogWrite}},
		{"demoted to customer keeps nothing", User{ID: "usr_a", Roles: []access.Role{access.Customer}, MFAEnabled: true}, nil},
		{"admin without MFA keeps nothing", User{ID: "usr_a", Roles: []access.Role{access.Customer, access.Admin}}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := bounded(both, c.creator); !slices.Equal(got, c.want) {
				t.Fatalf("bounded = %v, want %v", got, c.want)
			}
		})
	}
}

// oneKey is a KeyStore holding one key.
type oneKey struct {
	KeyStore
	k APIKey
}

func (o oneKey) APIKeyByHash(_ context.Context, hash string) (APIKey, error) {
	if hash != o.k.KeyHash {
		return APIKey{}, ErrKeyNotFound
	}
	return o.k, nil
}

func (oneKey) TouchAPIKey(context.Context, string, time.Time) error { return nil }

// oneUser is a Store knowing one account.
type oneUser struct {
	Store
	u User
}

func (o oneUser) UserByID(_ context.Context, id string) (User, error) {
	if id != o.u.ID {
		return User{}, ErrNotFound
	}
	return o.u, nil
}

func TestKeysSuspendedWhileCreatorsSecondFactorIsLocked(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	clock := func() time.Time { return now }
	both := []access.Permission{access.OrdersRead, access.CatalogWrite}
	creator := User{ID: "usr_a", Email: "a@example.com", Roles: []access.Role{access.Customer, access.Admin}, MFAEnabled: true}
	const secret = KeyPrefix + "the-key"
	logins := throttle.New(throttle.NewMemory(clock, 0))
	keys := NewKeys(oneKey{k: APIKey{ID: "key_a", KeyHash: hashToken(secret), Permissions: both, CreatedBy: creator.ID,
		ExpiresAt: now.Add(7 * 24 * time.Hour)}}, oneUser{u: creator}, logins, clock)
	holds := func() []access.Permission {
		t.Helper()
		p, err := keys.Authenticate(ctx, secret)
		if err != nil {
			t.Fatal(err)
		}
		return p.KeyPermissions
	}
	if got := holds(); !slices.Equal(got, both) {
		t.Fatalf("before the lock the key holds %v, want %v", got, both)
	}
	for range throttle.SecondFactorFailures - 1 {
		if _, err := logins.SecondFactorFailed(ctx, creator.Email); err != nil {
			t.Fatal(err)
		}
	}
	if got := holds(); !slices.Equal(got, both) {
		t.Fatalf("wrong codes short of the lock took %v away", both)
	}
	if locked, err := logins.SecondFactorFailed(ctx, creator.Email); err != nil || !locked {
		t.Fatalf("the tenth wrong code: locked %v, %v", locked, err)
	}
	if got := holds(); got != nil {
		t.Fatalf("while the creator's second factor is locked the key holds %v, want nothing", got)
	}
	now = now.Add(throttle.Day)
	if got := holds(); !slices.Equal(got, both) {
		t.Fatalf("after the lock the key holds %v, want %v", got, both)
	}
}

// codes is a GateStore holding enrolment codes only.
type codes struct {
	GateStore
	hash    string
	expires time.Time
}

func (c *codes) TakeEnrollmentCode(_ context.Context, _, hash string, now time.Time, _ audit.Record) (bool, error) {
	if hash != c.hash || !now.Before(c.expires) {
		return false, nil
	}
	c.hash = ""
	return true, nil
}

func TestTakeEnrollment(t *testing.T) {
	now := time.Now()
	staff := User{ID: "usr_s", Roles: []access.Role{access.Customer, access.Support}}
	const code = EnrollmentPrefix + "right"
	for _, c := range []struct {
		name string
		u    User
		code string
		want error
	}{
		{"a customer needs no code", User{ID: "usr_c", Roles: []access.Role{access.Customer}}, "", nil},
		{"staff with MFA need no code", User{ID: "usr_m", Roles: staff.Roles, MFAEnabled: true}, "", nil},
		{"staff without MFA need one", staff, "", ErrEnrollmentCodeRequired},
		{"a wrong code is refused", staff, EnrollmentPrefix + "wrong", ErrInvalidEnrollmentCode},
		{"a malformed code is refused", staff, "right", ErrInvalidEnrollmentCode},
		{"the right code passes", staff, code, nil},
	} {
		store := &codes{hash: hashToken(code), expires: now.Add(time.Hour)}
		t.Run(c.name, func(t *testing.T) {
			if err := takeEnrollment(context.Background(), store, now, c.u, c.code); err != c.want {
				t.Fatalf("takeEnrollment = %v, want %v", err, c.want)
			}
		})
	}
	t.Run("a code works once", func(t *testing.T) {
		store := &codes{hash: hashToken(code), expires: now.Add(time.Hour)}
		if err := takeEnrollment(context.Background(), store, now, staff, code); err != nil {
			t.Fatal(err)
		}
		if err := takeEnrollment(context.Background(), store, now, staff, code); err != ErrInvalidEnrollmentCode {
			t.Fatalf("second use = %v", err)
		}
	})
	t.Run("an expired code is refused", func(t *testing.T) {
		store := &codes{hash: hashToken(code), expires: now}
		if err := takeEnrollment(context.Background(), store, now, staff, code); err != ErrInvalidEnrollmentCode {
			t.Fatalf("= %v", err)
		}
	})
}
