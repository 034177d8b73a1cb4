package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"time"
)

// The erasure ledger lives on each target beside the backups, never in
// them: one object per erased account, under LedgerPrefix, named by its
// pseudonymous id. A restore replays every entry, so a person erased after
// a backup was taken stays erased when it is restored.
const LedgerPrefix = "erasures/"

// ledgerID is an erased account's id as an object name.
var ledgerID = regexp.MustCompile(`^[a-z]{2,5}_[a-z2-7]{26}$`)

type ledgerEntry struct {
	UserID   string    `json:"user_id"`
	ErasedAt time.Time `json:"erased_at"`
}

// PutErasure writes userID's ledger entry to t; one already there is
// success (the entry never changes).
func PutErasure(ctx context.Context, t Target, userID string, at time.Time) error {
	if !ledgerID.MatchString(userID) {
		return fmt.Errorf("erasure ledger: %q is not an account id", userID)
	}
	key := LedgerPrefix + userID
	if rc, err := t.Get(ctx, key); err == nil {
		rc.Close()
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	body, err := json.Marshal(ledgerEntry{UserID: userID, ErasedAt: at.UTC()})
	if err != nil {
		return err
	}
	return t.Put(ctx, key, bytes.NewReader(body))
}

// Erasures lists the erased accounts' ids in t's ledger. The names are the
// ledger: an entry's content is not needed to replay it.
func Erasures(ctx context.Context, t Target) ([]string, error) {
	keys, err := t.List(ctx, LedgerPrefix)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, k := range keys {
		dir, name := path.Split(k)
		if dir != LedgerPrefix || !ledgerID.MatchString(name) {
			continue
		}
		out = append(out, name)
	}
	return out, nil
}
