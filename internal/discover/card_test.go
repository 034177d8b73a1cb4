package discover_test

import (
	"strings"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/discover"
)

// withLuhn completes digits with the check digit that makes them valid.
func withLuhn(tb testing.TB, digits string) string {
	tb.Helper()
	sum := 0
	for i := len(digits) - 1; i >= 0; i-- {
		v := int(digits[i] - '0')
		if (len(digits)-i)%2 == 1 { // doubled once the check digit is appended
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return digits + string(rune('0'+(10-sum%10)%10))
}

// ofKind returns the matches of kind k.
func ofKind(ms []discover.Match, k discover.Kind) []discover.Match {
	var out []discover.Match
	for _, m := range ms {
		if m.Kind == k {
			out = append(out, m)
		}
	}
	return out
}

func TestCards(t *testing.T) {
	const visa = "4539578763621486" // Luhn-valid, not a published test number
	for _, c := range []struct {
		name, text string
		want       string // the masked sample, "" for none
		brand      string
		test       bool
	}{
		{"visa", "paid with " + visa + " today", "453957******1486", "visa", false},
		{"the whole input", visa, "453957******1486", "visa", false},
		{"grouped by spaces", "card: 4539 5787 6362 1486.", "453957******1486", "visa", false},
		{"grouped by dashes", "4539-5787-6362-1486", "453957******1486", "visa", false},
		{"a published test number", "4242424242424242", "424242******4242", "visa", true},
		{"a grouped test number", "use 4000 0566 5566 5556", "400005******5556", "visa", true},
		{"13-digit visa, 4-4-5", "4222 2222 22222", "4222*****2222", "visa", true},
		{"19-digit visa, 4-4-4-4-3", "x " + withLuhn(t, "400000000000000000") + " y", "400000*********0006", "visa", false},
		{"mastercard 51-55", "5555555555554444", "555555******4444", "mastercard", true},
		{"2-series mastercard", withLuhn(t, "272099999999999"), "272099******9996", "mastercard", false},
		{"amex, 4-6-5", "3782 822463 10005", "3782*******0005", "amex", true},
		{"diners 14 digits, 4-6-4", "3622 720627 1667", "3622******1667", "diners", true},
		{"diners 38, 16 digits", withLuhn(t, "385200000232371"), "385200******3718", "diners", false},
		{"discover 6011", "6011111111111117", "601111******1117", "discover", true},
		{"discover 644-649, 17 digits", withLuhn(t, "6491234567890123"), "649123*******1234", "discover", false},
		{"discover 65, 19 digits", withLuhn(t, "650000000000000000"), "650000*********0003", "discover", false},
		{"jcb, 19 digits", withLuhn(t, "358912345678901234"), "358912*********2346", "jcb", false},
		{"unionpay, 18 digits", withLuhn(t, "62123456789012345"), "621234********3457", "unionpay", false},
		{"maestro", withLuhn(t, "675964982643845"), "675964******8453", "maestro", true},
		{"mir", withLuhn(t, "220412345678901"), "220412******9015", "mir", false},
		{"JSON string", `{"pan":"5425233430109903"}`, "542523******9903", "mastercard", true},
		{"JSON number", `{"pan":5425233430109903}`, "542523******9903", "mastercard", true},
		{"after a JSON \\n escape", `{"note":"called\n` + visa + `"}`, "453957******1486", "visa", false},
		{"after a JSON \\u escape", `{"note":"\u003cb\u003e` + visa + `\u003c/b\u003e"}`, "453957******1486", "visa", false},
		{"after a quantity", "qty 2 4539 5787 6362 1486", "453957******1486", "visa", false},
		{"before an expiry date", "4539 5787 6362 1486 12/29", "453957******1486", "visa", false},
		{"in a CSV field", "7," + visa + ",12.50", "453957******1486", "visa", false},
		{"after a dash and a space", "card - " + visa, "453957******1486", "visa", false},

		{"Luhn fails", "4539578763621487", "", "", false},
		{"Luhn holds, no issuer", withLuhn(t, "953957876362148"), "", "", false},
		{"Luhn holds, 15-digit visa", withLuhn(t, "45395787636214"), "", "", false},
		{"Luhn holds, 16-digit amex", withLuhn(t, "378282246310005"), "", "", false},
		{"Luhn holds, 17-digit mastercard", withLuhn(t, "5425233430109903"), "", "", false},
		{"Luhn holds, maestro outside its ranges", withLuhn(t, "660000000000000"), "", "", false},
		{"Luhn holds, 12 digits", withLuhn(t, "45395787636"), "", "", false},
		{"a millisecond timestamp", "1764500000000", "", "", false},
		{"inside a 25-digit id", "123456789" + visa, "", "", false},
		{"followed by digits", visa + "123456789", "", "", false},
		{"after a letter", "x" + visa, "", "", false},
		{"before a letter", visa + "x", "", "", false},
		{"inside a hex string", "deadbeef" + visa + "cafe", "", "", false},
		{"after an underscore", "ord_" + visa, "", "", false},
		{"a dashed id", "ORD-" + visa, "", "", false},
		{"a dashed suffix", visa + "-01", "", "", false},
		{"decimals", "0." + visa, "", "", false},
		{"a decimal point after", visa + ".5", "", "", false},
		{"a phone's plus", "+" + visa, "", "", false},
		{"mixed separators", "4539 5787-6362 1486", "", "", false},
		{"double spaces", "4539  5787  6362  1486", "", "", false},
		{"odd grouping", "45395 787636 21486", "", "", false},
		{"a fifth group of four", "4539 5787 6362 1486 1234", "", "", false},
		{"a group of four before", "1234 4539 5787 6362 1486", "", "", false},
		{"a dashed group after", "4539-5787-6362-1486-12", "", "", false},
		{"an IBAN's head before", "DE89 4539 5787 6362 1486", "", "", false},
		{"a spaced IBAN's account", "VG21 PACG 4539 5787 6362 1486", "", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := ofKind(discover.Find([]byte(c.text)), discover.Card)
			if c.want == "" {
				if len(got) != 0 {
					t.Fatalf("found %+v", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("found %+v, want one %s", got, c.want)
			}
			m := got[0]
			if m.Sample != c.want || m.Test != c.test || m.Detail != c.brand {
				t.Fatalf("found %+v, want %s, %s, test %t", m, c.want, c.brand, c.test)
			}
			if at := strings.Index(c.text, c.want[:4]); m.Offset != int64(at) {
				t.Fatalf("offset %d, want %d", m.Offset, at)
			}
		})
	}
}

// Every published test number in the list is a valid number of its
// brand: a typo would make it a miss.
func TestTestNumbersAreValid(t *testing.T) {
	for _, n := range discover.PublishedTestCards() {
		ms := ofKind(discover.Find([]byte(n)), discover.Card)
		if len(ms) != 1 || !ms[0].Test {
			t.Errorf("test number %s: %+v", n[:6], ms)
		}
	}
}

// A card's sample shows at most its first six and last four digits, and
// no more than the digits outside the five or more it hides.
func TestCardSamplesShowSixAndFourAtMost(t *testing.T) {
	c := discover.GenerateCorpus(7, 3000, 3000)
	n := 0
	for _, d := range c.Docs {
		for _, m := range ofKind(discover.Find(d.Data), discover.Card) {
			n++
			var digits []byte
			for _, ch := range []byte(string(d.Data[m.Offset : m.Offset+int64(m.Len)])) {
				if ch >= '0' && ch <= '9' {
					digits = append(digits, ch)
				}
			}
			shown := strings.Count(m.Sample, "") - 1 - strings.Count(m.Sample, "*")
			head := strings.TrimRight(m.Sample[:len(m.Sample)-4], "*")
			if shown > 10 || len(digits)-shown < 5 || len(m.Sample) != len(digits) ||
				!strings.HasPrefix(string(digits), head) || !strings.HasSuffix(string(digits), m.Sample[len(m.Sample)-4:]) {
				t.Fatalf("sample %q of a %d-digit number shows %d digits", m.Sample, len(digits), shown)
			}
		}
	}
	if n < 3000 {
		t.Fatalf("only %d cards found", n)
	}
}

// A card's inner groups are not cards of their own, wherever the card
// starts: after a JSON escape, too.
func TestCardInnerGroups(t *testing.T) {
	d := withLuhn(t, "6484425461278409") // 17 digits
	grouped := d[:4] + " " + d[4:8] + " " + d[8:12] + " " + d[12:16] + " " + d[16:]
	for _, text := range []string{grouped, `"via\n` + grouped + `"`, `"\u003e` + grouped + `"`, "x " + grouped} {
		ms := ofKind(discover.Find([]byte(text)), discover.Card)
		if len(ms) != 1 || ms[0].Len != len(grouped) {
			t.Errorf("%q: %+v", text, ms)
		}
	}
}
