package discover

import (
	"bytes"
	"strings"
)

// Contact data: personal data the shop keeps on purpose (customers'
// addresses), reported so a copy in a log or a free-text column is seen.
// Both detectors favour precision: what they take is a well-formed
// address or an E.164 number with its '+'.

// email reports whether an address surrounds the '@' at b[at]: a local
// part of at most 64 of the usual characters, and a domain of at least two
// dot-separated labels whose last is two or more letters.
func email(b []byte, at int) (Match, bool) {
	s := at
	for s > 0 && at-s < 64 && localByte(b[s-1]) {
		s--
	}
	if s > 0 && localByte(b[s-1]) {
		return Match{}, false // a local part longer than 64
	}
	if s > 0 && b[s-1] == '\\' { // a JSON escape is not part of the address
		switch {
		case s < at && strings.IndexByte("nrtbf", b[s]) >= 0:
			s++
		case at-s > 5 && b[s] == 'u' && isHex(b[s+1]) && isHex(b[s+2]) && isHex(b[s+3]) && isHex(b[s+4]):
			s += 5
		}
	}
	if s == at || b[s] == '.' || b[at-1] == '.' {
		return Match{}, false
	}
	e := at + 1
	for e < len(b) && e-at <= maxDomain && (isAlnum(b[e]) || b[e] == '-' || b[e] == '.') {
		e++
	}
	if e-at > maxDomain {
		return Match{}, false
	}
	for e > at+1 && (b[e-1] == '.' || b[e-1] == '-') { // a sentence's full stop
		e--
	}
	domain := b[at+1 : e]
	if !validDomain(domain) {
		return Match{}, false
	}
	return Match{Kind: Email, Offset: int64(s), Len: e - s, Sample: string(b[s]) + "***@" + string(domain)}, true
}

// maxDomain is the longest domain name (RFC 1035).
const maxDomain = 253

func localByte(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

// notTLDs are file extensions that follow an '@' in asset names
// ("logo@2x.png"), not top-level domains.
var notTLDs = []string{"png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "css", "js", "map"}

// validDomain reports whether d is dot-separated labels of letters, digits
// and inner hyphens, at least two, the last two or more letters.
func validDomain(d []byte) bool {
	labels := 0
	for len(d) > 0 {
		label := d
		k := bytes.IndexByte(d, '.')
		if k >= 0 {
			label, d = d[:k], d[k+1:]
		} else {
			d = nil
		}
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		labels++
		if d == nil { // the top-level label
			if len(label) < 2 {
				return false
			}
			for _, c := range label {
				if isDigit(c) || c == '-' {
					return false
				}
			}
			for _, ext := range notTLDs {
				if strings.EqualFold(string(label), ext) {
					return false
				}
			}
		}
	}
	return labels >= 2
}

// phone reports whether an E.164 number starts at the '+' at b[p]: a
// country code's first digit (1-9), then 8 to 15 digits in all, grouped
// by single spaces, dashes or dots and at most one parenthesised group
// ("+1 (415) 555-2671"). A '+' after a word or a digit is a sum or a time
// zone, not a phone number.
func phone(b []byte, p int) (Match, bool) {
	if wordBefore(b, p) || (p > 0 && b[p-1] == '+') || p+1 >= len(b) || b[p+1] < '1' || b[p+1] > '9' {
		return Match{}, false
	}
	var last [2]byte
	digits, j := 0, p+1
	open, paren := false, false
	for j < len(b) && digits <= 15 {
		c := b[j]
		switch {
		case isDigit(c):
			last[0], last[1] = last[1], c
			digits++
			j++
			continue
		case c == '(' && !paren && j+1 < len(b) && isDigit(b[j+1]) && (b[j-1] == ' ' || isDigit(b[j-1])):
			open, paren = true, true
			j++
			continue
		case c == ')' && open && isDigit(b[j-1]):
			open = false
			j++
			continue
		case (c == ' ' || c == '-' || c == '.') && j+1 < len(b) && (isDigit(b[j-1]) || b[j-1] == ')') &&
			(isDigit(b[j+1]) || (b[j+1] == '(' && !paren)):
			j++
			continue
		}
		break
	}
	if open || digits < 8 || digits > 15 || joinedAfter(b, j) {
		return Match{}, false
	}
	return Match{Kind: Phone, Offset: int64(p), Len: j - p, Sample: "+" + strings.Repeat("*", digits-2) + string(last[:])}, true
}
