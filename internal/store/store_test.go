package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/catalog"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/identity"
	"github.com/bulwark-shop/bulwark/internal/keys"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/payment"
	"github.com/bulwark-shop/bulwark/internal/pii"
	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/testenv"
	"github.com/bulwark-shop/bulwark/internal/vault"
)

// mustOpen opens and migrates a fresh database.
func mustOpen(t *testing.T, d testenv.Database) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), store.Options{DatabaseURL: d.DatabaseURL, DataDir: d.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	ring, err := keys.OpenKeyring(d.DataDir, "")
	if err != nil {
		t.Fatal(err)
	}
	master, err := ring.AEAD("pii")
	if err != nil {
		t.Fatal(err)
	}
	index, err := ring.PRF("index")
	if err != nil {
		t.Fatal(err)
	}
	db.UsePersonalData(pii.New(master, index))
	return db
}

func rec(action, target string) audit.Record {
	return audit.New(context.Background(), time.Now(), action, target, audit.Success, "")
}

// The same suite runs on every engine.
func TestStore(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := mustOpen(t, d)
		ctx := context.Background()

		t.Run("migrating again applies nothing", func(t *testing.T) {
			applied, err := db.Migrate(ctx)
			if err != nil || len(applied) != 0 {
				t.Fatalf("applied %v, err %v", applied, err)
			}
		})

		t.Run("concurrent migrations of a fresh database agree", func(t *testing.T) {
			fresh := testenv.Databases(t)
			d2 := fresh[0]
			if d.Engine == "postgres" {
				d2 = fresh[1]
			}
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			for range 4 {
				wg.Go(func() {
					db, err := store.Open(ctx, store.Options{DatabaseURL: d2.DatabaseURL, DataDir: d2.DataDir})
					if err != nil {
						errs <- err
						return
					}
					defer db.Close()
					_, err = db.Migrate(ctx)
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
		})

		t.Run("data keys are rewrapped in batches from a cursor, and stay usable", func(t *testing.T) {
			var ids []string
			for i := range 5 {
				u := identity.User{ID: id.New(id.User), Email: fmt.Sprintf("rewrap%d@example.com", i), Name: "R", PasswordHash: "h",
					Roles: []access.Role{access.Customer}, CreatedAt: time.Now()}
				if err := db.CreateUser(ctx, u, rec(audit.ActionRegister, u.ID)); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, u.ID)
			}
			seen, cursor := 0, ""
			for pass := 0; ; pass++ {
				next, done, err := db.RewrapSubjectKeys(ctx, cursor, 2)
				if err != nil {
					t.Fatal(err)
				}
				if next < cursor || (next == cursor && !done) {
					t.Fatalf("the cursor went from %q to %q", cursor, next)
				}
				cursor = next
				seen++
				if done {
					break
				}
				if pass > 100 {
					t.Fatal("the rewrap never finishes")
				}
			}
			if seen < 3 {
				t.Fatalf("five keys or more in batches of two took %d batches", seen)
			}
			for _, uid := range ids {
				if u, err := db.UserByID(ctx, uid); err != nil || u.Name != "R" {
					t.Fatalf("after rewrap, user = %+v, %v", u, err)
				}
			}
		})

		t.Run("erasure returns the vault tokens of every saved card, also one saved at the last moment", func(t *testing.T) {
			u := identity.User{ID: id.New(id.User), Email: "erase-cards@example.com", Name: "E", PasswordHash: "h",
				Roles: []access.Role{access.Customer}, CreatedAt: time.Now()}
			if err := db.CreateUser(ctx, u, rec(audit.ActionRegister, u.ID)); err != nil {
				t.Fatal(err)
			}
			// The privacy service lists the cards before the erasure; this one
			// comes after that list, as a card saved while the erasure runs would.
			m := payment.Method{ID: id.New(id.PaymentMethod), OwnerID: u.ID, Token: id.New(id.CardToken), Brand: vault.Visa,
				Last4: "4242", ExpMonth: 12, ExpYear: 2031, CreatedAt: time.Now()}
			if err := db.CreateMethod(ctx, m, 10, rec("payment_method.create", m.ID)); err != nil {
				t.Fatal(err)
			}
			tokens, err := db.Erase(ctx, u.ID, rec("user.erase", u.ID))
			if err != nil {
				t.Fatal(err)
			}
			if len(tokens) != 1 || tokens[0] != m.Token {
				t.Fatalf("erasure returned tokens %v, want [%s]", tokens, m.Token)
			}
			if left, err := db.Methods(ctx, u.ID); err != nil || len(left) != 0 {
				t.Fatalf("after erasure the account keeps %d saved cards (%v)", len(left), err)
			}
		})

		t.Run("users, roles and sessions", func(t *testing.T) {
			u := identity.User{ID: id.New(id.User), Email: "s@example.com", Name: "S", PasswordHash: "h",
				Roles: []access.Role{access.Customer}, CreatedAt: time.Now()}
			if err := db.CreateUser(ctx, u, rec(audit.ActionRegister, u.ID)); err != nil {
				t.Fatal(err)
			}
			dup := u
			dup.ID = id.New(id.User)
			if err := db.CreateUser(ctx, dup, rec(audit.ActionRegister, dup.ID)); !errors.Is(err, identity.ErrEmailTaken) {
				t.Fatalf("duplicate email: %v", err)
			}
			got, err := db.UserByEmail(ctx, "s@example.com")
			if err != nil || got.ID != u.ID || len(got.Roles) != 1 {
				t.Fatalf("UserByEmail = %+v, %v", got, err)
			}
			if _, err := db.UserByID(ctx, id.New(id.User)); !errors.Is(err, identity.ErrNotFound) {
				t.Fatalf("unknown user: %v", err)
			}
			sess := identity.Session{ID: id.New(id.Session), UserID: u.ID, TokenHash: "th", CreatedAt: time.Now(), LastUsedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
			if err := db.CreateSession(ctx, sess, rec(audit.ActionLogin, u.ID)); err != nil {
				t.Fatal(err)
			}
			if s, owner, err := db.SessionByTokenHash(ctx, "th"); err != nil || s.ID != sess.ID || owner.ID != u.ID {
				t.Fatalf("SessionByTokenHash = %+v %+v %v", s, owner, err)
			}
			after, err := db.SetRoles(ctx, u.ID, []access.Role{access.Customer, access.Finance}, rec(audit.ActionRolesChange, u.ID))
			if err != nil || len(after.Roles) != 2 || after.Roles[1] != access.Finance {
				t.Fatalf("SetRoles = %+v %v", after, err)
			}
			if _, _, err := db.SessionByTokenHash(ctx, "th"); !errors.Is(err, identity.ErrSessionNotFound) {
				t.Fatalf("session survived a role change: %v", err)
			}
			if _, err := db.SetRoles(ctx, id.New(id.User), nil, rec(audit.ActionRolesChange, "")); !errors.Is(err, identity.ErrNotFound) {
				t.Fatalf("SetRoles of unknown user: %v", err)
			}
			// The session and its account (contact opened, roles in the
			// canonical order) come back from one read.
			sess.ID, sess.TokenHash = id.New(id.Session), "th2"
			if err := db.CreateSession(ctx, sess, rec(audit.ActionLogin, u.ID)); err != nil {
				t.Fatal(err)
			}
			s, owner, err := db.SessionByTokenHash(ctx, "th2")
			if err != nil || s.ID != sess.ID || s.UserID != u.ID || !s.ExpiresAt.Equal(sess.ExpiresAt.Truncate(time.Microsecond)) ||
				owner.Email != "s@example.com" || owner.Name != "S" || owner.PasswordHash != "h" ||
				!slices.Equal(owner.Roles, []access.Role{access.Customer, access.Finance}) {
				t.Fatalf("SessionByTokenHash after the role change = %+v %+v %v", s, owner, err)
			}
		})

		t.Run("products and stock", func(t *testing.T) {
			p := singleVariant("S-1", money.Money{Amount: 100, Currency: "EUR"}, 5)
			if err := db.CreateProduct(ctx, p, rec(audit.ActionProductCreate, p.ID)); err != nil {
				t.Fatal(err)
			}
			p2 := singleVariant("S-1", money.Money{Amount: 100, Currency: "EUR"}, 5)
			if err := db.CreateProduct(ctx, p2, rec(audit.ActionProductCreate, p2.ID)); !errors.Is(err, catalog.ErrSKUTaken) {
				t.Fatalf("duplicate sku: %v", err)
			}
			if _, err := db.Product(ctx, p2.ID); !errors.Is(err, catalog.ErrNotFound) {
				t.Fatalf("the refused product was kept: %v", err)
			}
			vid := p.Variants[0].ID
			if _, err := db.AdjustStock(ctx, vid, -6, time.Now(), rec(audit.ActionStockAdjust, vid)); !errors.Is(err, catalog.ErrInsufficientStock) {
				t.Fatalf("stock below zero: %v", err)
			}
			if _, err := db.AdjustStock(ctx, id.New(id.Variant), 1, time.Now(), rec(audit.ActionStockAdjust, "")); !errors.Is(err, catalog.ErrVariantNotFound) {
				t.Fatalf("unknown variant: %v", err)
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			ok := 0
			for range 20 {
				wg.Go(func() {
					if _, err := db.AdjustStock(ctx, vid, -1, time.Now(), rec(audit.ActionStockAdjust, vid)); err == nil {
						mu.Lock()
						ok++
						mu.Unlock()
					} else if !errors.Is(err, catalog.ErrInsufficientStock) {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			got, err := db.Product(ctx, p.ID)
			if err != nil || got.First().Stock != 0 || ok != 5 {
				t.Fatalf("after 20 concurrent -1 on 5: stock %d, %d succeeded, err %v", got.First().Stock, ok, err)
			}
			name := "renamed"
			upd, err := db.UpdateProduct(ctx, p.ID, catalog.Patch{Name: &name}, time.Now(), rec(audit.ActionProductUpdate, p.ID))
			if err != nil || upd.Name != "renamed" || upd.Description != p.Description || upd.First().Prices[0] != p.Variants[0].Prices[0] {
				t.Fatalf("UpdateProduct = %+v %v", upd, err)
			}
		})

		t.Run("concurrent audit appends form one intact chain", func(t *testing.T) {
			var wg sync.WaitGroup
			for range 25 {
				wg.Go(func() {
					if err := db.AppendAudit(ctx, rec(audit.ActionLogin, "x")); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			n, err := audit.NewTrail(db, time.Now).Verify(ctx)
			if err != nil || n < 25 {
				t.Fatalf("verified %d, err %v", n, err)
			}
		})
	})
}

// TestVerifyWhileAppending verifies the chain again and again while records are
// being appended: each verification must see one consistent snapshot, or it
// would report records cut from the end that are merely new.
func TestVerifyWhileAppending(t *testing.T) {
	const appends = 500
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := mustOpen(t, d)
		ctx := context.Background()
		stop := make(chan struct{})
		appended := make(chan error, 1)
		go func() {
			for range appends {
				select {
				case <-stop:
					appended <- nil
					return
				default:
				}
				if err := db.AppendAudit(ctx, rec(audit.ActionLogin, "x")); err != nil {
					appended <- err
					return
				}
			}
			appended <- nil
		}()
		trail := audit.NewTrail(db, time.Now)
		var verifyErr error
		verifies := 0
	loop:
		for {
			select {
			case err := <-appended:
				if err != nil {
					t.Fatalf("append: %v", err)
				}
				break loop
			default:
			}
			verifies++
			if _, verifyErr = trail.Verify(ctx); verifyErr != nil {
				close(stop)
				<-appended
				break loop
			}
		}
		if verifyErr != nil {
			t.Fatalf("verification %d, while appending: %v", verifies, verifyErr)
		}
		if n, err := trail.Verify(ctx); err != nil || n != appends {
			t.Fatalf("final verify: %d records, %v", n, err)
		}
	})
}

// TestRegistrationAcrossIndexRotation registers one email on two instances
// on either side of a rotation of the blind-index keyset: one that has read
// the new keyset, and one that has not looked at the file yet (it looks at
// most every keys.CheckInterval). The second must still find the email taken:
// its index is under a key it did not know when it was asked.
func TestRegistrationAcrossIndexRotation(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		ctx := context.Background()
		stale := mustOpen(t, d) // an instance that read the index keyset before the rotation
		ring, err := keys.OpenKeyring(d.DataDir, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ring.Rotate("index"); err != nil {
			t.Fatal(err)
		}
		fresh := mustOpen(t, d) // an instance started after it
		u := identity.User{ID: id.New(id.User), Email: "rot@example.com", Name: "R", PasswordHash: "h",
			Roles: []access.Role{access.Customer}, CreatedAt: time.Now()}
		if err := fresh.CreateUser(ctx, u, rec(audit.ActionRegister, u.ID)); err != nil {
			t.Fatal(err)
		}
		dup := u
		dup.ID = id.New(id.User)
		if err := stale.CreateUser(ctx, dup, rec(audit.ActionRegister, dup.ID)); !errors.Is(err, identity.ErrEmailTaken) {
			t.Fatalf("the same email on an instance that had not seen the rotation: %v, want ErrEmailTaken", err)
		}
		if got, err := stale.UserByEmail(ctx, "rot@example.com"); err != nil || got.ID != u.ID {
			t.Fatalf("UserByEmail on the other instance = %+v, %v", got, err)
		}
	})
}

// TestRegistrationOnAnInstanceWithoutTheRotatedKeyset registers one email on
// two instances that do not share a data directory, after a rotation of the
// blind-index keyset reached only the first: the second cannot compute the
// index under the new key, so it must not judge the email free. It answers
// ErrKeysBehind until it has the rotated keyset, then ErrEmailTaken.
func TestRegistrationOnAnInstanceWithoutTheRotatedKeyset(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		if d.DatabaseURL == "" {
			t.Skip("SQLite lives in the data directory: instances with two data directories have two databases")
		}
		ctx := context.Background()
		mustOpen(t, d) // makes the keysets
		elsewhere := d
		elsewhere.DataDir = t.TempDir()
		copyKeysets(t, d.DataDir, elsewhere.DataDir)
		ring, err := keys.OpenKeyring(d.DataDir, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ring.Rotate("index"); err != nil {
			t.Fatal(err)
		}
		fresh := mustOpen(t, d)
		u := identity.User{ID: id.New(id.User), Email: "apart@example.com", Name: "A", PasswordHash: "h",
			Roles: []access.Role{access.Customer}, CreatedAt: time.Now()}
		if err := fresh.CreateUser(ctx, u, rec(audit.ActionRegister, u.ID)); err != nil {
			t.Fatal(err)
		}
		behind := mustOpen(t, elsewhere)
		dup := u
		dup.ID = id.New(id.User)
		if err := behind.CreateUser(ctx, dup, rec(audit.ActionRegister, dup.ID)); !errors.Is(err, identity.ErrKeysBehind) {
			t.Fatalf("the same email on an instance without the rotated keyset: %v, want ErrKeysBehind", err)
		}
		other := dup
		other.ID, other.Email = id.New(id.User), "someone-else@example.com"
		if err := behind.CreateUser(ctx, other, rec(audit.ActionRegister, other.ID)); !errors.Is(err, identity.ErrKeysBehind) {
			t.Fatalf("another email on that instance: %v, want ErrKeysBehind (it cannot tell)", err)
		}
		copyKeysets(t, d.DataDir, elsewhere.DataDir) // the operator distributes the rotated keyset
		caughtUp := mustOpen(t, elsewhere)
		if err := caughtUp.CreateUser(ctx, dup, rec(audit.ActionRegister, dup.ID)); !errors.Is(err, identity.ErrEmailTaken) {
			t.Fatalf("with the rotated keyset: %v, want ErrEmailTaken", err)
		}
		if err := caughtUp.CreateUser(ctx, other, rec(audit.ActionRegister, other.ID)); err != nil {
			t.Fatalf("a free email with the rotated keyset: %v", err)
		}
	})
}

// copyKeysets copies the KEK and keyset files of one data directory to another.
func copyKeysets(t *testing.T, from, to string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(from, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no keyset files in %s: %v", from, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, filepath.Base(f)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
