package rekey_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/keys"
	"github.com/bulwark-shop/bulwark/internal/rekey"
)

// table is an in-memory table of ciphertexts keyed by row.
type table struct {
	mu   sync.Mutex
	rows map[string][]byte
}

func (t *table) list(_ context.Context, after string, limit int) ([]rekey.Ciphertext, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ks []string
	for k := range t.rows {
		if k > after {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	if len(ks) > limit {
		ks = ks[:limit]
	}
	var out []rekey.Ciphertext
	for _, k := range ks {
		out = append(out, rekey.Ciphertext{Key: k, AssociatedData: []byte(k), Ciphertext: t.rows[k]})
	}
	return out, nil
}

func (t *table) swap(_ context.Context, swaps []rekey.Swap) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, s := range swaps {
		if string(t.rows[s.Key]) == string(s.Old) {
			t.rows[s.Key] = s.New
			n++
		}
	}
	return n, nil
}

func TestRowsAndSweep(t *testing.T) {
	dir := t.TempDir()
	ring, _ := keys.OpenKeyring(dir, "")
	a, err := ring.AEAD("pii")
	if err != nil {
		t.Fatal(err)
	}
	tab := &table{rows: map[string][]byte{}}
	for i := range 25 {
		k := fmt.Sprintf("row%02d", i)
		tab.rows[k], _ = a.Encrypt([]byte("secret "+k), []byte(k))
	}
	r, err := ring.Rotate("pii")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Refresh(); err != nil || a.Primary() != r.NewPrimary {
		t.Fatalf("refresh: %v, primary %d", err, a.Primary())
	}
	rows := rekey.Rows{Name: "pii", AEAD: a, List: tab.list, Swap: tab.swap}

	t.Run("a batch re-encrypts and says where it stopped", func(t *testing.T) {
		next, done, err := rows.Reencrypt(context.Background(), "", 10)
		if err != nil || done || next != "row09" {
			t.Fatalf("first batch = %q %v %v", next, done, err)
		}
		for k, ct := range tab.rows {
			id, _ := keys.KeyID(ct)
			if (k <= "row09") != (id == r.NewPrimary) {
				t.Fatalf("%s under key %d after the first batch", k, id)
			}
		}
	})

	t.Run("a row changed meanwhile is left alone", func(t *testing.T) {
		newer, _ := a.Encrypt([]byte("changed"), []byte("row10"))
		stale := tab.rows["row10"]
		tab.rows["row10"] = newer
		if n, _ := tab.swap(context.Background(), []rekey.Swap{{Key: "row10", Old: stale, New: []byte("x")}}); n != 0 {
			t.Fatal("a swap overwrote a row that had changed")
		}
	})

	t.Run("a sweep finishes everything and is idempotent", func(t *testing.T) {
		job := rekey.NewJob(nil, []rekey.Reencrypter{rows}, rekey.Settings{Batch: 7}, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
		for range 2 {
			if err := job.Sweep(context.Background(), "pii", r.NewPrimary); err != nil {
				t.Fatal(err)
			}
		}
		for k, ct := range tab.rows {
			if id, _ := keys.KeyID(ct); id != r.NewPrimary {
				t.Fatalf("%s under key %d after the sweep", k, id)
			}
			pt, err := a.Decrypt(ct, []byte(k))
			if err != nil || !strings.HasPrefix(string(pt), "secret") && string(pt) != "changed" {
				t.Fatalf("%s after the sweep: %q %v", k, pt, err)
			}
		}
		if err := job.Sweep(context.Background(), "pii", r.OldPrimary); err == nil {
			t.Fatal("a sweep for a primary that is not the keyset's ran")
		}
		if err := job.Sweep(context.Background(), "other", r.NewPrimary); err == nil {
			t.Fatal("a sweep of a keyset nobody handles succeeded: its old keys could be destroyed under unswept data")
		}
	})
}
