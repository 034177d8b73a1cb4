package waf

import (
	"strings"
	"testing"

	"github.com/corazawaf/coraza/v3"
)

func TestParseExclusions(t *testing.T) {
	t.Run("the catalog default parses", func(t *testing.T) {
		got, err := ParseExclusions("POST /api/v1/admin/products description=941000-941999; PATCH /api/v1/admin/products/{id} description=941100,942000-942999")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[1].Method != "PATCH" || got[1].Path != "/api/v1/admin/products/{id}" || got[1].Field != "description" ||
			len(got[1].Rules) != 2 || got[1].Rules[0] != (RuleRange{941100, 941100}) || got[1].Rules[1] != (RuleRange{942000, 942999}) {
			t.Fatalf("parsed %+v", got)
		}
	})
	t.Run("empty means none", func(t *testing.T) {
		if got, err := ParseExclusions("  "); err != nil || got != nil {
			t.Fatalf("got %v, %v", got, err)
		}
	})
	for _, bad := range []string{
		"POST /x",                           // no ids
		"post /x=941100",                    // method in lower case
		"POST x=941100",                     // relative path
		"POST /x/../y=941100",               // dot segments never match a cleaned path
		"POST /x=200002",                    // Bulwark's fail-closed rules cannot be excluded
		"POST /x=94110",                     // not six digits
		"POST /x=942000-941000",             // backwards range
		"POST /x desc ription=941100",       // two fields
		"POST /x de\"sc=941100",             // a quote would end the SecLang string
		"POST /x\"=941100",                  // same, in the path
		"POST /x=941100\nSecRuleEngine Off", // a newline would start a directive
		"POST /x/{ID}=941100",               // wildcard names are lower case
		"POST /x=941100,",                   // empty id
		"POST /x field.sub=941100",          // only top-level fields
	} {
		if _, err := ParseExclusions(bad); err == nil {
			t.Errorf("ParseExclusions(%q) accepted it", bad)
		}
	}
}

// FuzzParseExclusions checks that whatever ParseExclusions accepts becomes
// SecLang that Coraza compiles and that carries no character able to end a
// quoted value or start another directive.
func FuzzParseExclusions(f *testing.F) {
	for _, seed := range []string{
		"POST /api/v1/admin/products description=941000-941999;PATCH /api/v1/admin/products/{id} description=941000-941999",
		"GET /api/v1/products=942100",
		"POST /x\"=941100",
		"POST /x=941100\nSecRuleEngine Off",
		";;",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		xs, err := ParseExclusions(s)
		if err != nil {
			return
		}
		var b strings.Builder
		for i, x := range xs {
			d := x.directives(exclusionFirstID + i)
			if strings.Count(d, "\n") != 2 || strings.Count(d, `"`) != 8 {
				t.Fatalf("exclusion %+v made unexpected SecLang %q", x, d)
			}
			b.WriteString(d)
		}
		if _, err := coraza.NewWAF(coraza.NewWAFConfig().WithDirectives(b.String())); err != nil {
			t.Fatalf("accepted %q but Coraza refuses its rules: %v", s, err)
		}
	})
}
