// Package discover is Bulwark's sensitive-data discovery (issue 15, in the
// manner of Amazon Macie and PCI DSS 12.5.2's data discovery): it finds card
// numbers, IBANs, email addresses, phone numbers, private keys and API
// secrets in bytes the caller hands it, and aggregates what it finds per
// location and kind. It owns the detectors, the masking of what they find,
// the streaming scanner and a labelled corpus to measure them on; it knows
// nothing of databases, files or HTTP.
//
// What it guarantees:
//   - A match never carries the value it found, only a masked sample: a
//     card's first six and last four digits at most (PCI DSS 3.4.1's most),
//     an IBAN's country, check digits and last four, an email's first
//     character and domain, a phone's last two digits, a key's or secret's
//     type and prefix. Nothing else keeps the value: no error, no field.
//   - A card number is what a processor would accept: an issuer's range and
//     one of its lengths, then the Luhn digit; and it stands alone: a digit
//     run that continues a longer number, word, hash or id is not one.
//   - A scan reads at most the bytes its caller allows, in bounded chunks,
//     and finds a match that straddles two chunks once.
//
// Find is one pass over the bytes with a table of the bytes that can start
// something (a digit, a capital, '@', '+', '-', a few lower-case letters);
// everything else costs a table lookup. No regular expression is used.
package discover

import (
	"cmp"
	"slices"
)

// Kind is a type of sensitive data. The values are stored in discovery
// reports and served by the API: they do not change.
type Kind string

// The kinds.
const (
	Card       Kind = "card_number"
	IBAN       Kind = "iban"
	Email      Kind = "email"
	Phone      Kind = "phone"
	PrivateKey Kind = "private_key"
	// Secret is an API key, token or signing secret.
	Secret Kind = "secret"
)

// Kinds lists the kinds, most severe first: the order of a report.
func Kinds() []Kind { return []Kind{Card, PrivateKey, Secret, IBAN, Email, Phone} }

// Match is one occurrence.
type Match struct {
	Kind Kind
	// Offset is the byte offset of the match's first byte in what was
	// scanned (the whole input of a Scanner's call, not a chunk).
	Offset int64
	// Len is how many bytes the match spans, so a caller can redact it.
	Len int
	// Sample is the masked value: never the whole of it.
	Sample string
	// Test marks a value published for testing: a card number such as
	// 4242 4242 4242 4242, a Stripe test-mode key. Worth removing, not an
	// incident.
	Test bool
	// Detail says which of its kind: a card's brand ("visa"), a secret's
	// issuer ("stripe", "aws", "bulwark"), a key's PEM label.
	Detail string
}

// Find returns the matches in b, in order of offset.
func Find(b []byte) []Match { return find(b, nil) }

// find appends the matches in b to out. Every detector decides from the
// bytes near its match alone (at most lookBehind before it and lookAhead
// after), never from an earlier match, which is what lets the Scanner cut
// a stream into overlapping windows and get the same matches.
func find(b []byte, out []Match) []Match {
	start := len(out)
	for i := 0; i < len(b); i++ {
		switch class[b[i]] {
		case 0:
			continue
		case cDigit:
			if i > 0 && isDigit(b[i-1]) {
				continue // a run is judged at its first digit
			}
			j := i + 1
			for j < len(b) && isDigit(b[j]) {
				j++
			}
			// Only 13 to 19 digits, or a group followed by a separator and
			// more digits, can be a card: most runs (times, sizes) are not.
			if run := j - i; (run >= 13 && run <= 19) || (run <= 6 && j+1 < len(b) && (b[j] == ' ' || b[j] == '-') && isDigit(b[j+1])) {
				if m, ok := card(b, i); ok {
					out = append(out, m)
				}
			}
			i = j - 1
		case cUpper:
			if wordBefore(b, i) {
				continue
			}
			if m, ok := iban(b, i); ok {
				out = append(out, m)
			} else if m, ok := secret(b, i); ok {
				out = append(out, m)
			}
		case cLower:
			if wordBefore(b, i) {
				continue
			}
			if m, ok := secret(b, i); ok {
				out = append(out, m)
			}
		case cAt:
			if m, ok := email(b, i); ok {
				out = append(out, m)
			}
		case cPlus:
			if m, ok := phone(b, i); ok {
				out = append(out, m)
			}
		case cDash:
			if m, ok := privateKey(b, i); ok {
				out = append(out, m)
			}
		}
	}
	// An email is found at its '@', after what precedes it.
	slices.SortStableFunc(out[start:], func(x, y Match) int { return cmp.Compare(x.Offset, y.Offset) })
	return out
}

// Bounds of the context a detector reads around its match, which the
// Scanner's chunk overlap must cover: behind, an email's local part (64)
// and a JSON escape; ahead, a JWT (the longest match) and its boundary.
const (
	lookBehind = 128
	lookAhead  = maxJWT + 64
)

// The byte classes: what a byte may start.
const (
	cDigit = 1 + iota // a card number
	cUpper            // an IBAN, an AWS key id
	cLower            // a secret's prefix
	cAt               // an email address, around its '@'
	cPlus             // an international phone number
	cDash             // a PEM armour line
)

var class = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = cDigit
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = cUpper
	}
	for _, c := range secretStarts {
		t[c] = cLower
	}
	t['@'], t['+'], t['-'] = cAt, cPlus, cDash
	return t
}()

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isAlnum(c byte) bool { return isDigit(c) || isUpper(c) || isLower(c) }
func isHex(c byte) bool   { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') }

// isWord reports whether c continues a number or identifier.
func isWord(c byte) bool { return isAlnum(c) || c == '_' }

// wordBefore reports whether b[i] continues a word: the byte before it is
// a letter, digit or '_' that is not the tail of a JSON escape. Raw JSON
// is scanned as it is, so "\n4242…" and Go's HTML-safe "\u003e4242…" must
// not hide what follows the escape.
func wordBefore(b []byte, i int) bool {
	return i > 0 && isWord(b[i-1]) && escapeLen(b, i) == 0
}

// escapeLen returns the length of the JSON escape that ends just before
// b[i] (\n, \r, \t, \b, \f or \uXXXX), or 0.
func escapeLen(b []byte, i int) int {
	if i >= 2 && b[i-2] == '\\' && (i < 3 || b[i-3] != '\\') {
		switch b[i-1] {
		case 'n', 'r', 't', 'b', 'f':
			return 2
		}
	}
	if i >= 6 && b[i-6] == '\\' && b[i-5] == 'u' && isHex(b[i-4]) && isHex(b[i-3]) && isHex(b[i-2]) && isHex(b[i-1]) {
		return 6
	}
	return 0
}
