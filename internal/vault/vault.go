// Package vault is Bulwark's card vault. Card numbers go only here: the vault
// keeps each card encrypted with AES-256-GCM through Google's Tink, in its own
// database, under a keyset the shop database never holds, and hands out a
// token. The shop keeps the token, brand, last four digits and expiry. Reading
// a card back (Detokenize) is one narrow function for the payment code, and
// every use is audited with its true outcome. CVCs never reach the vault: they live only in flight.
package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/id"
)

// ActionDetokenize is the audit action of every read of a card.
const ActionDetokenize = "vault.detokenize"

// ErrNotFound is returned for a token the vault does not hold.
var ErrNotFound = apperr.NotFound("card")

// Store keeps ciphertexts by token, in the vault's own database.
type Store interface {
	PutCard(ctx context.Context, token string, ciphertext []byte, at time.Time) error
	Card(ctx context.Context, token string) ([]byte, error) // ErrNotFound
	DeleteCard(ctx context.Context, token string) error
}

// Auditor records reads of cards. In the embedded vault it is the shop's audit
// trail (*audit.Trail); in a vault process of its own, the vault's log.
type Auditor interface {
	Record(ctx context.Context, action, target, outcome, detail string) error
}

var _ Auditor = (*audit.Trail)(nil)

// Token is what the shop keeps of a card.
type Token struct {
	ID       string
	Brand    Brand
	Last4    string
	ExpMonth int
	ExpYear  int
}

// Vault tokenizes and detokenizes cards.
type Vault struct {
	store Store
	aead  tink.AEAD
	trail Auditor
	now   func() time.Time
}

// New returns a vault over store, encrypting with aead and auditing reads to trail.
func New(store Store, aead tink.AEAD, trail Auditor, now func() time.Time) *Vault {
	return &Vault{store: store, aead: aead, trail: trail, now: now}
}

// Ping checks that the vault's store answers, when the store can say.
func (v *Vault) Ping(ctx context.Context) error {
	if p, ok := v.store.(interface{ Ping(context.Context) error }); ok {
		return p.Ping(ctx)
	}
	return nil
}

// sealed is the plaintext that is encrypted.
type sealed struct {
	Number   string `json:"n"`
	ExpMonth int    `json:"m"`
	ExpYear  int    `json:"y"`
	Holder   string `json:"h"`
}

// Tokenize validates c, stores it encrypted and returns its token.
func (v *Vault) Tokenize(ctx context.Context, c Card) (Token, error) {
	c, brand, err := Validate(c, v.now())
	if err != nil {
		return Token{}, err
	}
	tok := id.New(id.CardToken)
	plain, err := json.Marshal(sealed(c))
	if err != nil {
		return Token{}, fmt.Errorf("seal card: %w", err)
	}
	// The token is the associated data: a ciphertext moved to another row no
	// longer decrypts.
	ct, err := v.aead.Encrypt(plain, []byte(tok))
	if err != nil {
		return Token{}, fmt.Errorf("encrypt card: %w", err)
	}
	if err := v.store.PutCard(ctx, tok, ct, v.now().UTC()); err != nil {
		return Token{}, fmt.Errorf("store card: %w", err)
	}
	return Token{ID: tok, Brand: brand, Last4: Last4(c.Number), ExpMonth: c.ExpMonth, ExpYear: c.ExpYear}, nil
}

// Detokenize returns the card behind token for purpose (for example
// "authorize ord_..."), and records the read in the audit trail with its true
// outcome: success only once the card was read and decrypted, failure (with
// the reason) otherwise. A card whose read cannot be recorded is not handed
// out: the caller gets the audit error instead.
func (v *Vault) Detokenize(ctx context.Context, token, purpose string) (Card, error) {
	if !id.Valid(id.CardToken, token) {
		return Card{}, ErrNotFound
	}
	card, err := v.read(ctx, token)
	if err != nil {
		return Card{}, errors.Join(err, v.trail.Record(ctx, ActionDetokenize, token, audit.Failure, FailedRead(purpose, err)))
	}
	if err := v.trail.Record(ctx, ActionDetokenize, token, audit.Success, purpose); err != nil {
		return Card{}, fmt.Errorf("card %s read but not audited, so not used: %w", token, err)
	}
	return card, nil
}

// FailedRead is the audit detail of a card read that failed: its purpose and
// a reason that names no card data and no address (the error's detail goes
// to the log).
func FailedRead(purpose string, err error) string {
	reason := "unavailable"
	if errors.Is(err, ErrNotFound) {
		reason = "not found"
	}
	return purpose + "; failed: " + reason
}

func (v *Vault) read(ctx context.Context, token string) (Card, error) {
	ct, err := v.store.Card(ctx, token)
	if err != nil {
		return Card{}, fmt.Errorf("detokenize: %w", err)
	}
	plain, err := v.aead.Decrypt(ct, []byte(token))
	if err != nil {
		return Card{}, fmt.Errorf("decrypt card %s: %w", token, err)
	}
	var s sealed
	if err := json.Unmarshal(plain, &s); err != nil {
		return Card{}, fmt.Errorf("unseal card %s: %w", token, err)
	}
	return Card(s), nil
}

// Delete destroys the card behind token.
func (v *Vault) Delete(ctx context.Context, token string) error {
	if err := v.store.DeleteCard(ctx, token); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("delete card: %w", err)
	}
	return nil
}
