package keys_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/keys"
)

func TestBindDatabase(t *testing.T) {
	dir := t.TempDir()
	t.Run("a data directory serving no database accepts one and records it", func(t *testing.T) {
		if err := keys.CheckDatabase(dir, keys.RoleShop, "db_a"); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, keys.BindingsFile)); !os.IsNotExist(err) {
			t.Fatal("CheckDatabase wrote the bindings")
		}
		if err := keys.BindDatabase(dir, keys.RoleShop, "db_a"); err != nil {
			t.Fatal(err)
		}
		if err := keys.BindDatabase(dir, keys.RoleShop, "db_a"); err != nil {
			t.Fatalf("the same database again: %v", err)
		}
		st, err := os.Stat(filepath.Join(dir, keys.BindingsFile))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("bindings file: %v %v", err, st)
		}
	})
	t.Run("another database of the same role is refused", func(t *testing.T) {
		for _, other := range []string{"db_b", ""} {
			if err := keys.CheckDatabase(dir, keys.RoleShop, other); !errors.Is(err, keys.ErrOtherDatabase) {
				t.Fatalf("check %q: %v", other, err)
			}
		}
		if err := keys.BindDatabase(dir, keys.RoleShop, "db_b"); !errors.Is(err, keys.ErrOtherDatabase) {
			t.Fatalf("bind db_b: %v", err)
		}
	})
	t.Run("each role has its own database", func(t *testing.T) {
		if err := keys.BindDatabase(dir, keys.RoleVault, "db_v"); err != nil {
			t.Fatal(err)
		}
		if err := keys.CheckDatabase(dir, keys.RoleShop, "db_a"); err != nil {
			t.Fatalf("the shop's binding after the vault's: %v", err)
		}
	})
}
