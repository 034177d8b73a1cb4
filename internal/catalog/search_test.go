package catalog_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/catalog"
)

func TestSearchText(t *testing.T) {
	for _, c := range []struct {
		name, description string
		skus              []string
		want              string
	}{
		{"Linen Shirt", "", []string{"LS-RED-M"}, "linen shirt ls red m"},
		{"Café Crème", "", nil, "cafe creme"},
		{"Straße ÆØ", "", nil, "strasse aeo"},
		{"ＦＵＬＬ ﬁne", "", nil, "full fine"},
		{"v1.2.3 a@b.com ab-cd", "", nil, "v1 2 3 a b com ab cd"},
		{"Mug", `<p>A <strong>breath</strong>able mug &amp; <em>saucer</em></p><ul><li>one</li><li>two</li></ul>`, nil,
			"mug a breathable saucer one two"},
		{"Cap", `<p>see <a href="https://example.com/script" rel="nofollow">the shop</a></p><h2>strong</h2>`, nil, "cap see the shop strong"},
		{"Cap", `<script>hidden</script>shown`, nil, "cap shown"},
		{"shirt Shirt SHIRT", "shirt", []string{"SHIRT-1"}, "shirt 1"},
		{"Tee", "", []string{strings.Repeat("x", 100)}, "tee " + strings.Repeat("x", catalog.MaxTermLength)},
		{"日本 Ελληνικά Кофе", "", nil, "日本 ελληνικα кофе"},
		{"ΚΟΣ κος", "", nil, "κοσ"},
	} {
		if got := catalog.SearchText(c.name, c.description, c.skus); got != c.want {
			t.Errorf("SearchText(%q, %q, %q) = %q, want %q", c.name, c.description, c.skus, got, c.want)
		}
	}
}

func TestSearchTerms(t *testing.T) {
	for q, want := range map[string][]string{
		"":                        nil,
		"shi":                     {"shi"},
		"  Linen   SHIRT ":        {"linen", "shirt"},
		"shirt shirt":             {"shirt"},
		`"`:                       nil,
		`*`:                       nil,
		`NEAR(shirt mug)`:         {"near", "shirt", "mug"},
		`shi:* & mug | !cap`:      {"shi", "mug", "cap"},
		`"unbalanced`:             {"unbalanced"},
		`-shirt`:                  {"shirt"},
		`'; DROP TABLE products;`: {"drop", "table", "products"},
		"LS-RED":                  {"ls", "red"},
		"Crème":                   {"creme"},
	} {
		if got := catalog.SearchTerms(q); !slices.Equal(got, want) {
			t.Errorf("SearchTerms(%q) = %q, want %q", q, got, want)
		}
	}
}

// FuzzSearchTerms holds the two promises the store builds on: a term holds
// letters, digits and spacing marks only (so no quote, operator or
// wildcard of FTS5 or tsquery can reach the database), and a product is
// found by its own name (each term of a name is the start of a word the
// name is indexed by).
func FuzzSearchTerms(f *testing.F) {
	for _, s := range []string{"", "shirt", `"`, `NEAR(a b)`, `a:* & b | !c`, "Straße", "ＦＵＬＬ", "ǅ", "\u0301a", "İstanbul", strings.Repeat("x", 70)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		terms := catalog.SearchTerms(s)
		indexed := strings.Split(catalog.SearchText(s, "", nil), " ")
		for _, term := range terms {
			if term == "" || !utf8.ValidString(term) {
				t.Fatalf("SearchTerms(%q) holds %q", s, term)
			}
			for _, r := range term {
				if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.Is(unicode.Mc, r) {
					t.Fatalf("SearchTerms(%q) holds %q with %q", s, term, r)
				}
			}
			if utf8.RuneCountInString(term) > catalog.MaxTermLength {
				continue // refused as a query
			}
			if !slices.ContainsFunc(indexed, func(w string) bool { return strings.HasPrefix(w, term) }) {
				t.Fatalf("a product named %q is not found by its term %q (indexed %q)", s, term, indexed)
			}
		}
		if strings.Contains(catalog.SearchText(s, s, []string{s}), "  ") {
			t.Fatalf("SearchText(%q) has an empty word", s)
		}
	})
}

// listStore answers every list with nothing and counts the lists asked for.
type listStore struct {
	catalog.Store
	lists int
}

func (m *listStore) ListProducts(context.Context, catalog.ListQuery) ([]catalog.Product, error) {
	m.lists++
	return nil, nil
}

// TestSearchLimits: a query too long, with too many words or a word too long
// is refused as invalid input before it reaches storage; hostile text within
// the limits is a search like any other.
func TestSearchLimits(t *testing.T) {
	for q, refused := range map[string]bool{
		strings.Repeat("abcdefghi ", catalog.MaxQueryLength/10):           false,
		strings.Repeat("a", catalog.MaxQueryLength+1):                     true,
		strings.Repeat("é", catalog.MaxQueryLength+1):                     true,
		strings.Repeat("ab ", 10_000):                                     true,
		strings.TrimSpace(strings.Repeat("w ", catalog.MaxSearchTerms)):   false,
		strings.TrimSpace(strings.Repeat("w ", catalog.MaxSearchTerms+1)): false, // the same word, once
		"a b c d e f g h i j k":                                           true,
		strings.Repeat("x", catalog.MaxTermLength):                        false,
		strings.Repeat("x", catalog.MaxTermLength+1):                      true,
		"shirt\x00": true,
		`" * NEAR( :* &|! - "unbalanced ' \ ( ) { } ^ + OR AND NOT`: false,
		"\xff\xfe invalid utf-8":                                    false,
	} {
		store := &listStore{}
		s := catalog.NewService(catalog.Deps{Store: store, Currencies: []string{"EUR"}, Now: time.Now})
		_, _, err := s.List(context.Background(), catalog.ListQuery{Search: q, Limit: 10})
		var e *apperr.Error
		if refused && (!errors.As(err, &e) || e.Code != apperr.CodeValidation || store.lists != 0) {
			t.Errorf("q %.40q: err %v, %d lists; want validation_failed before storage", q, err, store.lists)
		}
		if !refused && (err != nil || store.lists != 1) {
			t.Errorf("q %.40q: err %v, %d lists; want a search", q, err, store.lists)
		}
	}
}
