package discover

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Corpus is a generated, labelled body of documents for measuring
// discovery: where each real card number is, and how many decoys (numbers
// that must not be taken for cards) were written.
type Corpus struct {
	Data []byte
	// Cards are the offsets of the card numbers written.
	Cards map[int64]bool
	// Decoys counts the decoys written by kind.
	Decoys map[string]int
}

// GenerateCorpus writes cards card numbers across brands and lengths (2-series
// Mastercard and 19-digit cards among them, some grouped by spaces or
// dashes) and decoys numbers that are not cards (timestamps in
// milliseconds, order ids, 16-digit numbers failing Luhn, Luhn-valid
// numbers outside every issuer range or of the wrong length, IBANs,
// phone numbers, UUIDs, hex digests), into JSON lines, CSV rows and log
// lines, deterministically from seed.
func GenerateCorpus(seed uint64, cards, decoys int) Corpus {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	c := Corpus{Cards: map[int64]bool{}, Decoys: map[string]int{}}
	var buf bytes.Buffer
	type item struct {
		text  string
		card  bool
		decoy string
	}
	items := make([]item, 0, cards+decoys)
	for range cards {
		items = append(items, item{text: genCard(r), card: true})
	}
	for range decoys {
		kind, text := genDecoy(r)
		items = append(items, item{text: text, decoy: kind})
	}
	r.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	for i, it := range items {
		var before, after string
		switch i % 3 {
		case 0:
			before = fmt.Sprintf(`{"id":%d,"ts":"2026-11-%02dT10:%02d:00Z","note":"`, i, 1+r.IntN(28), r.IntN(60))
			after = "\"}\n"
		case 1:
			before = fmt.Sprintf("%d,%s,", i, []string{"alice", "bob", "carol"}[r.IntN(3)])
			after = fmt.Sprintf(",%d.%02d\n", r.IntN(500), r.IntN(100))
		default:
			before = fmt.Sprintf("2026-11-30T12:00:%02d.%03dZ INFO request handled value=", r.IntN(60), r.IntN(1000))
			after = " status=200\n"
		}
		buf.WriteString(before)
		if it.card {
			c.Cards[int64(buf.Len())] = true
		} else {
			c.Decoys[it.decoy]++
		}
		buf.WriteString(it.text)
		buf.WriteString(after)
	}
	c.Data = buf.Bytes()
	return c
}

// cardPrefixes are issuer prefixes and lengths to generate from.
var cardPrefixes = []struct {
	prefix string
	length int
}{
	{"4", 16}, {"4", 13}, {"4", 19}, {"51", 16}, {"55", 16}, {"2221", 16}, {"2720", 16}, {"2500", 16},
	{"34", 15}, {"37", 15}, {"6011", 16}, {"6011", 19}, {"65", 16}, {"644", 16}, {"3528", 16}, {"3589", 19},
	{"36", 14}, {"300", 14}, {"62", 16}, {"62", 19},
}

func genCard(r *rand.Rand) string {
	p := cardPrefixes[r.IntN(len(cardPrefixes))]
	d := withLuhn(p.prefix+digits(r, p.length-len(p.prefix)-1), true)
	switch r.IntN(5) {
	case 0:
		return group(d, " ")
	case 1:
		return group(d, "-")
	}
	return d
}

// group prints d as cards are printed: fours, or 4-6-5 / 4-6-4.
func group(d, sep string) string {
	if len(d) == 15 || len(d) == 14 {
		return d[:4] + sep + d[4:10] + sep + d[10:]
	}
	var parts []string
	for len(d) > 4 {
		parts, d = append(parts, d[:4]), d[4:]
	}
	return strings.Join(append(parts, d), sep)
}

func digits(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + r.IntN(10))
	}
	return string(b)
}

// withLuhn appends the check digit that makes d valid (or, with valid
// false, one that makes it invalid).
func withLuhn(d string, valid bool) string {
	for c := byte('0'); c <= '9'; c++ {
		if luhn([]byte(d+string(c))) == valid {
			return d + string(c)
		}
	}
	return d
}

// Decoy kinds.
var decoyKinds = []string{"timestamp_ms", "order_id", "bad_luhn", "no_issuer", "wrong_length", "iban", "phone", "uuid", "hex", "long_number"}

func genDecoy(r *rand.Rand) (string, string) {
	kind := decoyKinds[r.IntN(len(decoyKinds))]
	switch kind {
	case "timestamp_ms":
		return kind, strconv.FormatInt(1_600_000_000_000+r.Int64N(200_000_000_000), 10)
	case "order_id":
		return kind, "ord_" + digits(r, 16)
	case "bad_luhn":
		return kind, withLuhn("4"+digits(r, 14), false)
	case "no_issuer":
		return kind, withLuhn([]string{"1", "7", "8", "9"}[r.IntN(4)]+digits(r, 14), true)
	case "wrong_length":
		return kind, withLuhn("4"+digits(r, 16), true) // 18 digits: no Visa is
	case "iban":
		return kind, genIBAN(r)
	case "phone":
		return kind, "+44 20 " + digits(r, 4) + " " + digits(r, 4)
	case "uuid":
		h := hexDigits(r, 32)
		return kind, h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	case "hex":
		return kind, hexDigits(r, 64)
	}
	return "long_number", withLuhn("4"+digits(r, 22), true)
}

func hexDigits(r *rand.Rand, n int) string {
	const hex = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = hex[r.IntN(16)]
	}
	return string(b)
}

// genIBAN writes a valid German IBAN.
func genIBAN(r *rand.Rand) string {
	bban := digits(r, 18)
	for check := 2; check < 99; check++ {
		s := fmt.Sprintf("DE%02d%s", check, bban)
		if mod97([]byte(s)) {
			return s
		}
	}
	return "DE00" + bban
}

// Evaluate scans c and measures how well card numbers are told apart:
// recall (cards found ÷ cards written) and precision (cards found ÷ card
// matches reported).
func Evaluate(c Corpus) (recall, precision float64, misses, falses int) {
	found := 0
	reported := 0
	for _, m := range Find(c.Data) {
		if m.Kind != Card {
			continue
		}
		reported++
		if c.Cards[m.Offset] {
			found++
		} else {
			falses++
		}
	}
	misses = len(c.Cards) - found
	return float64(found) / float64(len(c.Cards)), float64(found) / float64(max(reported, 1)), misses, falses
}
