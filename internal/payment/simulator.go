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
// funds, a CVC of 000 is declined as incorrect, 4000000000000101 is approved
// with its CVC check failed, and any other valid card is approved with its
// CVC check passed. Stripe's international test cards (4000000760000002 is
// Brazil's, 4000002760000016 Germany's...) have their country; every other
// card is from the United States, as 4242424242424242 is. It keeps no state, so it answers the same after a restart; the
// shop's own records enforce amounts (refunds never above captures).
type Simulator struct{}

var (
	_ Gateway   = Simulator{}
	_ Inspector = Simulator{}
)

// CVCFailCard is the simulator's card approved with its CVC check failed.
const CVCFailCard = "4000000000000101"

// simCountries are Stripe's international test cards by issuing country.
var simCountries = map[string]string{
	"4000000760000002": "BR", "4000001240000000": "CA", "4000004840008001": "MX",
	"4000000400000008": "AT", "4000000560000004": "BE", "4000002080000001": "DK",
	"4000002460000001": "FI", "4000002500000003": "FR", "4000002760000016": "DE",
	"4000003720000005": "IE", "4000003800000008": "IT", "4000004420000006": "LU",
	"4000005280000002": "NL", "4000005780000007": "NO",
	"4000006200000007": "PT", "4000007240000007": "ES", "4000007520000008": "SE",
	"4000007560000009": "CH", "4000008260000000": "GB", "4000000360000006": "AU",
	"4000003440000004": "HK", "4000003920000003": "JP", "4000005540000008": "NZ",
	"4000007020000003": "SG",
}

// Inspect returns the card's country: its test card's, or the United
// States.
func (Simulator) Inspect(_ context.Context, req AuthorizeRequest) (CardInfo, error) {
	if c, ok := simCountries[req.Card.Number]; ok {
		return CardInfo{Country: c}, nil
	}
	return CardInfo{Country: "US"}, nil
}

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
	if req.Checked != nil {
		c := Checks{CVC: CheckPass}
		switch {
		case req.CVC == "":
			c.CVC = CheckUnchecked
		case req.Card.Number == CVCFailCard:
			c.CVC = CheckFail
		}
		req.Checked(c)
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
