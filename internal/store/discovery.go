package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/bulwark-shop/bulwark/internal/discover"
)

// ErrNoDiscoveryRun is a shop never scanned.
var ErrNoDiscoveryRun = errors.New("no discovery run yet")

// discoveryKeep is how many discovery runs are kept.
const discoveryKeep = 30

// SaveDiscoveryRun keeps run id of r, made by instance, and deletes all
// but the newest runs.
func (db *DB) SaveDiscoveryRun(ctx context.Context, id, instance string, r discover.Report) error {
	text, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode discovery report: %w", err)
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO discovery_runs (id, run_at, instance, report) VALUES ($1, $2, $3, $4)`,
			id, micros(r.RunAt), instance, string(text)); err != nil {
			return fmt.Errorf("insert discovery run: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM discovery_runs WHERE id NOT IN
			(SELECT id FROM discovery_runs ORDER BY run_at DESC, id DESC LIMIT $1)`, discoveryKeep); err != nil {
			return fmt.Errorf("delete old discovery runs: %w", err)
		}
		return nil
	})
}

// LatestDiscoveryRun returns the newest run: ErrNoDiscoveryRun.
func (db *DB) LatestDiscoveryRun(ctx context.Context) (discover.Report, error) {
	var r discover.Report
	err := db.latestReport(ctx, `SELECT report FROM discovery_runs ORDER BY run_at DESC, id DESC LIMIT 1`, "discovery run", ErrNoDiscoveryRun, &r)
	return r, err
}

// identifier is a table or column name discovery may put in a statement:
// the names come from the database's own catalog, and are checked anyway.
var identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// textTable is a table with text columns, and whether rows are named by
// an id column.
type textTable struct {
	name    string
	columns []string
	id      bool
}

// textTables lists the tables holding text (and JSON) columns.
func (db *DB) textTables(ctx context.Context) ([]textTable, error) {
	var q string
	if db.engine == Postgres {
		q = `SELECT table_name, column_name, data_type FROM information_schema.columns
			WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`
	} else {
		q = `SELECT m.name, p.name, p.type FROM sqlite_master m, pragma_table_info(m.name) p
			WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid`
	}
	rows, err := db.sql.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("list text columns: %w", err)
	}
	defer rows.Close()
	var out []textTable
	for rows.Next() {
		var table, column, typ string
		if err := rows.Scan(&table, &column, &typ); err != nil {
			return nil, fmt.Errorf("list text columns: %w", err)
		}
		if !identifier.MatchString(table) || !identifier.MatchString(column) {
			continue
		}
		if n := len(out); n == 0 || out[n-1].name != table {
			out = append(out, textTable{name: table})
		}
		t := &out[len(out)-1]
		if column == "id" {
			t.id = true
		}
		typ = strings.ToLower(typ)
		if strings.Contains(typ, "text") || strings.Contains(typ, "char") || strings.Contains(typ, "json") || strings.Contains(typ, "clob") {
			t.columns = append(t.columns, column)
		}
	}
	return out, rows.Err()
}

// discoveryPage is how many rows one statement of ScanText reads: short
// read transactions, so a scan never holds back SQLite's checkpoints or
// PostgreSQL's vacuum for long.
const discoveryPage = 500

// ScanText calls fn with every non-empty text and JSON cell of the shop
// database, table by table ("table.column", the row's id or number);
// fn's error stops the scan.
func (db *DB) ScanText(ctx context.Context, fn func(location, row string, value []byte) error) error {
	tables, err := db.textTables(ctx)
	if err != nil {
		return err
	}
	for _, t := range tables {
		if len(t.columns) == 0 {
			continue
		}
		if err := db.scanTable(ctx, t, fn); err != nil {
			return err
		}
	}
	return nil
}

func (db *DB) scanTable(ctx context.Context, t textTable, fn func(location, row string, value []byte) error) error {
	cols := make([]string, len(t.columns))
	for i, c := range t.columns {
		cols[i] = `CAST("` + c + `" AS TEXT)`
	}
	key := `"id"`
	if !t.id {
		key = "NULL" // no id: one statement in the table's own order, rows numbered
	}
	var after any // the last id read: pages follow the id's index
	rowNumber := 0
	for {
		q := `SELECT ` + key + `, ` + strings.Join(cols, ", ") + ` FROM "` + t.name + `"`
		var args []any
		switch {
		case t.id && after == nil:
			q += ` ORDER BY "id" LIMIT $1`
			args = []any{discoveryPage}
		case t.id:
			q += ` WHERE "id" > $1 ORDER BY "id" LIMIT $2`
			args = []any{after, discoveryPage}
		}
		rows, err := db.sql.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("scan table %s: %w", t.name, err)
		}
		n := 0
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols)+1)
		var id any
		ptrs[0] = &id
		for i := range vals {
			ptrs[i+1] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return fmt.Errorf("scan table %s: %w", t.name, err)
			}
			n++
			rowNumber++
			row := fmt.Sprintf("#%d", rowNumber)
			if t.id {
				if b, ok := id.([]byte); ok {
					id = string(b)
				}
				row, after = fmt.Sprint(id), id
			}
			for i, v := range vals {
				if v.Valid && v.String != "" {
					if err := fn(t.name+"."+t.columns[i], row, []byte(v.String)); err != nil {
						rows.Close()
						return err
					}
				}
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("scan table %s: %w", t.name, err)
		}
		if !t.id || n < discoveryPage {
			return nil
		}
	}
}
