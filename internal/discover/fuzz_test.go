package discover_test

import (
	"strings"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/discover"
)

// FuzzDiscoverFind checks that Find never panics, that its matches lie
// inside the input in order, and that no sample shows more than a card's
// six and four digits or the whole of any value.
func FuzzDiscoverFind(f *testing.F) {
	for _, s := range []string{
		"4539 5787 6362 1486", "4539578763621486", "3782 822463 10005 12/29", `{"n":"\u003e4242424242424242\n"}`,
		"DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "ada@example.com", `"\u003cada@example.com"`,
		"+1 (415) 555-2671", "-----BEGIN EC PRIVATE KEY-----\\nMHcCAQEE", "sk_live_0123456789abcdef",
		"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghijklmnopqrstuvwxyz", "AKIAIOSFODNN7EXAMPLE", "", "+", "@", "-----BEGIN ",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		prev := int64(0)
		for _, m := range discover.Find(b) {
			if m.Offset < prev || m.Len <= 0 || m.Offset+int64(m.Len) > int64(len(b)) || m.Sample == "" {
				t.Fatalf("match %+v in %d bytes", m, len(b))
			}
			prev = m.Offset
			value := string(b[m.Offset : m.Offset+int64(m.Len)])
			switch m.Kind {
			case discover.Card:
				digits := strings.Count(m.Sample, "") - 1 - strings.Count(m.Sample, "*")
				if digits > 10 || strings.Count(m.Sample, "*") < 5 {
					t.Fatalf("card sample %q", m.Sample)
				}
			case discover.Email, discover.PrivateKey:
			default:
				if len(value) >= 8 && strings.Contains(m.Sample, value) {
					t.Fatalf("%s sample %q holds its value", m.Kind, m.Sample)
				}
			}
		}
	})
}
