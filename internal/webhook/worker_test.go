package webhook_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
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
}

func (f *fakeStore) ClaimWebhookDeliveries(context.Context, string, time.Time, time.Time, int) ([]webhook.Claim, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.claims
	f.claims = nil
	return out, nil
}

func (f *fakeStore) FinishWebhookAttempts(_ context.Context, rs []webhook.AttemptResult) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.results = append(f.results, rs...)
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
