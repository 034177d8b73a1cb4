package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/pricing"
)

// moneyRecord is how the store writes an amount inside a JSON column: its
// own type, so a change of the API's Money cannot change stored data.
type moneyRecord struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

func toMoneyRecords(ms []money.Money) []moneyRecord {
	out := make([]moneyRecord, len(ms))
	for i, m := range ms {
		out[i] = moneyRecord(m)
	}
	return out
}

func fromMoneyRecords(rs []moneyRecord) []money.Money {
	if len(rs) == 0 {
		return nil
	}
	out := make([]money.Money, len(rs))
	for i, r := range rs {
		out[i] = money.Money(r)
	}
	return out
}

type bandRecord struct {
	MinGrams int64         `json:"min_grams"`
	MaxGrams int64         `json:"max_grams"`
	Prices   []moneyRecord `json:"prices"`
}

// shippingPrices is the prices column of shipping_options.
type shippingPrices struct {
	Prices    []moneyRecord `json:"prices,omitempty"`
	Bands     []bandRecord  `json:"bands,omitempty"`
	FreeAbove []moneyRecord `json:"free_above,omitempty"`
}

func encodeShippingPrices(o pricing.ShippingOption) (string, error) {
	rec := shippingPrices{Prices: toMoneyRecords(o.Prices), FreeAbove: toMoneyRecords(o.FreeAbove)}
	for _, b := range o.Bands {
		rec.Bands = append(rec.Bands, bandRecord{MinGrams: b.MinGrams, MaxGrams: b.MaxGrams, Prices: toMoneyRecords(b.Prices)})
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return "", fmt.Errorf("encode shipping prices: %w", err)
	}
	return string(b), nil
}

const shippingColumns = "id, name, kind, prices, active, created_at, updated_at"

// shippingReadColumns reads an option with its zones, joined by commas in
// order as country:region (checkPlace holds both to letters and digits), so
// any number of options is read in one statement.
const shippingReadColumns = shippingColumns + ", (SELECT string_agg(z.country || ':' || z.region, ',' ORDER BY z.position) " +
	"FROM shipping_option_zones z WHERE z.option_id = shipping_options.id)"

func scanShippingOption(row rowScanner) (pricing.ShippingOption, error) {
	var o pricing.ShippingOption
	var prices string
	var created, updated int64
	var zones sql.NullString
	err := row.Scan(&o.ID, &o.Name, &o.Kind, &prices, &o.Active, &created, &updated, &zones)
	if errors.Is(err, sql.ErrNoRows) {
		return pricing.ShippingOption{}, pricing.ErrShippingOptionNotFound
	}
	if err != nil {
		return pricing.ShippingOption{}, fmt.Errorf("scan shipping option: %w", err)
	}
	var rec shippingPrices
	if err := json.Unmarshal([]byte(prices), &rec); err != nil {
		return pricing.ShippingOption{}, fmt.Errorf("decode prices of shipping option %s: %w", o.ID, err)
	}
	o.Prices, o.FreeAbove = fromMoneyRecords(rec.Prices), fromMoneyRecords(rec.FreeAbove)
	for _, b := range rec.Bands {
		o.Bands = append(o.Bands, pricing.Band{MinGrams: b.MinGrams, MaxGrams: b.MaxGrams, Prices: fromMoneyRecords(b.Prices)})
	}
	o.CreatedAt, o.UpdatedAt = fromMicros(created), fromMicros(updated)
	if zones.String == "" {
		return o, nil
	}
	for _, z := range strings.Split(zones.String, ",") {
		country, region, ok := strings.Cut(z, ":")
		if !ok {
			return pricing.ShippingOption{}, fmt.Errorf("zones of shipping option %s: %q is not country:region", o.ID, z)
		}
		o.Zones = append(o.Zones, pricing.Place{Country: country, Region: region})
	}
	return o, nil
}

func writeZones(ctx context.Context, tx *sql.Tx, o pricing.ShippingOption) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM shipping_option_zones WHERE option_id = $1", o.ID); err != nil {
		return fmt.Errorf("clear zones: %w", err)
	}
	for i, z := range o.Zones {
		if _, err := tx.ExecContext(ctx, "INSERT INTO shipping_option_zones (option_id, position, country, region) VALUES ($1, $2, $3, $4)",
			o.ID, i, z.Country, z.Region); err != nil {
			return fmt.Errorf("insert zone: %w", err)
		}
	}
	return nil
}

// CreateShippingOption inserts o with its zones.
func (db *DB) CreateShippingOption(ctx context.Context, o pricing.ShippingOption, rec audit.Record) error {
	prices, err := encodeShippingPrices(o)
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO shipping_options ("+shippingColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7)",
			o.ID, o.Name, string(o.Kind), prices, o.Active, micros(o.CreatedAt), micros(o.UpdatedAt)); err != nil {
			return fmt.Errorf("insert shipping option: %w", err)
		}
		if err := writeZones(ctx, tx, o); err != nil {
			return err
		}
		return appendAudit(ctx, tx, rec)
	})
}

// ReplaceShippingOption writes o over the stored option while its updated_at is prev.
func (db *DB) ReplaceShippingOption(ctx context.Context, o pricing.ShippingOption, prev time.Time, rec audit.Record) error {
	prices, err := encodeShippingPrices(o)
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE shipping_options SET name = $1, kind = $2, prices = $3, active = $4, updated_at = $5
			WHERE id = $6 AND updated_at = $7`, o.Name, string(o.Kind), prices, o.Active, micros(o.UpdatedAt), o.ID, micros(prev))
		if err != nil {
			return fmt.Errorf("update shipping option: %w", err)
		}
		if err := replaced(ctx, tx, res, "shipping_options", o.ID, pricing.ErrShippingOptionNotFound); err != nil {
			return err
		}
		if err := writeZones(ctx, tx, o); err != nil {
			return err
		}
		return appendAudit(ctx, tx, rec)
	})
}

// DeleteShippingOption deletes an option and its zones.
func (db *DB) DeleteShippingOption(ctx context.Context, id string, rec audit.Record) error {
	return db.deleteRow(ctx, "shipping_options", id, pricing.ErrShippingOptionNotFound, rec)
}

// ShippingOption returns the option id with its zones.
func (db *DB) ShippingOption(ctx context.Context, id string) (pricing.ShippingOption, error) {
	return scanShippingOption(db.sql.QueryRowContext(ctx, "SELECT "+shippingReadColumns+" FROM shipping_options WHERE id = $1", id))
}

// ListShippingOptions returns up to limit options ordered by id, after after.
func (db *DB) ListShippingOptions(ctx context.Context, after string, limit int) ([]pricing.ShippingOption, error) {
	return queryAll(ctx, db.sql, scanShippingOption, "SELECT "+shippingReadColumns+" FROM shipping_options WHERE id > $1 ORDER BY id LIMIT $2", after, limit)
}

// ShippingOptionsTo returns up to limit active options whose zones name country.
func (db *DB) ShippingOptionsTo(ctx context.Context, country string, limit int) ([]pricing.ShippingOption, error) {
	return queryAll(ctx, db.sql, scanShippingOption, "SELECT "+shippingReadColumns+` FROM shipping_options
		WHERE active = TRUE AND id IN (SELECT option_id FROM shipping_option_zones WHERE country = $1)
		ORDER BY id LIMIT $2`, country, limit)
}
