package webhook_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/webhook"
)

// operatorStore records what the command line's administration asks of the
// store; the store's own rules (which statuses may be retried) are tested on
// both engines in internal/store, and the commands end to end in internal/app.
type operatorStore struct {
	webhook.Store
	listed  []string // endpointID|status
	limit   int
	retried []audit.Record
}

func (o *operatorStore) WebhookDeliveries(_ context.Context, endpointID, status string, limit int) ([]webhook.Delivery, error) {
	o.listed, o.limit = append(o.listed, endpointID+"|"+status), limit
	return []webhook.Delivery{}, nil
}

func (o *operatorStore) RetryWebhookDelivery(_ context.Context, deliveryID string, at time.Time, rec audit.Record) (webhook.Delivery, error) {
	o.retried = append(o.retried, rec)
	return webhook.Delivery{ID: deliveryID, Status: webhook.StatusPending, NextAttemptAt: at}, nil
}

func TestOperator(t *testing.T) {
	now := time.Date(2026, 12, 2, 9, 0, 0, 123456789, time.UTC)
	newOperator := func() (*webhook.Operator, *operatorStore) {
		st := &operatorStore{}
		return webhook.NewOperator(st, func() time.Time { return now }), st
	}
	ctx := context.Background()

	t.Run("a retry is audited with the system as actor, due now", func(t *testing.T) {
		op, st := newOperator()
		did := id.New(id.WebhookDelivery)
		d, err := op.Retry(ctx, did)
		if err != nil {
			t.Fatal(err)
		}
		if !d.NextAttemptAt.Equal(now.Truncate(time.Microsecond)) {
			t.Fatalf("due at %v", d.NextAttemptAt)
		}
		if len(st.retried) != 1 {
			t.Fatalf("%d retries", len(st.retried))
		}
		r := st.retried[0]
		if r.Actor != audit.ActorSystem || r.Action != webhook.ActionRetry || r.Target != did || r.Detail != "from the command line" {
			t.Fatalf("audit record %+v", r)
		}
	})
	t.Run("a malformed delivery id is not found and never reaches the store", func(t *testing.T) {
		op, st := newOperator()
		for _, bad := range []string{"", "whd_", "wh_" + id.New(id.WebhookDelivery)[4:], id.New(id.WebhookDelivery) + "'--"} {
			if _, err := op.Retry(ctx, bad); !errors.Is(err, webhook.ErrDeliveryNotFound) {
				t.Fatalf("%q: %v", bad, err)
			}
		}
		if len(st.retried) != 0 {
			t.Fatal("a malformed id reached the store")
		}
	})
	t.Run("deliveries: every endpoint's, or one's, filtered by a known status, bounded", func(t *testing.T) {
		op, st := newOperator()
		hook := id.New(id.Webhook)
		for _, c := range []struct {
			endpoint, status string
			limit            int
			code             string
		}{
			{"", "", 50, ""},
			{"", webhook.StatusDead, 1, ""},
			{hook, webhook.StatusPending, webhook.MaxOperatorList, ""},
			{"", "bogus", 50, apperr.CodeValidation},
			{"", "", 0, apperr.CodeValidation},
			{"", "", webhook.MaxOperatorList + 1, apperr.CodeValidation},
			{"wh_nope", "", 50, apperr.CodeNotFound},
		} {
			_, err := op.Deliveries(ctx, c.endpoint, c.status, c.limit)
			if (c.code == "" && err != nil) || (c.code != "" && apperr.Code(err) != c.code) {
				t.Fatalf("%+v: %v", c, err)
			}
		}
		want := []string{"|", "|dead", hook + "|pending"}
		if len(st.listed) != len(want) {
			t.Fatalf("store asked for %v", st.listed)
		}
		for i := range want {
			if st.listed[i] != want[i] {
				t.Fatalf("store asked for %v, want %v", st.listed, want)
			}
		}
	})
}
