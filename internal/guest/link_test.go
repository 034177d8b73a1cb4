package guest

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/mac"
)

// newLinks returns a service that signs links with a fresh Tink MAC keyset.
func newLinks(t testing.TB) *Service {
	t.Helper()
	h, err := keyset.NewHandle(mac.HMACSHA256Tag256KeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	m, err := mac.New(h)
	if err != nil {
		t.Fatal(err)
	}
	return NewService(Deps{Enabled: true, MAC: m, Now: time.Now})
}

const orderA, orderB = "ord_aaaaaaaaaaaaaaaaaaaaaaaaaa", "ord_bbbbbbbbbbbbbbbbbbbbbbbbbb"

func TestOrderLinks(t *testing.T) {
	s := newLinks(t)
	now := time.Unix(1_800_000_000, 0)
	token, err := s.sign(orderA, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a link opens its order until it expires", func(t *testing.T) {
		if err := s.verify(orderA, token, now); err != nil {
			t.Fatalf("fresh link: %v", err)
		}
		if err := s.verify(orderA, token, now.Add(time.Hour)); err == nil {
			t.Fatal("a link at its expiry still opens the order")
		}
	})
	t.Run("a link opens no other order", func(t *testing.T) {
		if err := s.verify(orderB, token, now); err == nil {
			t.Fatal("a link to one order opened another")
		}
	})
	t.Run("a changed expiry or tag is refused", func(t *testing.T) {
		parts := strings.Split(token, ".")
		later := parts[0] + "." + strconv.FormatInt(now.Add(48*time.Hour).Unix(), 10) + "." + parts[2]
		if err := s.verify(orderA, later, now.Add(2*time.Hour)); err == nil {
			t.Fatal("a link whose expiry was moved opened the order")
		}
		tag := []byte(parts[2])
		tag[5] = map[bool]byte{true: 'B', false: 'A'}[tag[5] == 'A']
		if err := s.verify(orderA, parts[0]+"."+parts[1]+"."+string(tag), now); err == nil {
			t.Fatal("a changed tag opened the order")
		}
	})
	t.Run("another keyset's link is refused", func(t *testing.T) {
		if err := newLinks(t).verify(orderA, token, now); err == nil {
			t.Fatal("a link signed with another keyset opened the order")
		}
	})
	t.Run("shapes other than sign's are refused before any MAC", func(t *testing.T) {
		for _, bad := range []string{"", "v1", "v1..", "v2.1.AAAA", "v1.-1.AAAA", "v1.01.AAAA", "v1.1e9.AAAA", "v1.1.", "v1.1.AA==", "v1.1.A+/A",
			"v1.9999999999999.AAAA", "v1.1.AAAA.AAAA", "v1.1." + strings.Repeat("A", MaxLinkToken)} {
			if _, _, err := parseLink(bad); err == nil {
				t.Errorf("parseLink(%q) accepted it", bad)
			}
		}
	})
}

// FuzzParseLink: the parser of tokens that come from strangers never
// panics, bounds what it reads, and accepts only what sign could make.
func FuzzParseLink(f *testing.F) {
	s := newLinks(f)
	token, err := s.sign(orderA, time.Unix(1_800_000_000, 0))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{token, "", "v1..", "v1.1.AAAA", "v1.01.AAAA", "v1.1.AA==", strings.Repeat("v1.", 100)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		exp, tag, err := parseLink(in)
		if err != nil {
			return
		}
		if len(in) > MaxLinkToken || exp <= 0 || len(tag) == 0 {
			t.Fatalf("parseLink(%q) = %d, %x", in, exp, tag)
		}
		if err := s.verify(orderA, in, time.Unix(0, 0)); err == nil && in != token {
			t.Fatalf("a token sign never made verified: %q", in)
		}
	})
}
