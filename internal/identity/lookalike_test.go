package identity_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/bulwark-shop/bulwark/internal/identity"
)

func TestNormalizeEmail(t *testing.T) {
	for in, want := range map[string]string{
		"  Alice@Example.COM ":   "alice@example.com",
		"ａｄｍｉｎ@example.com":      "admin@example.com",   // fullwidth letters
		"ﬁnance@example.com":     "finance@example.com", // the "fi" ligature
		"admin@ｅｘａｍｐｌｅ.com":      "admin@example.com",
		"\u0430dmin@example.com": "\u0430dmin@example.com", // Cyrillic а is no compatibility form: the skeleton catches it
	} {
		if got := identity.NormalizeEmail(in); got != want {
			t.Errorf("NormalizeEmail(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEmailProblem(t *testing.T) {
	for _, tc := range []struct {
		email string
		ok    bool
	}{
		{"alice@example.com", true},
		{"josé@example.com", true},
		{"ad\u200bmin@example.com", false}, // zero-width space
		{"ad\u2060min@example.com", false}, // word joiner
		{"\ufeffadmin@example.com", false}, // byte order mark
		{"admin\u202e@example.com", false}, // right-to-left override
		{"admin\u2066@example.com", false}, // left-to-right isolate
		{"admin\u200f@example.com", false}, // right-to-left mark
		{"admin\u061c@example.com", false}, // Arabic letter mark
		{"admin@[127.0.0.1]", false},
		{"admin@[IPv6:::1]", false},
		{"admin@127.0.0.1", false},
		{"admin@localhost", false},
		{"Alice <alice@example.com>", false},
	} {
		if p := identity.EmailProblem(identity.NormalizeEmail(tc.email)); (p == "") != tc.ok {
			t.Errorf("EmailProblem(%q) = %q, want ok=%v", tc.email, p, tc.ok)
		}
	}
}

func TestEmailSkeleton(t *testing.T) {
	base := identity.EmailSkeleton("admin@example.com")
	t.Run("look-alikes share the skeleton", func(t *testing.T) {
		for _, s := range []string{
			"\u0430dmin@example.com",           // Cyrillic а
			"adm\u0456n@example.com",           // Cyrillic і
			"ADMIN@EXAMPLE.COM",                // case
			"ａｄｍｉｎ@example.com",                // fullwidth
			"admin@ex\u0430mple.com",           // in the domain
			"\u0430dm\u0456n@\u0435xample.com", // several at once
		} {
			if got := identity.EmailSkeleton(s); got != base {
				t.Errorf("skeleton of %q = %q, want %q", s, got, base)
			}
		}
	})
	t.Run("different addresses differ", func(t *testing.T) {
		for _, s := range []string{"admins@example.com", "administrator@example.com", "admin@example.org", "bob@example.com"} {
			if identity.EmailSkeleton(s) == base {
				t.Errorf("%q has the skeleton of admin@example.com", s)
			}
		}
	})
}

func TestHasInvisibleNames(t *testing.T) {
	if identity.HasInvisible("Renée Dupont") || identity.HasInvisible("李小龍") || identity.HasInvisible("محمد") {
		t.Error("an ordinary name is refused")
	}
	for _, n := range []string{"evil\u202egpj.exe", "a\u200bb", "a\u2069", "\u200eleft"} {
		if !identity.HasInvisible(n) {
			t.Errorf("%q passes", n)
		}
	}
}

// FuzzNormalizeEmail: whatever comes in, an address the rules accept is in
// NFKC, holds no invisible or bidirectional control character, normalises to
// itself, and has a stable skeleton.
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"alice@example.com", "ａｄｍｉｎ@example.com", "ad\u200bmin@example.com", "\u0430dmin@example.com",
		"admin@[127.0.0.1]", "x\u202e@y.z", "ﬁ@ﬁ.ﬁ", "\u0301@a.b", "a@b.c\u0308"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if !utf8.ValidString(in) {
			return
		}
		e := identity.NormalizeEmail(in)
		if identity.NormalizeEmail(e) != e {
			t.Fatalf("NormalizeEmail is not idempotent on %q: %q then %q", in, e, identity.NormalizeEmail(e))
		}
		if identity.EmailProblem(e) != "" {
			return
		}
		if !norm.NFKC.IsNormalString(e) {
			t.Fatalf("accepted %q is not NFKC", e)
		}
		if identity.HasInvisible(e) || strings.ContainsAny(e, "\u200b\u2060\ufeff\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c") {
			t.Fatalf("accepted %q holds an invisible character", e)
		}
		if identity.EmailSkeleton(e) != identity.EmailSkeleton(identity.NormalizeEmail(in)) {
			t.Fatalf("skeleton of %q is unstable", e)
		}
	})
}
