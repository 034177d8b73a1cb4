package discover

import "strings"

// Card numbers (PANs) are found as people and systems write them: 13 to
// 19 digits in one run, or in groups split by single spaces or dashes as
// cards are printed. What decides a candidate:
//
//   - It stands alone. A run of seven or more digits is a token of its own:
//     a letter, digit or '_' against it, or a '.' or '-' joining it to more
//     (a decimal, a dashed id), makes it part of something longer. A group
//     of up to six digits is one of several: the groups joined by the same
//     separator are read together, and a four-character token ending in a
//     digit just before them ("DE89 3704 …", "1234 4111 …") continues them.
//   - A grouped number is grouped as cards are printed: fours (4-4-4-4,
//     with a last group of one to three for 17-19 digits), 4-6-5 and 4-6-4
//     (Amex, Diners), 4-4-5 and 4-4-4-1 (13-digit Visa). Spaces are a weak
//     joint: a date, time or decimal after one is another token, so
//     "4539 5787 6362 1486 12/29" is a card and an expiry date, and after
//     a sequence that is not printed as a card the longest grouping that
//     is may be one. A dash is not: a dashed run must be a card entirely.
//   - No '+' precedes it: "+37…" is a phone number.
//   - It is not the account number of a spaced IBAN ("VG96 VPVG 0000 …").
//   - Its leading digits are an issuer's and its length one of that
//     issuer's, and the Luhn digit holds.

// maxGroups bounds the groups read together: a card has at most five, and
// one more is what may follow it after a space; a sequence longer than
// that is a longer number, rejected as soon as it is seen.
const maxGroups = 6

// card reports whether the digit run starting at b[i] begins a card
// number.
func card(b []byte, i int) (Match, bool) {
	run := digitRun(b, i)
	if run >= 7 {
		end := i + run
		if run < 13 || run > 19 || !cardLeftOK(b, i) || joinedAfter(b, end) {
			return Match{}, false
		}
		return cardMatch(b, i, end)
	}
	sep := byte(0)
	if i+run+1 < len(b) {
		sep = b[i+run]
	}
	if (sep != ' ' && sep != '-') || !isDigit(b[i+run+1]) || !cardLeftOK(b, i) {
		return Match{}, false
	}
	if sep == ' ' && (continuesGroups(b, i) || ibanAccount(b, i)) {
		return Match{}, false
	}
	var groups [maxGroups]int
	var ends [maxGroups]int
	n := 0
	for j := i; ; {
		if n == maxGroups {
			return Match{}, false
		}
		g := digitRun(b, j)
		groups[n], ends[n] = g, j+g
		n++
		j += g
		if j+1 < len(b) && b[j] == sep && isDigit(b[j+1]) && !(sep == ' ' && startsOther(b, j+1)) {
			j++
			continue
		}
		break
	}
	if cardGrouping(groups[:n]) {
		if joinedAfter(b, ends[n-1]) {
			return Match{}, false
		}
		return cardMatch(b, i, ends[n-1])
	}
	// After a space, what follows a card may be another number (a
	// quantity, a reference): the longest printed grouping is the card,
	// unless the next group is another four, which would make it part of a
	// longer grouped number. A sequence printed as a card is judged whole,
	// so a 19-digit number is never taken for its first 16 digits.
	if sep != ' ' {
		return Match{}, false
	}
	for k := n - 1; k >= 3; k-- {
		if groups[k] != 4 && cardGrouping(groups[:k]) {
			return cardMatch(b, i, ends[k-1])
		}
	}
	return Match{}, false
}

// startsOther reports whether the digits at b[j] begin a date, a time or
// a decimal ("12/29", "10:30", "2029-12-01", "3.5"), which a space does
// not join to a card number before it.
func startsOther(b []byte, j int) bool {
	e := j + digitRun(b, j)
	return e+1 < len(b) && (b[e] == '/' || b[e] == ':' || b[e] == '-' || b[e] == '.') && isDigit(b[e+1])
}

func digitRun(b []byte, i int) int {
	j := i
	for j < len(b) && isDigit(b[j]) {
		j++
	}
	return j - i
}

// cardLeftOK reports whether what precedes b[i] lets a card start there.
func cardLeftOK(b []byte, i int) bool {
	if i == 0 {
		return true
	}
	p := b[i-1]
	switch {
	case wordBefore(b, i), p == '+':
		return false
	case (p == '-' || p == '.') && i >= 2 && isAlnum(b[i-2]):
		return false
	}
	return true
}

// joinedAfter reports whether the number ending before b[e] runs on into
// a word, or through a '.' or '-' into more.
func joinedAfter(b []byte, e int) bool {
	if e >= len(b) {
		return false
	}
	c := b[e]
	return isWord(c) || ((c == '-' || c == '.') && e+1 < len(b) && isAlnum(b[e+1]))
}

// continuesGroups reports whether the space-separated group at b[i]
// follows a group of four digits, or a four-character token ending in a
// digit ("DE89"): the groups are part of a longer grouped number or an
// IBAN.
func continuesGroups(b []byte, i int) bool {
	if i < 5 || b[i-1] != ' ' || !isDigit(b[i-2]) {
		return false
	}
	digits := true
	for k := i - 5; k < i-1; k++ {
		if !isAlnum(b[k]) {
			return false
		}
		digits = digits && isDigit(b[k])
	}
	return digits || i == 5 || !isAlnum(b[i-6]) || escapeLen(b, i-5) > 0
}

// ibanAccount reports whether the group at b[i] follows "CCkk BANK ", the
// head of a spaced IBAN whose bank code is letters (GB, IE, NL, VG, PK …).
func ibanAccount(b []byte, i int) bool {
	if i < 10 || b[i-1] != ' ' || b[i-6] != ' ' {
		return false
	}
	for k := i - 5; k < i-1; k++ {
		if !isUpper(b[k]) {
			return false
		}
	}
	return isUpper(b[i-10]) && isUpper(b[i-9]) && isDigit(b[i-8]) && isDigit(b[i-7])
}

// cardGrouping reports whether groups is how card numbers are printed.
func cardGrouping(g []int) bool {
	switch len(g) {
	case 3:
		return g[0] == 4 && ((g[1] == 6 && (g[2] == 5 || g[2] == 4)) || (g[1] == 4 && g[2] == 5))
	case 4:
		return g[0] == 4 && g[1] == 4 && g[2] == 4 && (g[3] == 4 || g[3] == 1)
	case 5:
		return g[0] == 4 && g[1] == 4 && g[2] == 4 && g[3] == 4 && g[4] >= 1 && g[4] <= 3
	}
	return false
}

// cardMatch checks the digits of b[i:end] (separators skipped) against the
// issuers and Luhn, and masks them.
func cardMatch(b []byte, i, end int) (Match, bool) {
	var d [19]byte
	n := 0
	for _, c := range b[i:end] {
		if isDigit(c) {
			if n == len(d) {
				return Match{}, false
			}
			d[n] = c
			n++
		}
	}
	if n < 13 {
		return Match{}, false
	}
	brand, ok := issuer(d[:n])
	if !ok || !luhn(d[:n]) {
		return Match{}, false
	}
	return Match{Kind: Card, Offset: int64(i), Len: end - i, Sample: maskCard(d[:n]), Test: isTestCard(d[:n]), Detail: brand}, true
}

// issuerRule is a range of leading digits (lo to hi, over the first
// digits digits) and the lengths (a bit per length) its cards have.
type issuerRule struct {
	brand   string
	digits  int
	lo, hi  int
	lengths uint32
}

func lengths(ls ...int) uint32 {
	var m uint32
	for _, l := range ls {
		m |= 1 << l
	}
	return m
}

// issuers follow the networks' published IIN ranges; the brand names are
// the vault's. The ranges do not overlap, so the order does not matter.
// Maestro is only its own ranges (5018, 5020, 5038, 5893, 6304, 6759,
// 6761-6763): the broad 5 and 6 ranges some lists give it hold as many
// order numbers as cards.
var issuers = []issuerRule{
	{"visa", 1, 4, 4, lengths(13, 16, 19)},
	{"mastercard", 2, 51, 55, lengths(16)},
	{"mastercard", 4, 2221, 2720, lengths(16)},
	{"mir", 4, 2200, 2204, lengths(16, 17, 18, 19)},
	{"amex", 2, 34, 34, lengths(15)},
	{"amex", 2, 37, 37, lengths(15)},
	{"discover", 4, 6011, 6011, lengths(16, 17, 18, 19)},
	{"discover", 3, 644, 649, lengths(16, 17, 18, 19)},
	{"discover", 2, 65, 65, lengths(16, 17, 18, 19)},
	{"jcb", 4, 3528, 3589, lengths(16, 17, 18, 19)},
	{"diners", 2, 36, 36, lengths(14, 15, 16, 17, 18, 19)},
	{"diners", 3, 300, 305, lengths(14, 15, 16, 17, 18, 19)},
	{"diners", 2, 38, 39, lengths(14, 15, 16, 17, 18, 19)},
	{"unionpay", 2, 62, 62, lengths(16, 17, 18, 19)},
	{"maestro", 4, 5018, 5018, lengths(13, 14, 15, 16, 17, 18, 19)},
	{"maestro", 4, 5020, 5020, lengths(13, 14, 15, 16, 17, 18, 19)},
	{"maestro", 4, 5038, 5038, lengths(13, 14, 15, 16, 17, 18, 19)},
	{"maestro", 4, 5893, 5893, lengths(13, 14, 15, 16, 17, 18, 19)},
	{"maestro", 4, 6304, 6304, lengths(13, 14, 15, 16, 17, 18, 19)},
	{"maestro", 4, 6759, 6759, lengths(13, 14, 15, 16, 17, 18, 19)},
	{"maestro", 4, 6761, 6763, lengths(13, 14, 15, 16, 17, 18, 19)},
}

// issuer returns the brand whose range and lengths hold d.
func issuer(d []byte) (string, bool) {
	var lead [5]int // lead[k]: the first k digits as a number
	for k := 1; k < len(lead); k++ {
		lead[k] = lead[k-1]*10 + int(d[k-1]-'0')
	}
	for _, r := range issuers {
		if v := lead[r.digits]; v >= r.lo && v <= r.hi {
			return r.brand, r.lengths&(1<<len(d)) != 0
		}
	}
	return "", false
}

// luhn checks the Luhn (mod 10) digit.
func luhn(d []byte) bool {
	sum, double := 0, false
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

// maskCard keeps the first six and last four digits, PCI DSS 3.4.1's
// most; a number of fewer than 16 digits keeps its first four, so at least
// five stay hidden (with the Luhn digit known, fewer would leave a few
// hundred candidates).
func maskCard(d []byte) string {
	head := 6
	if len(d) < 16 {
		head = 4
	}
	return string(d[:head]) + strings.Repeat("*", len(d)-head-4) + string(d[len(d)-4:])
}

// isTestCard reports whether d is a number the networks and processors
// publish for testing. The set holds numbers, not strings, so no card
// number is ever a string in this package.
func isTestCard(d []byte) bool {
	var v uint64
	for _, c := range d {
		v = v*10 + uint64(c-'0')
	}
	_, ok := testCards[v]
	return ok
}

// testCards are published test numbers (Stripe, Adyen, Braintree,
// PayPal, Worldpay, the networks' own), each a valid number of its brand:
// a test checks that.
var testCards = func() map[uint64]struct{} {
	m := map[uint64]struct{}{}
	for _, n := range []uint64{
		// Visa
		4242424242424242, 4000056655665556, 4111111111111111, 4012888888881881, 4222222222222,
		4000000000000002, 4000000000009995, 4000000000000077, 4000000000000093, 4000000000000119,
		4000000000000127, 4000000000000069, 4000000000000341, 4000000000003220, 4000002500003155,
		4000000000003063, 4000002760003184, 4000000000000010, 4000000000000028, 4000000000000036,
		4000000000000044, 4000000000000101, 4000000000000259, 4000000760000002, 4000001240000000,
		4444333322221111, 4917610000000000, 4988438843884305, 4166676667666746, 4646464646464644,
		4000020000000000, 4012000033330026, 4005519200000004, 4009348888881881, 4217651111111119,
		4500600000000061, 4000000000000085, 4000003800000008,
		// Mastercard
		5555555555554444, 2223003122003222, 5200828282828210, 5105105105105100, 5454545454545454,
		2222400070000005, 5555341244441115, 5577000055770004, 5136333333333335, 5424000000000015,
		2223000048400011, 2222405343248877, 2222990905257051, 5431111111111111, 5500000000000004,
		5425233430109903, 5101180000000007,
		// American Express
		378282246310005, 371449635398431, 378734493671000, 370000000000002, 340000000000009,
		374245455400126, 370000000100018,
		// Discover
		6011111111111117, 6011000990139424, 6011981111111113, 6011000400000000, 6011601160116611,
		6445644564456445, 6011000991300009,
		// Diners Club
		3056930009020004, 36227206271667, 30569309025904, 38520000023237, 36006666333344,
		36259600000004,
		// JCB
		3566002020360505, 3530111333300000, 3566111111111113, 3569990010095841, 3528000700000000,
		// UnionPay
		6200000000000005, 6205500000000000004, 6200000000000047, 6250946000000016, 6243030000000001,
		// Maestro
		6759649826438453, 6304000000000000,
	} {
		m[n] = struct{}{}
	}
	return m
}()
