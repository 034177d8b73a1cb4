package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/pricing"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

func newDiscount(t *testing.T, db interface {
	CreateDiscount(context.Context, pricing.Discount, audit.Record) error
}, code string, maxUses, perCustomer int64) pricing.Discount {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	d := pricing.Discount{ID: id.New(id.Discount), Code: code, Kind: pricing.DiscountPercent, BasisPoints: 1000, Active: true,
		MaxUses: maxUses, MaxUsesPerCustomer: perCustomer, CreatedAt: now, UpdatedAt: now}
	if err := db.CreateDiscount(context.Background(), d, rec(pricing.ActionDiscountCreate, d.ID)); err != nil {
		t.Fatal(err)
	}
	return d
}

// race runs n redemptions at once and returns how many succeeded; every
// failure must be discount_exhausted.
func race(t *testing.T, n int, redeem func(i int) error) int {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	won := 0
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			err := redeem(i)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case apperr.Code(err) != apperr.CodeDiscountExhausted:
				t.Errorf("redeem: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	return won
}

// TestDiscountUsesAreCountedAtomically: checkouts racing for the last use
// of a code, or for a customer's last use, make exactly one order.
func TestDiscountUsesAreCountedAtomically(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := mustOpen(t, d)
		ctx := context.Background()
		const racers = 20

		t.Run("twenty customers race for the last of five uses", func(t *testing.T) {
			disc := newDiscount(t, db, "LASTUSE", 5, 0)
			for i := range 4 {
				if err := db.RedeemDiscount(ctx, disc.ID, id.New(id.User), time.Now()); err != nil {
					t.Fatalf("use %d: %v", i+1, err)
				}
			}
			if won := race(t, racers, func(int) error { return db.RedeemDiscount(ctx, disc.ID, id.New(id.User), time.Now()) }); won != 1 {
				t.Fatalf("%d checkouts got the last use", won)
			}
			got, err := db.Discount(ctx, disc.ID)
			if err != nil || got.Uses != 5 {
				t.Fatalf("uses = %d, %v", got.Uses, err)
			}
		})

		t.Run("one customer races for their one use; the refused ones count nothing", func(t *testing.T) {
			disc := newDiscount(t, db, "ONCEEACH", 0, 1)
			customer := id.New(id.User)
			if won := race(t, racers, func(int) error { return db.RedeemDiscount(ctx, disc.ID, customer, time.Now()) }); won != 1 {
				t.Fatalf("%d checkouts used the customer's one use", won)
			}
			got, err := db.Discount(ctx, disc.ID)
			if err != nil || got.Uses != 1 {
				t.Fatalf("total uses = %d, %v: a refused per-customer use must not count", got.Uses, err)
			}
			if n, err := db.DiscountUses(ctx, disc.ID, customer); err != nil || n != 1 {
				t.Fatalf("customer uses = %d, %v", n, err)
			}
			if err := db.RedeemDiscount(ctx, disc.ID, id.New(id.User), time.Now()); err != nil {
				t.Fatalf("another customer: %v", err)
			}
		})

		t.Run("a customer's limit of three holds under a race", func(t *testing.T) {
			disc := newDiscount(t, db, "THREETIMES", 0, 3)
			customer := id.New(id.User)
			if won := race(t, racers, func(int) error { return db.RedeemDiscount(ctx, disc.ID, customer, time.Now()) }); won != 3 {
				t.Fatalf("%d uses, want 3", won)
			}
		})

		t.Run("no limit counts every use", func(t *testing.T) {
			disc := newDiscount(t, db, "UNLMTD", 0, 0)
			if won := race(t, racers, func(int) error { return db.RedeemDiscount(ctx, disc.ID, id.New(id.User), time.Now()) }); won != racers {
				t.Fatalf("%d uses, want %d", won, racers)
			}
		})

		t.Run("a deleted discount is not found", func(t *testing.T) {
			disc := newDiscount(t, db, "GONE", 0, 0)
			if err := db.DeleteDiscount(ctx, disc.ID, rec(pricing.ActionDiscountDelete, disc.ID)); err != nil {
				t.Fatal(err)
			}
			if err := db.RedeemDiscount(ctx, disc.ID, id.New(id.User), time.Now()); err != pricing.ErrDiscountUnknown {
				t.Fatalf("redeem a deleted discount: %v", err)
			}
		})

		t.Run("an inactive or ended discount is not redeemed, though priced a moment before", func(t *testing.T) {
			disc := newDiscount(t, db, "ENDSNOW", 0, 0)
			disc.EndsAt = time.Now().Add(time.Second).UTC().Truncate(time.Microsecond)
			disc.UpdatedAt = time.Now().UTC()
			prev, err := db.Discount(ctx, disc.ID)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.ReplaceDiscount(ctx, disc, prev.UpdatedAt, rec(pricing.ActionDiscountUpdate, disc.ID)); err != nil {
				t.Fatal(err)
			}
			if err := db.RedeemDiscount(ctx, disc.ID, id.New(id.User), disc.EndsAt); err != pricing.ErrDiscountUnknown {
				t.Fatalf("redeem at ends_at: %v", err)
			}
			disc.Active, disc.EndsAt = false, time.Time{}
			prev, _ = db.Discount(ctx, disc.ID)
			disc.UpdatedAt = time.Now().UTC().Add(time.Millisecond)
			if err := db.ReplaceDiscount(ctx, disc, prev.UpdatedAt, rec(pricing.ActionDiscountUpdate, disc.ID)); err != nil {
				t.Fatal(err)
			}
			if err := db.RedeemDiscount(ctx, disc.ID, id.New(id.User), time.Now()); err != pricing.ErrDiscountUnknown {
				t.Fatalf("redeem an inactive discount: %v", err)
			}
			if got, _ := db.Discount(ctx, disc.ID); got.Uses != 0 {
				t.Fatalf("uses %d after refused redemptions", got.Uses)
			}
		})
	})
}

// TestPricingStore: what the store keeps comes back as it was; overlaps and
// taken codes are refused by the database; stale replaces are refused.
func TestPricingStore(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := mustOpen(t, d)
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Microsecond)

		t.Run("tax rates: overlap refused, stale replace refused", func(t *testing.T) {
			r := pricing.TaxRate{ID: id.New(id.TaxRate), Place: pricing.Place{Country: "DE"}, RatePPM: 190000, Name: "VAT", CreatedAt: now, UpdatedAt: now}
			if err := db.CreateTaxRate(ctx, r, rec(pricing.ActionTaxRateCreate, r.ID)); err != nil {
				t.Fatal(err)
			}
			again := r
			again.ID = id.New(id.TaxRate)
			if err := db.CreateTaxRate(ctx, again, rec(pricing.ActionTaxRateCreate, again.ID)); err != pricing.ErrTaxRateOverlap {
				t.Fatalf("overlapping rate: %v", err)
			}
			regional := again
			regional.Place.Region = "BY"
			if err := db.CreateTaxRate(ctx, regional, rec(pricing.ActionTaxRateCreate, regional.ID)); err != nil {
				t.Fatalf("a regional rate beside the country's: %v", err)
			}
			moved := regional
			moved.Place.Region, moved.UpdatedAt = "", now.Add(time.Second)
			if err := db.ReplaceTaxRate(ctx, moved, regional.UpdatedAt, rec(pricing.ActionTaxRateUpdate, moved.ID)); err != pricing.ErrTaxRateOverlap {
				t.Fatalf("moving onto another rate's place: %v", err)
			}
			changed := r
			changed.RatePPM, changed.UpdatedAt = 70000, now.Add(time.Second)
			if err := db.ReplaceTaxRate(ctx, changed, r.UpdatedAt, rec(pricing.ActionTaxRateUpdate, r.ID)); err != nil {
				t.Fatal(err)
			}
			if err := db.ReplaceTaxRate(ctx, changed, r.UpdatedAt, rec(pricing.ActionTaxRateUpdate, r.ID)); err != pricing.ErrChangedMeanwhile {
				t.Fatalf("a replace from a stale read: %v", err)
			}
			rates, err := db.TaxRatesFor(ctx, "DE")
			if err != nil || len(rates) != 2 || rates[0].RatePPM != 70000 || rates[1].Place.Region != "BY" {
				t.Fatalf("rates = %+v, %v", rates, err)
			}
		})

		t.Run("shipping options keep zones and prices", func(t *testing.T) {
			o := pricing.ShippingOption{ID: id.New(id.ShippingOption), Name: "By weight", Kind: pricing.ShipWeightBands, Active: true,
				Zones:     []pricing.Place{{Country: "US", Region: "CA"}, {Country: "CA"}},
				Bands:     []pricing.Band{{MinGrams: 0, MaxGrams: 1000, Prices: []money.Money{{Amount: 500, Currency: "USD"}}}},
				CreatedAt: now, UpdatedAt: now}
			if err := db.CreateShippingOption(ctx, o, rec(pricing.ActionShippingOptionCreate, o.ID)); err != nil {
				t.Fatal(err)
			}
			got, err := db.ShippingOption(ctx, o.ID)
			if err != nil || len(got.Zones) != 2 || got.Zones[0] != o.Zones[0] || len(got.Bands) != 1 || got.Bands[0].Prices[0].Amount != 500 || !got.Active {
				t.Fatalf("option = %+v, %v", got, err)
			}
			to, err := db.ShippingOptionsTo(ctx, "US", 10)
			if err != nil || len(to) != 1 || to[0].ID != o.ID {
				t.Fatalf("to US = %+v, %v", to, err)
			}
			if to, _ := db.ShippingOptionsTo(ctx, "DE", 10); len(to) != 0 {
				t.Fatalf("to DE = %+v", to)
			}
		})

		t.Run("discount codes are unique and keep their rules", func(t *testing.T) {
			start, end := now.Add(-time.Hour), now.Add(time.Hour)
			disc := pricing.Discount{ID: id.New(id.Discount), Code: "FIXEDTEN", Kind: pricing.DiscountFixed, Amounts: []money.Money{{Amount: 1000, Currency: "EUR"}},
				StartsAt: start, EndsAt: end, ProductIDs: []string{id.New(id.Product)}, Active: true, CreatedAt: now, UpdatedAt: now}
			if err := db.CreateDiscount(ctx, disc, rec(pricing.ActionDiscountCreate, disc.ID)); err != nil {
				t.Fatal(err)
			}
			dup := disc
			dup.ID = id.New(id.Discount)
			if err := db.CreateDiscount(ctx, dup, rec(pricing.ActionDiscountCreate, dup.ID)); err != pricing.ErrDiscountCodeTaken {
				t.Fatalf("a taken code: %v", err)
			}
			got, uses, err := db.DiscountForCustomer(ctx, "FIXEDTEN", id.New(id.User))
			if err != nil || uses != 0 || !got.StartsAt.Equal(start) || !got.EndsAt.Equal(end) || got.Amounts[0].Amount != 1000 || got.ProductIDs[0] != disc.ProductIDs[0] {
				t.Fatalf("discount = %+v, %v", got, err)
			}
		})
	})
}
