package identity_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/identity"
	"github.com/bulwark-shop/bulwark/internal/identity/password"
	"github.com/bulwark-shop/bulwark/internal/mail"
)

// fakeVerifyStore answers PendRegistration with owner and records what it was given.
type fakeVerifyStore struct {
	identity.VerifyStore
	mu    sync.Mutex
	owner string
	got   []identity.Verification
}

func (f *fakeVerifyStore) PendRegistration(_ context.Context, v identity.Verification, _ int, _ time.Duration) (identity.Pending, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, v)
	return identity.Pending{OwnerID: f.owner}, nil
}

func (f *fakeVerifyStore) TakeMailQuota(context.Context, string, time.Time, time.Duration, int) (bool, error) {
	return true, nil
}

// fakeUsers knows one account.
type fakeUsers struct {
	identity.Store
	u identity.User
}

func (f fakeUsers) UserByID(_ context.Context, id string) (identity.User, error) {
	if id == f.u.ID {
		return f.u, nil
	}
	return identity.User{}, identity.ErrNotFound
}

// outbox hands each mail to a channel.
type outbox chan mail.Message

func (o outbox) Send(_ context.Context, m mail.Message) error { o <- m; return nil }

func (o outbox) next(t *testing.T) mail.Message {
	t.Helper()
	select {
	case m := <-o:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no mail")
		return mail.Message{}
	}
}

func newEmails(store identity.VerifyStore, owner identity.User) (*identity.Emails, *password.Hasher, outbox) {
	hasher := password.NewHasher(password.DefaultParams(), 1, 4)
	svc := identity.NewService(fakeUsers{u: owner}, nil, nil, hasher, nil, identity.Timeouts{}, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	box := make(outbox, 4)
	return identity.NewEmails(identity.EmailsConfig{Store: store, Identity: svc, Mail: box, PublicURL: "https://shop.example/",
		Now: time.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}), hasher, box
}

var tokenInMail = regexp.MustCompile(`#token=(bwv_[A-Za-z0-9_-]+)`)

func TestRegister(t *testing.T) {
	owner := identity.User{ID: "usr_owner", Email: "owner@example.com"}

	t.Run("a free address pends, normalised, and gets the link whose hash is kept", func(t *testing.T) {
		store := &fakeVerifyStore{}
		e, hasher, box := newEmails(store, owner)
		before := hasher.Computed() // the hasher made its dummy hash already
		if err := e.Register(context.Background(), "  Ｎew@Example.com ", "a long passphrase nobody guesses", " Ｎew Person "); err != nil {
			t.Fatal(err)
		}
		m := box.next(t)
		v := store.got[0]
		if v.Email != "new@example.com" || v.Name != "New Person" || v.Purpose != identity.PurposeRegister || !strings.HasPrefix(v.PasswordHash, "$argon2id$") {
			t.Fatalf("pended %+v", v)
		}
		token := tokenInMail.FindStringSubmatch(m.Body)
		sum := sha256.Sum256([]byte(token[1]))
		if m.To != "new@example.com" || !strings.Contains(m.Body, "https://shop.example/verify-email#token=") || hex.EncodeToString(sum[:]) != v.TokenHash {
			t.Fatalf("mail %+v for %+v", m, v)
		}
		if n := hasher.Computed() - before; n != 1 {
			t.Fatalf("%d hashes", n)
		}
	})

	t.Run("a taken address costs the same hash and mails its owner a notice, not a link", func(t *testing.T) {
		e, hasher, box := newEmails(&fakeVerifyStore{owner: owner.ID}, owner)
		before := hasher.Computed()
		if err := e.Register(context.Background(), "OWNER@example.com", "a long passphrase nobody guesses", "X"); err != nil {
			t.Fatal(err)
		}
		m := box.next(t)
		if m.To != owner.Email || strings.Contains(m.Body, "bwv_") || !strings.Contains(m.Subject, "already have an account") {
			t.Fatalf("mail %+v", m)
		}
		if n := hasher.Computed() - before; n != 1 {
			t.Fatalf("%d hashes: not the same work as for a free address", n)
		}
	})

	t.Run("bad fields and weak passwords are refused before anything is stored", func(t *testing.T) {
		store := &fakeVerifyStore{}
		e, _, _ := newEmails(store, owner)
		for _, tc := range []struct{ email, pw, name, code string }{
			{"a@example.com", "short", "A", apperr.CodeWeakPassword},
			{"a\u200b@example.com", "a long passphrase nobody guesses", "A", apperr.CodeValidation},
			{"a@[10.0.0.1]", "a long passphrase nobody guesses", "A", apperr.CodeValidation},
			{"a@example.com", "a long passphrase nobody guesses", "A\u202eB", apperr.CodeValidation},
		} {
			if err := e.Register(context.Background(), tc.email, tc.pw, tc.name); apperr.Code(err) != tc.code {
				t.Errorf("Register(%q, %q) = %v, want %s", tc.email, tc.name, err, tc.code)
			}
		}
		if len(store.got) != 0 {
			t.Fatalf("stored %+v", store.got)
		}
	})
}
