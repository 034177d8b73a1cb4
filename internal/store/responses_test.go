package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/finding"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/response"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

func TestResponseBlocks(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := mustOpen(t, d)
		ctx := context.Background()
		t0 := time.Now().UTC().Truncate(time.Second)
		card := finding.Subject{Kind: finding.Card, ID: "fp_" + id.New("")}
		block := func(s finding.Subject, created time.Time, d time.Duration) response.Block {
			b := response.Block{ID: id.New(id.Block), Subject: s, Action: response.BlockCard, FindingID: id.New(id.Finding),
				CreatedAt: created, ExpiresAt: created.Add(d), Repeat: 1}
			if err := db.RecordBlock(ctx, b); err != nil {
				t.Fatal(err)
			}
			return b
		}

		t.Run("repeats are counted per subject within the window", func(t *testing.T) {
			block(card, t0.Add(-30*time.Hour), time.Hour) // more than a day ago
			block(card, t0.Add(-2*time.Hour), time.Hour)
			block(finding.Subject{Kind: finding.Card, ID: card.ID + "x"}, t0.Add(-time.Hour), time.Hour)
			n, err := db.BlockCount(ctx, card, t0.Add(-response.RepeatWindow))
			if err != nil || n != 1 {
				t.Fatalf("count %d, %v; want 1", n, err)
			}
		})
		t.Run("blocks in force exclude expired and lifted ones", func(t *testing.T) {
			live := block(card, t0, 24*time.Hour)
			lifted := block(card, t0, 48*time.Hour)
			rec := audit.New(ctx, t0, response.ActionLift, lifted.ID, audit.Success, "test")
			got, err := db.LiftResponseBlock(ctx, lifted.ID, "user usr_x", t0.Add(time.Minute), rec)
			if err != nil || got.LiftedAt == nil || got.LiftedBy != "user usr_x" {
				t.Fatalf("lift: %+v, %v", got, err)
			}
			bs, err := db.ActiveBlocks(ctx, t0.Add(2*time.Minute), 100)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, b := range bs {
				if b.Subject == card {
					ids = append(ids, b.ID)
				}
			}
			if len(ids) != 1 || ids[0] != live.ID {
				t.Fatalf("in force %v, want only %s", ids, live.ID)
			}
			if in, err := db.BlockInForce(ctx, card, t0.Add(2*time.Minute)); err != nil || !in {
				t.Fatalf("block in force: %v, %v", in, err)
			}
			if in, err := db.BlockInForce(ctx, card, t0.Add(25*time.Hour)); err != nil || in {
				t.Fatalf("block in force after it ended (the lifted one lasts longer): %v, %v", in, err)
			}
			if _, err := db.LiftResponseBlock(ctx, lifted.ID, "again", t0.Add(3*time.Minute), rec); !errors.Is(err, response.ErrNotInForce) {
				t.Fatalf("lifting a lifted block: %v", err)
			}
			if _, err := db.LiftResponseBlock(ctx, id.New(id.Block), "x", t0, rec); !errors.Is(err, response.ErrNoBlock) {
				t.Fatalf("lifting an unknown block: %v", err)
			}
			again, err := db.ResponseBlock(ctx, lifted.ID)
			if err != nil || again.LiftedBy != "user usr_x" || !again.LiftedAt.Equal(t0.Add(time.Minute)) {
				t.Fatalf("a refused second lift changed the block: %+v, %v", again, err)
			}
		})
		t.Run("the finding's response records what was done", func(t *testing.T) {
			f, _, err := db.ObserveFinding(ctx, observation(finding.CardTesting, finding.Card, card.ID, t0, 70))
			if err != nil {
				t.Fatal(err)
			}
			if err := db.SetFindingResponse(ctx, f.ID, "block-card 24h0m0s (repeat 1)"); err != nil {
				t.Fatal(err)
			}
			got, err := db.Finding(ctx, f.ID)
			if err != nil || got.Response != "block-card 24h0m0s (repeat 1)" {
				t.Fatalf("finding %+v, %v", got, err)
			}
		})
	})
}
