package webhook_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/egress"
	"github.com/bulwark-shop/bulwark/internal/webhook"
)

// fakeStore hands out one claim at a time and keeps the results.
type fakeStore struct {
	webhook.Store
	mu      sync.Mutex
	claims  []webhook.Claim
	results []webhook.AttemptResult
	records int // calls of FinishWebhookAttempts
	// withClaim counts the records made in a claim's transaction.
	withClaim int
}

func (f *fakeStore) counts() (records, withClaim, results int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.records, f.withClaim, len(f.results)
}

func (f *fakeStore) ClaimWebhookDeliveries(context.Context, string, time.Time, time.Time, int) ([]webhook.Claim, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.claims
	f.claims = nil
	return out, nil
}

// FinishAndClaimWebhookDeliveries records finished, when any, as one
// record (one transaction), then claims.
func (f *fakeStore) FinishAndClaimWebhookDeliveries(ctx context.Context, finished []webhook.AttemptResult, owner string, now, until time.Time, limit int) ([]webhook.Claim, error) {
	if len(finished) > 0 {
		f.mu.Lock()
		f.withClaim++
		f.mu.Unlock()
		if err := f.FinishWebhookAttempts(ctx, finished); err != nil {
			return nil, err
		}
	}
	return f.ClaimWebhookDeliveries(ctx, owner, now, until, limit)
}

func (f *fakeStore) FinishWebhookAttempts(_ context.Context, rs []webhook.AttemptResult) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.results = append(f.results, rs...)
	f.records++
	return nil
}

// plainAEAD "seals" by copying: the worker's use of the AEAD is what is tested.
type plainAEAD struct{}

func (plainAEAD) Encrypt(p, _ []byte) ([]byte, error) { return append([]byte{}, p...), nil }
func (plainAEAD) Decrypt(c, _ []byte) ([]byte, error) { return append([]byte{}, c...), nil }

func TestWorkerRetriesThenDeadLetters(t *testing.T) {
	var got []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("webhook-id"))
		mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	secret := webhook.NewSecret()
	now := time.Unix(1_800_000_000, 0).UTC()
	claim := func(attempts int, url string) webhook.Claim {
		return webhook.Claim{Delivery: webhook.Delivery{ID: "whd_1", EventID: "msg_1", Attempts: attempts}, URL: url,
			Event:   webhook.Event{ID: "msg_1", Type: webhook.OrderPaid, Payload: []byte(`{"type":"order.paid"}`)},
			Secrets: []webhook.SealedSecret{{ID: "whs_1", Ciphertext: []byte(secret)}}}
	}
	guard := egress.New(egress.Options{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	store := &fakeStore{}
	w := webhook.NewWorker(webhook.WorkerConfig{Store: store, AEAD: plainAEAD{}, Client: guard.Client(), Owner: "ins_t",
		Schedule: []time.Duration{5 * time.Second, time.Minute}, Now: func() time.Time { return now }, Jitter: func() float64 { return 0.5 }})

	t.Run("a failure is retried after the schedule's wait", func(t *testing.T) {
		store.claims = []webhook.Claim{claim(0, srv.URL)}
		if _, err := w.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		r := store.results[len(store.results)-1]
		if r.Status != webhook.StatusPending || !r.NextAttemptAt.Equal(now.Add(5*time.Second)) || r.Attempt.N != 1 || r.Attempt.StatusCode != 503 {
			t.Fatalf("result %+v", r)
		}
	})
	t.Run("the last failure dead-letters", func(t *testing.T) {
		store.claims = []webhook.Claim{claim(2, srv.URL)}
		if _, err := w.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		if r := store.results[len(store.results)-1]; r.Status != webhook.StatusDead || r.Attempt.N != 3 {
			t.Fatalf("result %+v", r)
		}
		if len(got) != 2 || got[0] != "msg_1" || got[1] != "msg_1" {
			t.Fatalf("webhook-ids %v", got)
		}
	})
	t.Run("an address the guard refuses is a failed attempt, never a call", func(t *testing.T) {
		closed := webhook.NewWorker(webhook.WorkerConfig{Store: store, AEAD: plainAEAD{}, Client: egress.New(egress.Options{}).Client(),
			Owner: "ins_t", Now: func() time.Time { return now }})
		store.claims = []webhook.Claim{claim(0, srv.URL)}
		if _, err := closed.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		r := store.results[len(store.results)-1]
		if r.Status != webhook.StatusPending || r.Attempt.StatusCode != 0 || !strings.Contains(r.Attempt.Error, "not allowed") || len(got) != 2 {
			t.Fatalf("result %+v, calls %v", r, got)
		}
	})
}

// countingAEAD is plainAEAD that counts the secrets it opens.
type countingAEAD struct {
	plainAEAD
	mu     sync.Mutex
	opened int
}

func (c *countingAEAD) Decrypt(ct, ad []byte) ([]byte, error) {
	c.mu.Lock()
	c.opened++
	c.mu.Unlock()
	return c.plainAEAD.Decrypt(ct, ad)
}

// TestWorkerBatch: a batch of deliveries to one endpoint opens its secret
// once, signs every delivery with it, and records every attempt in one
// call to the store.
func TestWorkerBatch(t *testing.T) {
	secret := webhook.NewSecret()
	now := time.Now().UTC()
	var mu sync.Mutex
	ids := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		msg := r.Header.Get("webhook-id")
		ts, _ := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
		want, err := webhook.Sign([]string{secret}, msg, time.Unix(ts, 0), body)
		if err != nil || r.Header.Get("webhook-signature") != want {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		ids[msg] = true
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	const n = 12
	store := &fakeStore{}
	for i := range n {
		msg := "msg_" + strconv.Itoa(i)
		store.claims = append(store.claims, webhook.Claim{Delivery: webhook.Delivery{ID: "whd_" + strconv.Itoa(i), EventID: msg}, URL: srv.URL,
			Event:   webhook.Event{ID: msg, Type: webhook.OrderPaid, Payload: []byte(`{"type":"order.paid","n":` + strconv.Itoa(i) + `}`)},
			Secrets: []webhook.SealedSecret{{ID: "whs_1", Ciphertext: []byte(secret)}}})
	}
	aead := &countingAEAD{}
	guard := egress.New(egress.Options{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	w := webhook.NewWorker(webhook.WorkerConfig{Store: store, AEAD: aead, Client: guard.Client(), Owner: "ins_t",
		Now: func() time.Time { return now }})
	if got, err := w.RunOnce(context.Background()); err != nil || got != n {
		t.Fatalf("RunOnce = %d, %v", got, err)
	}
	if aead.opened != 1 {
		t.Errorf("the secret was opened %d times for one batch", aead.opened)
	}
	if store.records != 1 || len(store.results) != n {
		t.Fatalf("%d records of %d results, want 1 of %d", store.records, len(store.results), n)
	}
	for _, r := range store.results {
		if r.Status != webhook.StatusSucceeded || r.Attempt.StatusCode != 204 || r.Owner != "ins_t" {
			t.Fatalf("result %+v", r)
		}
	}
	if len(ids) != n {
		t.Fatalf("the receiver verified %d deliveries, want %d", len(ids), n)
	}
}

// TestWorkerRecordsAFullBatchWithTheNextClaim: a full batch's attempts are
// recorded in the transaction of the next claim, which the loop makes at
// once (one commit for both); a short batch's at once; and what is owed
// when the worker stops is recorded then.
func TestWorkerRecordsAFullBatchWithTheNextClaim(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer srv.Close()
	now := time.Now().UTC()
	claims := func(n int) []webhook.Claim {
		var out []webhook.Claim
		for i := range n {
			msg := "msg_" + strconv.Itoa(i)
			out = append(out, webhook.Claim{Delivery: webhook.Delivery{ID: "whd_" + strconv.Itoa(i), EventID: msg}, URL: srv.URL,
				Event:   webhook.Event{ID: msg, Type: webhook.OrderPaid, Payload: []byte(`{}`)},
				Secrets: []webhook.SealedSecret{{ID: "whs_1", Ciphertext: []byte(webhook.NewSecret())}}})
		}
		return out
	}
	guard := egress.New(egress.Options{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	newWorker := func(store *fakeStore) *webhook.Worker {
		return webhook.NewWorker(webhook.WorkerConfig{Store: store, AEAD: plainAEAD{}, Client: guard.Client(), Owner: "ins_t",
			Batch: 4, Lease: time.Minute, MaxDelay: time.Second, Now: func() time.Time { return now }})
	}

	store := &fakeStore{claims: claims(4)}
	w := newWorker(store)
	if n, err := w.RunOnce(context.Background()); err != nil || n != 4 {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	if records, _, _ := store.counts(); records != 0 {
		t.Fatalf("a full batch was recorded on its own (%d records): it waits for the next claim", records)
	}
	if n, err := w.RunOnce(context.Background()); err != nil || n != 0 {
		t.Fatalf("the next RunOnce = %d, %v", n, err)
	}
	if records, withClaim, results := store.counts(); records != 1 || withClaim != 1 || results != 4 {
		t.Fatalf("%d records (%d with a claim) of %d results, want the 4 in the next claim's", records, withClaim, results)
	}

	short := &fakeStore{claims: claims(3)}
	if n, err := newWorker(short).RunOnce(context.Background()); err != nil || n != 3 {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	if records, withClaim, results := short.counts(); records != 1 || withClaim != 0 || results != 3 {
		t.Fatalf("a short batch: %d records (%d with a claim) of %d results, want it recorded at once", records, withClaim, results)
	}

	// Stopping while the loop holds back for a busy process (its checkouts)
	// after a full batch: the batch is recorded as the worker stops.
	stopping := &fakeStore{claims: claims(4)}
	held := make(chan struct{})
	var once sync.Once
	sw := webhook.NewWorker(webhook.WorkerConfig{Store: stopping, AEAD: plainAEAD{}, Client: guard.Client(), Owner: "ins_t",
		Batch: 4, Lease: time.Minute, MaxDelay: time.Second, Now: func() time.Time { return now },
		Busy: func() bool {
			stopping.mu.Lock()
			claimed := len(stopping.claims) == 0
			stopping.mu.Unlock()
			if claimed { // asked after the batch: hold the loop back
				once.Do(func() { close(held) })
			}
			return claimed
		}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sw.Run(ctx); close(done) }()
	<-held
	if records, _, _ := stopping.counts(); records != 0 {
		t.Fatalf("%d records before the stop", records)
	}
	cancel()
	<-done
	if _, _, results := stopping.counts(); results != 4 {
		t.Fatalf("%d of 4 attempts recorded after the worker stopped", results)
	}
}
