// Package discover is Bulwark's sensitive-data discovery (issue 15, in the
// manner of Macie): it finds card numbers, IBANs, email addresses, phone
// numbers, private keys and API secrets in bytes, and aggregates what it
// finds per location and type.
//
// What it guarantees: a match never carries the value it found, only a
// masked sample (a card's first six and last four digits at most, as PCI
// DSS 3.4.1 allows to be shown); a location keeps at most MaxSamples
// samples per type however many it holds; a scan reads at most the bytes
// its caller allows. Card numbers are checked as a processor would
// (issuer ranges and lengths, then Luhn), and a digit run that is part of
// a longer number or word is not one, which is what keeps order ids,
// timestamps and hashes out.
//
// The scan is a single pass over the bytes for the digit-led types with
// cheap triggers for the others (an '@' for an email, a '+' for a phone, a
// literal prefix for keys and secrets), so it runs at tens of megabytes a
// second per core with no regular expression on the hot path.
package discover

import (
	"bytes"
	"cmp"
	"slices"
	"strings"
)

// Kind is a type of sensitive data.
type Kind string

// The kinds.
const (
	Card       Kind = "card_number"
	IBAN       Kind = "iban"
	Email      Kind = "email"
	Phone      Kind = "phone"
	PrivateKey Kind = "private_key"
	Secret     Kind = "secret"
)

// Kinds lists the kinds in report order.
func Kinds() []Kind { return []Kind{Card, PrivateKey, Secret, IBAN, Email, Phone} }

// Match is one occurrence.
type Match struct {
	Kind Kind
	// Offset is the byte offset of the match in what was scanned.
	Offset int64
	// Sample is the masked value: never the whole of it.
	Sample string
	// Test is a card number published for testing (4242 4242 4242 4242):
	// worth knowing about, not a cardholder's.
	Test bool
	// Brand names a card's network.
	Brand string
	n     int // length in bytes, for the scanner's chunk overlap
}

// Find returns the matches in b, in order of offset.
func Find(b []byte) []Match {
	var out []Match
	out = findDigitLed(b, out)
	out = findEmails(b, out)
	out = findPhones(b, out)
	out = findPrivateKeys(b, out)
	out = findSecrets(b, out)
	sortMatches(out)
	return out
}

func sortMatches(ms []Match) {
	slices.SortStableFunc(ms, func(a, b Match) int { return cmp.Compare(a.Offset, b.Offset) })
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isAlnum(c byte) bool {
	return isDigit(c) || isUpper(c) || (c >= 'a' && c <= 'z')
}

// wordByte is a byte that continues a number or identifier: a match must
// not be preceded or followed by one.
func wordByte(c byte) bool { return isAlnum(c) || c == '_' }

// findDigitLed finds card numbers (a run of digits) and IBANs (two capital
// letters then two digits) in one pass.
func findDigitLed(b []byte, out []Match) []Match {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if i > 0 && wordByte(b[i-1]) {
			continue
		}
		switch {
		case isDigit(c):
			m, end, ok := card(b, i)
			if ok {
				out = append(out, m)
			}
			i = end - 1 // the run is consumed whether or not it was a card
		case isUpper(c) && i+3 < len(b) && isUpper(b[i+1]) && isDigit(b[i+2]) && isDigit(b[i+3]):
			if m, end, ok := iban(b, i); ok {
				out = append(out, m)
				i = end - 1
			}
		}
	}
	return out
}

// card reads the digit run at b[i] (digits, optionally in groups split
// by single spaces or dashes, one separator throughout) and reports
// whether it is a card number; end is where scanning resumes. A grouped
// number must be grouped as cards are printed (fours; 4-6-5 or 4-6-4 for
// Amex and Diners): other groups are separate numbers, and scanning
// resumes after the first, so "qty 2 4242 4242 4242 4242" still finds the
// card.
func card(b []byte, i int) (Match, int, bool) {
	var digits [19]byte
	var groups [8]int
	ng, n := 0, 0
	sep := byte(0)
	j := i
	long := false
	firstEnd := -1
	for j < len(b) {
		c := b[j]
		if isDigit(c) {
			if n < len(digits) {
				digits[n] = c
			} else {
				long = true
			}
			n++
			if ng < len(groups) {
				groups[ng]++
			}
			j++
			continue
		}
		if (c == ' ' || c == '-') && j+1 < len(b) && isDigit(b[j+1]) && (sep == 0 || sep == c) && !long && ng < len(groups)-1 {
			if firstEnd < 0 {
				firstEnd = j
			}
			sep = c
			ng++
			j++
			continue
		}
		break
	}
	ng++
	if j < len(b) && wordByte(b[j]) {
		// A number that runs on into letters (an id, a hash) is not a card.
		return Match{}, j, false
	}
	if sep != 0 && !cardGrouping(groups[:ng]) {
		return Match{}, firstEnd, false
	}
	if long || n < 12 {
		return Match{}, j, false
	}
	d := digits[:n]
	brand, ok := issuer(d)
	if !ok || !luhn(d) {
		return Match{}, j, false
	}
	return Match{Kind: Card, Offset: int64(i), Sample: maskCard(d), Test: testCards[string(d)], Brand: brand, n: j - i}, j, true
}

// cardGrouping reports whether groups is how card numbers are printed.
func cardGrouping(g []int) bool {
	switch {
	case len(g) == 3 && g[0] == 4 && g[1] == 6 && (g[2] == 5 || g[2] == 4):
		return true
	case len(g) >= 3 && len(g) <= 5:
		for _, n := range g[:len(g)-1] {
			if n != 4 {
				return false
			}
		}
		return g[len(g)-1] >= 1 && g[len(g)-1] <= 4
	}
	return false
}

// issuer returns the brand whose ranges and lengths hold the number.
func issuer(d []byte) (string, bool) {
	n := len(d)
	p := func(k int) int {
		v := 0
		for _, c := range d[:k] {
			v = v*10 + int(c-'0')
		}
		return v
	}
	switch {
	case d[0] == '4':
		return "visa", n == 13 || n == 16 || n == 19
	case p(2) >= 51 && p(2) <= 55, p(4) >= 2221 && p(4) <= 2720:
		return "mastercard", n == 16
	case p(2) == 34 || p(2) == 37:
		return "amex", n == 15
	case p(4) == 6011 || p(2) == 65 || (p(3) >= 644 && p(3) <= 649) || (p(6) >= 622126 && p(6) <= 622925):
		return "discover", n >= 16 && n <= 19
	case p(4) >= 3528 && p(4) <= 3589:
		return "jcb", n >= 16 && n <= 19
	case p(2) == 36 || p(2) == 38 || p(2) == 39 || (p(3) >= 300 && p(3) <= 305) || p(4) == 3095:
		return "diners", n >= 14 && n <= 19
	case p(2) == 62:
		return "unionpay", n >= 16 && n <= 19
	case p(2) == 50 || (p(2) >= 56 && p(2) <= 69) || p(4) == 6759:
		return "maestro", n >= 12 && n <= 19
	}
	return "", false
}

// luhn checks the Luhn (mod 10) digit.
func luhn(d []byte) bool {
	sum := 0
	double := false
	for i := len(d) - 1; i >= 0; i-- {
		v := int(d[i] - '0')
		if double {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
		double = !double
	}
	return sum%10 == 0
}

// maskCard keeps the first six and last four digits (PCI DSS 3.4.1's
// most), never more than half the number.
func maskCard(d []byte) string {
	keepHead, keepTail := 6, 4
	if len(d) < 16 {
		keepHead = 4 // a 13-15 digit number keeps less, so the middle stays hidden
	}
	return string(d[:keepHead]) + strings.Repeat("*", len(d)-keepHead-keepTail) + string(d[len(d)-keepTail:])
}

// testCards are numbers the networks and processors publish for testing.
var testCards = map[string]bool{
	"4242424242424242": true, "4000056655665556": true, "4111111111111111": true, "4012888888881881": true,
	"4000000000000002": true, "4000000000009995": true, "4000000000000077": true, "4000000000000119": true,
	"5555555555554444": true, "2223003122003222": true, "5200828282828210": true, "5105105105105100": true,
	"378282246310005": true, "371449635398431": true, "6011111111111117": true, "6011000990139424": true,
	"3056930009020004": true, "36227206271667": true, "3566002020360505": true, "6200000000000005": true,
	"4222222222222": true,
}

// ibanLengths is the IBAN length of each country that has one (SWIFT's
// IBAN registry).
var ibanLengths = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
	"BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
	"ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
	"HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
	"LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
	"MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
	"RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
	"TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}

// iban reads an IBAN at b[i]: country, check digits, then the account in
// capitals and digits, optionally in groups of four separated by single
// spaces; the country's length and the mod-97 check must hold.
func iban(b []byte, i int) (Match, int, bool) {
	want, ok := ibanLengths[string(b[i:i+2])]
	if !ok {
		return Match{}, 0, false
	}
	var v [34]byte
	n := 0
	j := i
	for j < len(b) && n < want {
		c := b[j]
		if isDigit(c) || isUpper(c) {
			v[n] = c
			n++
			j++
			continue
		}
		// A space between groups of four.
		if c == ' ' && n%4 == 0 && j+1 < len(b) && (isDigit(b[j+1]) || isUpper(b[j+1])) {
			j++
			continue
		}
		break
	}
	if n != want || (j < len(b) && wordByte(b[j])) {
		return Match{}, 0, false
	}
	if !mod97(v[:n]) {
		return Match{}, 0, false
	}
	s := string(v[:n])
	return Match{Kind: IBAN, Offset: int64(i), Sample: s[:4] + strings.Repeat("*", n-8) + s[n-4:], n: j - i}, j, true
}

// mod97 is ISO 13616's check: the first four characters moved to the
// end, letters as 10-35, the number mod 97 must be 1.
func mod97(v []byte) bool {
	rem := 0
	add := func(c byte) {
		if isDigit(c) {
			rem = (rem*10 + int(c-'0')) % 97
		} else {
			rem = (rem*100 + int(c-'A'+10)) % 97
		}
	}
	for _, c := range v[4:] {
		add(c)
	}
	for _, c := range v[:4] {
		add(c)
	}
	return rem == 1
}

// findEmails finds addresses around each '@': a local part of the usual
// characters and a domain with a dot and a top-level label of letters.
func findEmails(b []byte, out []Match) []Match {
	for off := 0; ; {
		k := bytes.IndexByte(b[off:], '@')
		if k < 0 {
			return out
		}
		at := off + k
		off = at + 1
		s := at
		for s > 0 && s > at-64 && localByte(b[s-1]) {
			s--
		}
		e := at + 1
		lastDot := -1
		for e < len(b) && e < at+256 && (isAlnum(b[e]) || b[e] == '-' || b[e] == '.') {
			if b[e] == '.' {
				lastDot = e
			}
			e++
		}
		for e > at+1 && b[e-1] == '.' { // a sentence's full stop
			e--
			if lastDot == e {
				lastDot = bytes.LastIndexByte(b[at+1:e], '.')
				if lastDot >= 0 {
					lastDot += at + 1
				}
			}
		}
		if s == at || lastDot < 0 || e-lastDot-1 < 2 || lastDot == at+1 || (s > 0 && b[s-1] == '@') {
			continue
		}
		tld := b[lastDot+1 : e]
		if !allLetters(tld) {
			continue
		}
		out = append(out, Match{Kind: Email, Offset: int64(s), Sample: string(b[s:s+1]) + "***@" + string(b[at+1:e]), n: e - s})
		off = e
	}
}

func localByte(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

func allLetters(b []byte) bool {
	for _, c := range b {
		if isDigit(c) || c == '-' {
			return false
		}
	}
	return true
}

// findPhones finds international numbers: a '+' then 8 to 15 digits,
// grouped by single spaces, dashes, dots or a parenthesised area code.
func findPhones(b []byte, out []Match) []Match {
	for off := 0; ; {
		k := bytes.IndexByte(b[off:], '+')
		if k < 0 {
			return out
		}
		p := off + k
		off = p + 1
		if (p > 0 && wordByte(b[p-1])) || p+1 >= len(b) || !isDigit(b[p+1]) {
			continue
		}
		n := 0
		var last [4]byte
		j := p + 1
		lastDigit := j
		for j < len(b) {
			c := b[j]
			if isDigit(c) {
				last[n%4] = c
				n++
				lastDigit = j
				j++
				continue
			}
			if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')') && j+1 < len(b) && (isDigit(b[j+1]) || b[j+1] == '(') {
				j++
				continue
			}
			break
		}
		end := lastDigit + 1
		if n < 8 || n > 15 || (end < len(b) && wordByte(b[end])) {
			continue
		}
		tail := []byte{last[(n-2)%4], last[(n-1)%4]}
		out = append(out, Match{Kind: Phone, Offset: int64(p), Sample: "+" + strings.Repeat("*", n-2) + string(tail), n: end - p})
		off = end
	}
}

// findPrivateKeys finds PEM private keys by their armour.
func findPrivateKeys(b []byte, out []Match) []Match {
	begin := []byte("-----BEGIN ")
	for off := 0; ; {
		k := bytes.Index(b[off:], begin)
		if k < 0 {
			return out
		}
		s := off + k
		off = s + len(begin)
		e := bytes.IndexByte(b[off:min(len(b), off+64)], '-')
		if e < 0 {
			continue
		}
		label := b[off : off+e]
		if !bytes.HasSuffix(label, []byte("PRIVATE KEY")) || !bytes.HasPrefix(b[off+e:], []byte("-----")) {
			continue
		}
		out = append(out, Match{Kind: PrivateKey, Offset: int64(s), Sample: "-----BEGIN " + string(label) + "-----", n: off + e + 5 - s})
	}
}

// secretPrefixes are the published prefixes of API secrets, each with the
// least number of token characters that must follow.
var secretPrefixes = []struct {
	prefix string
	min    int
	upper  bool // AWS access key ids are capitals and digits only
}{
	{"sk_live_", 16, false}, {"sk_test_", 16, false}, {"rk_live_", 16, false}, {"rk_test_", 16, false},
	{"whsec_", 16, false}, {"AKIA", 16, true}, {"ghp_", 30, false}, {"gho_", 30, false}, {"ghs_", 30, false},
	{"github_pat_", 30, false}, {"xoxb-", 20, false}, {"xoxp-", 20, false}, {"xoxa-", 20, false},
	// Bulwark's own: API keys and session tokens.
	{"bwk_", 20, false}, {"bws_", 20, false},
}

// findSecrets finds tokens by their prefix.
func findSecrets(b []byte, out []Match) []Match {
	for _, sp := range secretPrefixes {
		pre := []byte(sp.prefix)
		for off := 0; ; {
			k := bytes.Index(b[off:], pre)
			if k < 0 {
				break
			}
			s := off + k
			off = s + len(pre)
			if s > 0 && wordByte(b[s-1]) {
				continue
			}
			e := off
			for e < len(b) && tokenByte(b[e], sp.upper) {
				e++
			}
			if e-off < sp.min || (sp.upper && e-off != sp.min) {
				continue
			}
			out = append(out, Match{Kind: Secret, Offset: int64(s), Sample: sp.prefix + "****", n: e - s})
			off = e
		}
	}
	return out
}

func tokenByte(c byte, upper bool) bool {
	if upper {
		return isUpper(c) || isDigit(c)
	}
	return isAlnum(c) || c == '_' || c == '-'
}
