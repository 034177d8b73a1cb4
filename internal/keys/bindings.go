package keys

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// BindingsFile records, in the data directory beside the keysets, the
// databases those keysets serve: one database per role ("shop", "vault"), by
// the random id each database keeps in itself.
//
// Why: a data directory used first with one database and then with another
// (SQLite, then PostgreSQL) would hold keys that both databases need, while
// `keys retire` can sweep only the database it is pointed at, and would
// disable keys the other still needs. A keyset serves one database per role;
// any other is refused before a key is made or used.
const BindingsFile = "databases.json"

// ErrOtherDatabase refuses a database the data directory's keysets do not serve.
var ErrOtherDatabase = errors.New("the keysets of this data directory serve another database")

// Roles of the databases a data directory's keysets serve.
const (
	RoleShop  = "shop"
	RoleVault = "vault"
)

func readBindings(dataDir string) (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, BindingsFile))
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", BindingsFile, err)
	}
	m := map[string]string{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parse %s: %w", BindingsFile, err)
	}
	return m, nil
}

// CheckDatabase refuses (ErrOtherDatabase) a database of role whose id is
// not the one dataDir's keysets serve. It writes nothing: a data directory
// that serves no database of role yet accepts any.
func CheckDatabase(dataDir, role, databaseID string) error {
	m, err := readBindings(dataDir)
	if err != nil {
		return err
	}
	if bound, ok := m[role]; ok && bound != databaseID {
		return fmt.Errorf("%w: data-dir %s holds the keys of %s database %s, and this %s database is %s; "+
			"give each database a data directory (and keysets) of its own",
			ErrOtherDatabase, dataDir, role, bound, role, orNone(databaseID))
	}
	return nil
}

// BindDatabase is CheckDatabase, and records databaseID as the database of
// role that dataDir's keysets serve when none is recorded yet.
func BindDatabase(dataDir, role, databaseID string) error {
	if databaseID == "" {
		return errors.New("bind keysets: the database has no identity")
	}
	if err := CheckDatabase(dataDir, role, databaseID); err != nil {
		return err
	}
	m, err := readBindings(dataDir)
	if err != nil {
		return err
	}
	if m[role] == databaseID {
		return nil
	}
	m[role] = databaseID
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", BindingsFile, err)
	}
	return writeFileAtomic(filepath.Join(dataDir, BindingsFile), append(b, '\n'))
}

func orNone(id string) string {
	if id == "" {
		return "one never served"
	}
	return id
}
