package apperr_test

import (
	"regexp"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/apperr"
)

func TestKinds(t *testing.T) {
	t.Run("a code in the table has its kind, from New and from a literal alike", func(t *testing.T) {
		if k := apperr.New(apperr.CodeConflict, "x").Kind(); k != apperr.KindConflict {
			t.Errorf("conflict has kind %s", k)
		}
		if k := (&apperr.Error{Code: "out_of_stock"}).Kind(); k != apperr.KindConflict {
			t.Errorf("out_of_stock has kind %s", k)
		}
		if k := apperr.NotFound("order").Kind(); k != apperr.KindNotFound {
			t.Errorf("not_found has kind %s", k)
		}
		if k := apperr.Unavailable().Kind(); k != apperr.KindUnavailable {
			t.Errorf("unavailable has kind %s", k)
		}
	})
	t.Run("a code missing from the table has no kind", func(t *testing.T) {
		if k := apperr.New("gift_card_expired", "x").Kind(); k != apperr.KindUnknown {
			t.Errorf("an unlisted code has kind %s", k)
		}
	})
	t.Run("every code is snake_case and has a kind", func(t *testing.T) {
		snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
		for code, k := range apperr.Codes() {
			if !snake.MatchString(code) || k == apperr.KindUnknown {
				t.Errorf("code %q, kind %s", code, k)
			}
		}
	})
	t.Run("kinds have distinct names", func(t *testing.T) {
		seen := map[string]bool{apperr.KindUnknown.String(): true}
		for _, k := range apperr.Kinds() {
			if seen[k.String()] {
				t.Errorf("kind name %q twice", k)
			}
			seen[k.String()] = true
		}
	})
}
