package id_test

import (
	"strings"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/id"
)

func TestValid(t *testing.T) {
	good := id.New(id.Product)
	if !id.Valid(id.Product, good) || id.Valid(id.User, good) {
		t.Fatalf("Valid(%q) is wrong about the prefix", good)
	}
	for _, bad := range []string{"", "prod_", good + "a", good[:len(good)-1], strings.ToUpper(good),
		good[:10] + "\r" + good[11:], good[:10] + "1" + good[11:], good[:10] + "=" + good[11:]} {
		if id.Valid(id.Product, bad) {
			t.Errorf("Valid(%q) = true", bad)
		}
	}
}

func FuzzValid(f *testing.F) {
	f.Add("prod_aaaaaaaaaaaaaaaaaaaaaaaaaa")
	f.Add("prod_aaaaaaaaaaaa\raaaaaaaaaaaa")
	f.Fuzz(func(t *testing.T, s string) {
		if id.Valid(id.Product, s) && strings.Trim(strings.TrimPrefix(s, id.Product), "abcdefghijklmnopqrstuvwxyz234567") != "" {
			t.Fatalf("Valid accepted %q", s)
		}
	})
}

func TestToken(t *testing.T) {
	a, b := id.Token("bws_"), id.Token("bws_")
	if a == b || len(a) != len("bws_")+52 {
		t.Fatalf("tokens %q %q: want two different 256-bit tokens", a, b)
	}
	// Letters and digits only, so no WAF rule can read a token as an attack
	// (see internal/waf TestTokensPass).
	if strings.Trim(a[4:], "abcdefghijklmnopqrstuvwxyz234567") != "" {
		t.Fatalf("token %q has characters outside the ids' alphabet", a)
	}
}
