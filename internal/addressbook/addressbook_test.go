package addressbook_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/addressbook"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/order"
)

// memStore keeps entries by owner and records what the service asked of it;
// the store's own guarantees (sealing, the bound under concurrency) are
// tested on both engines in internal/store and end to end in internal/app.
type memStore struct {
	entries map[string][]addressbook.Entry
	recs    []audit.Record
	max     int
}

func (m *memStore) CreateAddress(_ context.Context, e addressbook.Entry, max int, rec audit.Record) error {
	m.max = max
	if len(m.entries[e.OwnerID]) >= max {
		return addressbook.ErrFull
	}
	m.entries[e.OwnerID] = append(m.entries[e.OwnerID], e)
	m.recs = append(m.recs, rec)
	return nil
}

func (m *memStore) Addresses(_ context.Context, ownerID string) ([]addressbook.Entry, error) {
	return m.entries[ownerID], nil
}

func (m *memStore) Address(_ context.Context, ownerID, addressID string) (addressbook.Entry, error) {
	for _, e := range m.entries[ownerID] {
		if e.ID == addressID {
			return e, nil
		}
	}
	return addressbook.Entry{}, addressbook.ErrNotFound
}

func (m *memStore) DeleteAddress(_ context.Context, ownerID, addressID string, rec audit.Record) error {
	for i, e := range m.entries[ownerID] {
		if e.ID == addressID {
			m.entries[ownerID] = append(m.entries[ownerID][:i], m.entries[ownerID][i+1:]...)
			m.recs = append(m.recs, rec)
			return nil
		}
	}
	return addressbook.ErrNotFound
}

var home = order.Address{Name: "Pat Payer", Line1: "1 Main St", City: "Berlin", PostalCode: "10115", Country: "DE"}

func as(userID string) context.Context {
	return access.WithPrincipal(context.Background(), &access.Principal{UserID: userID})
}

func newBook(t *testing.T) (*addressbook.Service, *memStore) {
	t.Helper()
	m := &memStore{entries: map[string][]addressbook.Entry{}}
	return addressbook.NewService(m, func() time.Time { return time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC) }), m
}

func code(err error) string {
	var e *apperr.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestCreate(t *testing.T) {
	t.Run("a valid address is saved for the caller, audited without its content", func(t *testing.T) {
		book, m := newBook(t)
		e, err := book.Create(as("usr_a"), home)
		if err != nil {
			t.Fatal(err)
		}
		if !id.Valid(id.Address, e.ID) || e.OwnerID != "usr_a" || e.Address != home {
			t.Fatalf("entry = %+v", e)
		}
		if m.max != addressbook.MaxPerCustomer {
			t.Fatalf("the store was given the bound %d", m.max)
		}
		if len(m.recs) != 1 || m.recs[0].Action != addressbook.ActionCreate || m.recs[0].Target != e.ID {
			t.Fatalf("audit = %+v", m.recs)
		}
		if strings.Contains(m.recs[0].Detail, home.Name) || strings.Contains(m.recs[0].Detail, home.Line1) {
			t.Fatalf("the audit record holds the address: %q", m.recs[0].Detail)
		}
	})
	t.Run("an invalid address is refused field by field and nothing is saved", func(t *testing.T) {
		book, m := newBook(t)
		bad := home
		bad.Country, bad.Name, bad.Phone = "Germany", "", "call me"
		_, err := book.Create(as("usr_a"), bad)
		var e *apperr.Error
		if !errors.As(err, &e) || e.Code != apperr.CodeValidation {
			t.Fatalf("err = %v", err)
		}
		fields := map[string]bool{}
		for _, f := range e.Fields {
			fields[f.Field] = true
		}
		for _, f := range []string{"address.country", "address.name", "address.phone"} {
			if !fields[f] {
				t.Errorf("no problem reported for %s (%+v)", f, e.Fields)
			}
		}
		if len(m.entries["usr_a"]) != 0 || len(m.recs) != 0 {
			t.Fatal("an invalid address was saved")
		}
	})
	t.Run("an anonymous caller is refused", func(t *testing.T) {
		book, _ := newBook(t)
		if _, err := book.Create(context.Background(), home); code(err) != apperr.CodeUnauthenticated {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("past the bound the book is full", func(t *testing.T) {
		book, _ := newBook(t)
		for i := range addressbook.MaxPerCustomer {
			if _, err := book.Create(as("usr_a"), home); err != nil {
				t.Fatalf("address %d: %v", i, err)
			}
		}
		if _, err := book.Create(as("usr_a"), home); code(err) != addressbook.CodeFull {
			t.Fatalf("address %d: err = %v", addressbook.MaxPerCustomer+1, err)
		}
		if _, err := book.Create(as("usr_b"), home); err != nil {
			t.Fatalf("another customer's book is not full: %v", err)
		}
	})
}

func TestOwnership(t *testing.T) {
	book, m := newBook(t)
	e, err := book.Create(as("usr_a"), home)
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func(ctx context.Context, addressID string) error{
		"get":     func(ctx context.Context, x string) error { _, err := book.Get(ctx, x); return err },
		"resolve": func(ctx context.Context, x string) error { _, err := book.Resolve(ctx, x); return err },
		"delete":  func(ctx context.Context, x string) error { return book.Delete(ctx, x) },
	} {
		t.Run(name+": another customer's address is not found", func(t *testing.T) {
			if err := f(as("usr_b"), e.ID); !errors.Is(err, addressbook.ErrNotFound) {
				t.Fatalf("err = %v", err)
			}
		})
		t.Run(name+": a malformed id is not found and never reaches the store", func(t *testing.T) {
			for _, x := range []string{"", "adr_", "pm_" + e.ID[4:], e.ID + "\n", "adr_' OR 1=1 --"} {
				if err := f(as("usr_a"), x); !errors.Is(err, addressbook.ErrNotFound) {
					t.Fatalf("%q: err = %v", x, err)
				}
			}
		})
	}
	if len(m.entries["usr_a"]) != 1 {
		t.Fatal("another customer deleted the address")
	}
	got, err := book.Resolve(as("usr_a"), e.ID)
	if err != nil || got != home {
		t.Fatalf("the owner resolves %+v, %v", got, err)
	}
	if err := book.Delete(as("usr_a"), e.ID); err != nil {
		t.Fatal(err)
	}
	if list, err := book.List(as("usr_a")); err != nil || len(list) != 0 {
		t.Fatalf("after delete: %+v, %v", list, err)
	}
	if last := m.recs[len(m.recs)-1]; last.Action != addressbook.ActionDelete || last.Target != e.ID {
		t.Fatalf("delete audit = %+v", last)
	}
}
