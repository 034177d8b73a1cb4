package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/identity"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// TestMailQuotaHoldsUnderConcurrency: twenty concurrent takers of one
// account's quota (as twenty instances would be) get exactly max mails.
func TestMailQuotaHoldsUnderConcurrency(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := mustOpen(t, d)
		ctx := context.Background()
		now := time.Now()
		var mu sync.Mutex
		granted := 0
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := db.TakeMailQuota(ctx, "user:usr_quota", now, time.Hour, 3)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					granted++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if granted != 3 {
			t.Fatalf("%d mails granted, want 3", granted)
		}
		if ok, err := db.TakeMailQuota(ctx, "user:usr_other", now, time.Hour, 3); err != nil || !ok {
			t.Fatalf("another account's quota: %v %v", ok, err)
		}
		if ok, err := db.TakeMailQuota(ctx, "user:usr_quota", now.Add(time.Hour+time.Second), time.Hour, 3); err != nil || !ok {
			t.Fatalf("an hour later: %v %v", ok, err)
		}
	})
}

// TestPendingRegistrations: a registration stores nothing for a taken or
// look-alike address, is limited per address, and makes its account only when used.
func TestPendingRegistrations(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := mustOpen(t, d)
		ctx := context.Background()
		now := time.Now().UTC()
		pend := func(email, tokenHash string) identity.Pending {
			t.Helper()
			p, err := db.PendRegistration(ctx, identity.Verification{TokenHash: tokenHash, Purpose: identity.PurposeRegister,
				UserID: id.New(id.User), Email: email, Name: "N", PasswordHash: "x", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, 2, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		if p := pend("first@example.com", "h1"); p.OwnerID != "" || p.Limited {
			t.Fatalf("a free address: %+v", p)
		}
		v, err := db.UseVerification(ctx, "h1", now, func(v identity.Verification) audit.Record { return rec("user.register", v.UserID) })
		if err != nil || v.User.Email != "first@example.com" || v.Purpose != identity.PurposeRegister {
			t.Fatalf("use: %+v %v", v, err)
		}
		if p := pend("first@example.com", "h2"); p.OwnerID != v.User.ID {
			t.Fatalf("a taken address: %+v", p)
		}
		if p := pend("f\u0456rst@example.com", "h3"); p.OwnerID != v.User.ID {
			t.Fatalf("a look-alike (Cyrillic і): %+v", p)
		}
		pend("twice@example.com", "h4")
		pend("twice@example.com", "h5")
		if p := pend("twice@example.com", "h6"); !p.Limited {
			t.Fatalf("a third verification within the hour: %+v", p)
		}
		if _, err := db.UseVerification(ctx, "h1", now, func(v identity.Verification) audit.Record { return rec("user.register", v.UserID) }); err != identity.ErrInvalidVerifyToken {
			t.Fatalf("a used token: %v", err)
		}
		if _, err := db.UseVerification(ctx, "h4", now.Add(2*time.Hour), func(v identity.Verification) audit.Record { return rec("user.register", v.UserID) }); err != identity.ErrInvalidVerifyToken {
			t.Fatalf("an expired token: %v", err)
		}
	})
}
