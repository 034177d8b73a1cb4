package identity

import (
	"net/netip"
	"strings"
	"unicode"

	"github.com/mtibben/confusables"
	"golang.org/x/text/unicode/norm"
)

// Look-alike identities. An address or a name is compared and stored in its
// NFKC form, so fullwidth "ａｄｍｉｎ" is "admin"; characters that show
// nothing or reorder what is shown (zero-width spaces, word joiners, byte
// order marks, bidirectional overrides and isolates) are refused outright,
// since no honest address or name needs them; and a new address whose
// confusable skeleton (Unicode TS #39: "аdmin" with a Cyrillic а has the
// skeleton of "admin") matches an existing account's is treated as that
// account's address.

// NormalizeEmail returns the form of an address that one mailbox has: NFKC,
// trimmed, lower case. Logins, resets and registrations all look accounts up
// by it.
func NormalizeEmail(s string) string {
	// NFKC again after lower-casing: a few lower-case forms are not NFKC.
	return norm.NFKC.String(strings.ToLower(strings.TrimSpace(norm.NFKC.String(s))))
}

// NormalizeName returns a display name in NFKC, trimmed.
func NormalizeName(s string) string { return strings.TrimSpace(norm.NFKC.String(s)) }

// invisible reports a character that changes how text reads without being
// seen: any format character (Unicode category Cf: U+200B zero-width space,
// U+2060 word joiner, U+FEFF, U+200E/F marks, U+202A-U+202E embeddings and
// overrides, U+2066-U+2069 isolates, U+061C, soft hyphens, tags...).
func invisible(r rune) bool {
	return unicode.Is(unicode.Cf, r) ||
		// Not all bidi controls are Cf in every Unicode version; name them too.
		(r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) || r == 0x200E || r == 0x200F || r == 0x061C
}

// HasInvisible reports whether s holds an invisible or bidirectional control character.
func HasInvisible(s string) bool { return strings.IndexFunc(s, invisible) >= 0 }

// ipLiteralDomain reports an address whose domain is an IP literal
// ("user@[192.0.2.1]") or a bare IP address: a shop customer has a mail domain,
// and such addresses pass spoofing and blocklist checks that names do not.
func ipLiteralDomain(email string) bool {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return false
	}
	d := email[at+1:]
	if strings.HasPrefix(d, "[") {
		return true
	}
	_, err := netip.ParseAddr(d)
	return err == nil
}

// EmailProblem returns why a normalized address is refused for an account,
// or "" when it is acceptable.
func EmailProblem(email string) string {
	switch {
	case HasInvisible(email):
		return "must not contain invisible or direction-changing characters"
	case ipLiteralDomain(email):
		return "must have a domain name, not an IP address"
	case !validEmail(email):
		return "must be a valid email address"
	}
	return ""
}

// EmailSkeleton is the confusable skeleton (Unicode TS #39) of a normalized
// address, lower-cased again so that the mapping's capital targets ("0" → "O")
// meet their lower-case twins. Two addresses with one skeleton look alike.
func EmailSkeleton(email string) string {
	return strings.ToLower(confusables.Skeleton(NormalizeEmail(email)))
}
