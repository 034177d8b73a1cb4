// Package rekey re-encrypts stored ciphertexts under their data keyset's
// current primary key after a rotation (`bulwark keys rotate`). It owns the
// background job and the generic batch step; each purpose (cards, MFA
// secrets, ...) plugs in with one Reencrypter.
//
// Guarantees: the job runs in batches with its cursor persisted in the
// database, so a process killed at any point resumes from the last committed
// batch, not from the start. Every row is rewritten with a compare-and-set on
// its old ciphertext, so several instances may run the job at once, and a row
// changed meanwhile by the application (a new TOTP secret) is left alone.
// Rewriting is idempotent: a ciphertext already under the primary (read from
// Tink's key-id prefix) is skipped. The job never disables or destroys keys.
package rekey

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/bulwark-shop/bulwark/internal/keys"
)

// Reencrypter re-encrypts the ciphertexts of one purpose under its keyset's
// primary key, one batch at a time, in the order of a stable string key.
type Reencrypter interface {
	// Keyset names the data keyset the ciphertexts are under.
	Keyset() string
	// Primary is the id of the keyset's current primary key.
	Primary() uint32
	// Reencrypt handles up to limit rows after the key after ("" is the start)
	// and returns the key of the last one it looked at; done is true when
	// there are no rows after it.
	Reencrypt(ctx context.Context, after string, limit int) (next string, done bool, err error)
}

// Progress is a keyset's re-encryption pass, as kept in the database.
type Progress struct {
	Keyset  string
	Primary uint32 // the pass re-encrypts under this key
	Cursor  string // every row up to and including this key is done
	Done    bool
	Batches int64 // batches committed in this pass, by every instance
	Started time.Time
	Updated time.Time
}

// ErrNoProgress is returned by Store.Progress for a keyset never re-encrypted.
var ErrNoProgress = errors.New("no re-encryption pass yet")

// Store keeps the passes.
type Store interface {
	// StartReencryption returns the pass of keyset, starting a new one (from
	// the beginning) when the stored one is for another primary or there is none.
	StartReencryption(ctx context.Context, keyset string, primary uint32, at time.Time) (Progress, error)
	// AdvanceReencryption moves the cursor from from to to (and marks the pass
	// done) only if the pass is still for primary, unfinished, at from; ok is
	// false when another instance moved it first.
	AdvanceReencryption(ctx context.Context, keyset string, primary uint32, from, to string, done bool, at time.Time) (ok bool, err error)
	// ReencryptionProgress returns the stored pass, or ErrNoProgress.
	ReencryptionProgress(ctx context.Context, keyset string) (Progress, error)
}

// Settings tune the job.
type Settings struct {
	Batch int           // rows per batch
	Pause time.Duration // between batches, to spare the database
	// Every is how often the job looks for a new primary.
	Every time.Duration
	// Grace is how long after a pass starts that it begins rewriting, so that
	// every instance has picked up the new primary (keys.CheckInterval) before
	// the cursor passes rows they might still write under the old one.
	Grace time.Duration
	// Failed is told of a pass that failed (the database out, say); nil logs
	// it as an error. The app hands outages to its dependency tracker, which
	// logs one once, not once per keyset and pass.
	Failed func(purpose string, err error)
}

// Job re-encrypts, in the background, what each Reencrypter holds.
type Job struct {
	store Store
	tasks []Reencrypter
	set   Settings
	now   func() time.Time
	log   *slog.Logger
}

// NewJob returns the job over tasks, keeping passes in store.
func NewJob(store Store, tasks []Reencrypter, set Settings, now func() time.Time, log *slog.Logger) *Job {
	return &Job{store: store, tasks: tasks, set: set, now: now, log: log}
}

// Run looks for work every Settings.Every until ctx ends. Errors are logged
// and retried at the next look.
func (j *Job) Run(ctx context.Context) {
	tick := time.NewTicker(j.set.Every)
	defer tick.Stop()
	for {
		for _, r := range j.tasks {
			if err := j.pass(ctx, r); err != nil && ctx.Err() == nil {
				if j.set.Failed != nil {
					j.set.Failed(r.Keyset(), err)
				} else {
					j.log.Error("re-encryption", "purpose", r.Keyset(), "err", err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// pass continues (or starts) r's pass for its current primary until it is
// done, ctx ends, or the primary changes again.
func (j *Job) pass(ctx context.Context, r Reencrypter) error {
	primary := r.Primary()
	// A read first: the usual answer, "done", takes no write transaction.
	p, err := j.store.ReencryptionProgress(ctx, r.Keyset())
	if err != nil && !errors.Is(err, ErrNoProgress) {
		return err
	}
	if err != nil || p.Primary != primary {
		if p, err = j.store.StartReencryption(ctx, r.Keyset(), primary, j.now()); err != nil {
			return err
		}
	}
	if p.Done || j.now().Sub(p.Started) < j.set.Grace {
		return nil
	}
	if p.Cursor == "" {
		j.log.Info("re-encryption started", "purpose", r.Keyset(), "primary", primary)
	} else {
		j.log.Info("re-encryption resumed", "purpose", r.Keyset(), "primary", primary, "after", p.Cursor, "batches_before", p.Batches)
	}
	batches := 0
	for {
		if r.Primary() != primary {
			return nil // rotated again: the next look starts the new pass
		}
		next, done, err := r.Reencrypt(ctx, p.Cursor, j.set.Batch)
		if err != nil {
			return fmt.Errorf("batch after %q: %w", p.Cursor, err)
		}
		ok, err := j.store.AdvanceReencryption(ctx, r.Keyset(), primary, p.Cursor, next, done, j.now())
		if err != nil {
			return err
		}
		batches++
		if !ok { // another instance got there first: go on from where it is
			if p, err = j.store.ReencryptionProgress(ctx, r.Keyset()); err != nil {
				return err
			}
			if p.Done || p.Primary != primary {
				return nil
			}
			continue
		}
		p.Cursor = next
		if done {
			j.log.Info("re-encryption done", "purpose", r.Keyset(), "primary", primary, "batches", batches)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(j.set.Pause):
		}
	}
}

// Sweep re-encrypts, now and from the start, everything under keyset with
// primary as the primary key, and fails if any Reencrypter of it has another
// primary (a rotation came between) or if none handles the keyset: data that
// nobody can sweep might still be under an old key. Retiring old keys relies
// on it.
func (j *Job) Sweep(ctx context.Context, keyset string, primary uint32) error {
	found := false
	for _, r := range j.tasks {
		if r.Keyset() != keyset {
			continue
		}
		found = true
		after, done := "", false
		for !done {
			if r.Primary() != primary {
				return fmt.Errorf("sweep %s: the primary key is %d, not %d: try again", keyset, r.Primary(), primary)
			}
			var err error
			if after, done, err = r.Reencrypt(ctx, after, j.set.Batch); err != nil {
				return fmt.Errorf("sweep %s: %w", keyset, err)
			}
		}
		if r.Primary() != primary {
			return fmt.Errorf("sweep %s: the primary key changed during the sweep: try again", keyset)
		}
	}
	if !found {
		return fmt.Errorf("sweep %s: no re-encrypter handles this keyset", keyset)
	}
	return nil
}

// AEAD is a data keyset that says which key is its primary (a *keys.Live).
type AEAD interface {
	tink.AEAD
	Primary() uint32
}

var _ AEAD = (*keys.Live)(nil)

// Ciphertext is one stored ciphertext, by the row's key, with the associated
// data it was encrypted with.
type Ciphertext struct {
	Key            string
	AssociatedData []byte
	Ciphertext     []byte
}

// Swap replaces a row's ciphertext Old by New, only if it still holds Old.
type Swap struct {
	Key      string
	Old, New []byte
}

// Rows is the Reencrypter of ciphertexts kept one per row: it lists a batch,
// re-encrypts those not under the primary and swaps them in.
type Rows struct {
	Name string
	AEAD AEAD
	// List returns up to limit rows with a key greater than after, ordered by key.
	List func(ctx context.Context, after string, limit int) ([]Ciphertext, error)
	// Swap applies swaps, each as a compare-and-set, in one transaction, and
	// returns how many rows changed.
	Swap func(ctx context.Context, swaps []Swap) (int, error)
}

var _ Reencrypter = Rows{}

// Keyset implements Reencrypter.
func (r Rows) Keyset() string { return r.Name }

// Primary implements Reencrypter.
func (r Rows) Primary() uint32 { return r.AEAD.Primary() }

// Reencrypt implements Reencrypter. A row that does not decrypt stops the
// batch with an error (naming its key, never its content): the pass cannot
// finish, and so retired keys cannot be claimed unused, until someone looks.
func (r Rows) Reencrypt(ctx context.Context, after string, limit int) (string, bool, error) {
	rows, err := r.List(ctx, after, limit)
	if err != nil {
		return after, false, err
	}
	primary := r.AEAD.Primary()
	var swaps []Swap
	for _, row := range rows {
		if id, ok := keys.KeyID(row.Ciphertext); ok && id == primary {
			continue
		}
		pt, err := r.AEAD.Decrypt(row.Ciphertext, row.AssociatedData)
		if err != nil {
			return after, false, fmt.Errorf("decrypt %s %s: %w", r.Name, row.Key, err)
		}
		ct, err := r.AEAD.Encrypt(pt, row.AssociatedData)
		if err != nil {
			return after, false, fmt.Errorf("encrypt %s %s: %w", r.Name, row.Key, err)
		}
		swaps = append(swaps, Swap{Key: row.Key, Old: row.Ciphertext, New: ct})
	}
	if len(swaps) > 0 {
		if _, err := r.Swap(ctx, swaps); err != nil {
			return after, false, err
		}
	}
	if len(rows) < limit {
		if len(rows) > 0 {
			after = rows[len(rows)-1].Key
		}
		return after, true, nil
	}
	return rows[len(rows)-1].Key, false, nil
}
