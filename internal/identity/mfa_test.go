package identity_test

import (
	"strings"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/identity"
)

func TestParseOTP(t *testing.T) {
	for in, want := range map[string]string{"123456": "123456", " 123 456 ": "123456", "12345": "", "1234567": "", "12345a": "", "１２３４５６": "", "": ""} {
		got, ok := identity.ParseOTP(in)
		if (want == "") == ok || got != want {
			t.Errorf("ParseOTP(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestParseRecoveryCode(t *testing.T) {
	for in, want := range map[string]string{
		"abcd-efgh-ijkl-mnop": "abcdefghijklmnop", "ABCD-EFGH-IJKL-MNOP": "abcdefghijklmnop", "abcd efgh ijkl mnop": "abcdefghijklmnop",
		"abcd-efgh-ijkl-mno": "", "abcd-efgh-ijkl-mno1": "", "abcd-efgh-ijkl-mnop-q": "", "": "",
	} {
		got, ok := identity.ParseRecoveryCode(in)
		if (want == "") == ok || got != want {
			t.Errorf("ParseRecoveryCode(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func FuzzParseOTP(f *testing.F) {
	for _, s := range []string{"123456", " 123 456", "abcdef", "1234567"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := identity.ParseOTP(s)
		if ok && (len(got) != 6 || strings.Trim(got, "0123456789") != "") {
			t.Fatalf("ParseOTP(%q) accepted %q", s, got)
		}
	})
}

func FuzzParseRecoveryCode(f *testing.F) {
	for _, s := range []string{"abcd-efgh-ijkl-mnop", "ABCD EFGH IJKL MNOP", "0000-0000-0000-0000", "a-b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := identity.ParseRecoveryCode(s)
		if ok && (len(got) != 16 || strings.Trim(got, "abcdefghijklmnopqrstuvwxyz234567") != "") {
			t.Fatalf("ParseRecoveryCode(%q) accepted %q", s, got)
		}
	})
}
