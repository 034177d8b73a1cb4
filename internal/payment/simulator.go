package payment

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/bulwark-shop/bulwark/internal/money"
)

// Simulator answers like a card processor's test mode (API.md):
// 4000000000000002 is declined, 4000000000009995 is declined for insufficient
// funds, a CVC of 000 is declined as incorrect, and any other valid card is
// approved. It keeps no state, so it answers the same after a restart; the
// shop's own records enforce amounts (refunds never above captures).
type Simulator struct{}

var _ Gateway = Simulator{}

const simPrefix = "sim_auth_"

func newSimID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails (Go 1.24+)
	return prefix + hex.EncodeToString(b[:])
}

// Authorize approves or declines by test card number and CVC.
func (Simulator) Authorize(ctx context.Context, req AuthorizeRequest) (string, error) {
	switch {
	case req.CVC == "000":
		return "", fmt.Errorf("%w: %w", ErrDeclined, ErrIncorrectCVC)
	case req.Card.Number == "4000000000000002":
		return "", ErrDeclined
	case req.Card.Number == "4000000000009995":
		return "", fmt.Errorf("%w: %w", ErrDeclined, ErrInsufficientFunds)
	case req.Amount.Amount <= 0:
		return "", fmt.Errorf("%w: amount must be positive", ErrDeclined)
	}
	id := newSimID(simPrefix)
	if req.Record != nil {
		if err := req.Record(ctx, id); err != nil {
			return "", err
		}
	}
	return id, nil
}

func checkID(id string) error {
	if !strings.HasPrefix(id, simPrefix) {
		return fmt.Errorf("unknown authorization %q", id)
	}
	return nil
}

// Capture accepts any authorization the simulator issued.
func (Simulator) Capture(_ context.Context, id string, _ money.Money) error { return checkID(id) }

// Refund accepts any authorization the simulator issued.
func (Simulator) Refund(_ context.Context, id string, _ money.Money, _ string) (string, error) {
	if err := checkID(id); err != nil {
		return "", err
	}
	return newSimID("sim_refund_"), nil
}

// Void accepts any authorization the simulator issued.
func (Simulator) Void(_ context.Context, id string) error { return checkID(id) }
