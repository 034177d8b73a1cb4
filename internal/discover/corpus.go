package discover

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// The corpus: generated documents in the shapes a shop's data takes (JSON
// records, CSV exports, log lines) with card numbers of every brand and
// length and the numbers that most often pass for them, each labelled
// with where it was written, so recall and precision are measured, not
// guessed. Its card numbers are random, not anyone's.

// Corpus is a labelled set of documents.
type Corpus struct {
	Docs []Doc
}

// Doc is one generated document and what it holds.
type Doc struct {
	Name   string
	Format string // "json", "csv" or "log"
	Data   []byte
	Labels []Label // in order of offset
}

// Label is one value written into a document.
type Label struct {
	Offset int64
	Len    int
	// Kind is what the value is ("" for a decoy that is nothing
	// sensitive, such as a timestamp).
	Kind Kind
	// Decoy names the kind of a value written to be mistaken for a card
	// number (one of DecoyKinds), "" for the others.
	Decoy string
	// Detail is a card's brand.
	Detail string
}

// Size is the corpus's length in bytes.
func (c *Corpus) Size() int64 {
	var n int64
	for _, d := range c.Docs {
		n += int64(len(d.Data))
	}
	return n
}

// The decoys: numbers that look like card numbers to a careless detector.
const (
	decoyTimestamp   = "timestamp_ms" // Unix time in milliseconds, 13 digits
	decoyOrderID     = "order_id"     // a 20-25 digit id with a valid card number inside
	decoyBadLuhn     = "bad_luhn"     // an issuer's range and length, the wrong check digit
	decoyNoIssuer    = "no_issuer"    // Luhn-valid, 16 digits, no issuer's range
	decoyWrongLength = "wrong_length" // Luhn-valid, an issuer's range, not its length
	decoyIBAN        = "iban"         // a valid IBAN, compact or printed in fours
	decoyPhone       = "phone"        // an E.164 number, as people write them
	decoyUUID        = "uuid"         // random, some of its groups all digits
	decoyHex         = "hex_hash"     // a SHA-256 in hex, half with a card number inside
	decoyDecimal     = "decimal"      // a fraction whose 16 decimals are a valid card number
)

// The documents' shape: records per document, and how often a record
// carries a secret or a private key.
const (
	corpusDocRecords = 100
	corpusTokenEvery = 25
	corpusKeyEvery   = 400
)

// DecoyKinds lists the decoys GenerateCorpus writes.
func DecoyKinds() []string {
	return []string{decoyTimestamp, decoyOrderID, decoyBadLuhn, decoyNoIssuer, decoyWrongLength,
		decoyIBAN, decoyPhone, decoyUUID, decoyHex, decoyDecimal}
}

// GenerateCorpus writes cards card numbers (every brand, the 2-series
// Mastercard range, lengths 13 to 19, a third grouped by spaces or dashes,
// some published test numbers) and decoys decoys (DecoyKinds in turn)
// into JSON, CSV and log documents, with email addresses, secrets and
// private keys around them, all labelled. The same seed gives the same
// corpus.
func GenerateCorpus(seed int64, cards, decoys int) *Corpus {
	g := &corpusGen{r: rand.New(rand.NewPCG(uint64(seed), 0xb017a2c))}
	items := make([]corpusItem, 0, cards+decoys)
	for k := range cards {
		items = append(items, g.card(k))
	}
	kinds := DecoyKinds()
	for k := range decoys {
		items = append(items, g.decoy(kinds[k%len(kinds)]))
	}
	g.r.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	c := &Corpus{}
	for start := 0; start < len(items); start += corpusDocRecords {
		format := []string{"json", "csv", "log"}[len(c.Docs)%3]
		d := g.doc(format, start, items[start:min(len(items), start+corpusDocRecords)])
		d.Name = fmt.Sprintf("doc-%04d.%s", len(c.Docs), format)
		c.Docs = append(c.Docs, d)
	}
	return c
}

type corpusGen struct {
	r *rand.Rand
}

// corpusItem is a value to write and its label.
type corpusItem struct {
	text   string
	field  string
	kind   Kind
	decoy  string
	detail string
	number bool // digits (and a dot) only: JSON may write it bare
}

// cardSpec is a brand's range and a length to generate.
type cardSpec struct {
	brand  string
	digits int
	lo, hi int
	length int
}

// cardSpecs cover every issuer rule and each length's grouping.
var cardSpecs = []cardSpec{
	{"visa", 1, 4, 4, 16}, {"visa", 1, 4, 4, 13}, {"visa", 1, 4, 4, 19},
	{"mastercard", 2, 51, 55, 16}, {"mastercard", 4, 2221, 2720, 16},
	{"amex", 2, 34, 34, 15}, {"amex", 2, 37, 37, 15},
	{"discover", 4, 6011, 6011, 16}, {"discover", 3, 644, 649, 17}, {"discover", 2, 65, 65, 19},
	{"jcb", 4, 3528, 3589, 16}, {"jcb", 4, 3528, 3589, 19},
	{"diners", 2, 36, 36, 14}, {"diners", 3, 300, 305, 14}, {"diners", 2, 38, 39, 16},
	{"unionpay", 2, 62, 62, 16}, {"unionpay", 2, 62, 62, 18}, {"unionpay", 2, 62, 62, 19},
	{"maestro", 4, 6759, 6759, 16}, {"maestro", 4, 5018, 5018, 19}, {"mir", 4, 2200, 2204, 16},
}

// digits returns n random digits.
func (g *corpusGen) digits(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + g.r.IntN(10))
	}
	return string(b)
}

// number returns a number of length digits starting in [lo, hi] (over
// the first width digits) whose Luhn digit holds, or fails if valid is
// false.
func (g *corpusGen) number(width, lo, hi, length int, valid bool) string {
	prefix := strconv.Itoa(lo + g.r.IntN(hi-lo+1))
	prefix = strings.Repeat("0", width-len(prefix)) + prefix
	body := prefix + g.digits(length-width-1)
	for c := byte('0'); c <= '9'; c++ {
		if luhn([]byte(body+string(c))) == valid {
			return body + string(c)
		}
	}
	panic("unreachable: some check digit passes and some fails")
}

// groupCard prints d as cards are printed: 4-6-5 and 4-6-4 for 15 and 14
// digits, 4-4-5 for 13, fours otherwise.
func groupCard(d string, sep string) string {
	switch len(d) {
	case 15, 14:
		return d[:4] + sep + d[4:10] + sep + d[10:]
	case 13:
		return d[:4] + sep + d[4:8] + sep + d[8:]
	}
	var parts []string
	for len(d) > 4 {
		parts, d = append(parts, d[:4]), d[4:]
	}
	return strings.Join(append(parts, d), sep)
}

// testCardList is testCards in a stable order.
var testCardList = func() []uint64 {
	var l []uint64
	for n := range testCards {
		l = append(l, n)
	}
	slices.Sort(l)
	return l
}()

func (g *corpusGen) card(k int) corpusItem {
	s := cardSpecs[k%len(cardSpecs)]
	d := g.number(s.digits, s.lo, s.hi, s.length, true)
	if k%50 == 49 { // a published test number now and then
		d = strconv.FormatUint(testCardList[g.r.IntN(len(testCardList))], 10)
		s.brand, _ = issuer([]byte(d))
	}
	it := corpusItem{kind: Card, detail: s.brand, field: []string{"card_number", "pan", "payment_card", "note"}[g.r.IntN(4)]}
	switch g.r.IntN(6) {
	case 0:
		it.text = groupCard(d, " ")
	case 1:
		it.text = groupCard(d, "-")
	default:
		it.text, it.number = d, true
	}
	return it
}

func (g *corpusGen) decoy(kind string) corpusItem {
	it := corpusItem{decoy: kind}
	switch kind {
	case decoyTimestamp:
		it.field, it.number = "created_ms", true
		it.text = strconv.FormatInt(1_500_000_000_000+g.r.Int64N(400_000_000_000), 10)
	case decoyOrderID:
		s := cardSpecs[g.r.IntN(len(cardSpecs))]
		d := g.number(s.digits, s.lo, s.hi, s.length, true)
		total := 20 + g.r.IntN(6)
		before := 1 + g.r.IntN(total-len(d))
		it.field, it.number = "order_ref", true
		it.text = strconv.Itoa(1+g.r.IntN(9)) + g.digits(before-1) + d + g.digits(total-len(d)-before)
	case decoyBadLuhn:
		s := cardSpecs[g.r.IntN(len(cardSpecs))]
		d := g.number(s.digits, s.lo, s.hi, s.length, false)
		it.field, it.text, it.number = "card_ref", d, true
		if g.r.IntN(3) == 0 {
			it.text, it.number = groupCard(d, " "), false
		}
	case decoyNoIssuer:
		for {
			lead := []int{1, 7, 8, 9, 31, 33, 35, 60, 63, 66, 69}[g.r.IntN(11)]
			d := g.number(len(strconv.Itoa(lead)), lead, lead, 16, true)
			if _, ok := issuer([]byte(d)); !ok && !anyIssuerRange(d) {
				it.field, it.text, it.number = "account", d, true
				break
			}
		}
	case decoyWrongLength:
		for {
			s := cardSpecs[g.r.IntN(len(cardSpecs))]
			n := 13 + g.r.IntN(7)
			d := g.number(s.digits, s.lo, s.hi, n, true)
			if _, ok := issuer([]byte(d)); !ok {
				it.field, it.text, it.number = "account", d, true
				break
			}
		}
	case decoyIBAN:
		it.field, it.kind = "iban", IBAN
		it.text = g.iban()
	case decoyPhone:
		it.field, it.kind = "phone", Phone
		it.text = g.phone()
	case decoyUUID:
		h := g.hex(32)
		it.field, it.text = "trace_id", h[:8]+"-"+h[8:12]+"-4"+h[13:16]+"-"+h[16:20]+"-"+h[20:]
	case decoyHex:
		h := []byte(g.hex(64))
		if g.r.IntN(2) == 0 {
			at := 1 + g.r.IntN(64-18)
			copy(h[at:], g.number(1, 4, 4, 16, true))
			h[at-1], h[at+16] = "abcdef"[g.r.IntN(6)], "abcdef"[g.r.IntN(6)]
		}
		it.field, it.text = "sha256", string(h)
	case decoyDecimal:
		s := cardSpecs[g.r.IntN(len(cardSpecs))]
		it.field, it.number = "score", true
		it.text = "0." + g.number(s.digits, s.lo, s.hi, 16, true)
	}
	return it
}

// anyIssuerRange reports whether d starts in some issuer's range,
// whatever its length: a no_issuer decoy must not.
func anyIssuerRange(d string) bool {
	for _, r := range issuers {
		v, _ := strconv.Atoi(d[:r.digits])
		if v >= r.lo && v <= r.hi {
			return true
		}
	}
	return false
}

func (g *corpusGen) hex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.r.IntN(16)]
	}
	return string(b)
}

// ibanFormats are countries' BBANs: n digits, a capitals, c either.
var ibanFormats = []struct{ country, bban string }{
	{"DE", "18n"}, {"GB", "4a14n"}, {"FR", "10n11c2n"}, {"NL", "4a10n"}, {"ES", "20n"}, {"IT", "1a10n12c"},
	{"CH", "5n12c"}, {"AT", "16n"}, {"BE", "12n"}, {"PL", "24n"}, {"NO", "11n"}, {"SE", "20n"},
	{"IE", "4a14n"}, {"PK", "4a16c"}, {"VG", "4a16n"}, {"GI", "4a15c"}, {"MT", "4a5n18c"},
}

func (g *corpusGen) iban() string {
	f := ibanFormats[g.r.IntN(len(ibanFormats))]
	var bban strings.Builder
	spec := f.bban
	for spec != "" {
		k := strings.IndexAny(spec, "nac")
		n, _ := strconv.Atoi(spec[:k])
		for range n {
			switch spec[k] {
			case 'n':
				bban.WriteByte(byte('0' + g.r.IntN(10)))
			case 'a':
				bban.WriteByte(byte('A' + g.r.IntN(26)))
			default:
				bban.WriteByte("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[g.r.IntN(36)])
			}
		}
		spec = spec[k+1:]
	}
	var s string
	for check := 2; check <= 98; check++ {
		s = fmt.Sprintf("%s%02d%s", f.country, check, bban.String())
		if mod97([]byte(s)) {
			break
		}
	}
	if g.r.IntN(2) == 0 {
		return s
	}
	var spaced []string
	for len(s) > 4 {
		spaced, s = append(spaced, s[:4]), s[4:]
	}
	return strings.Join(append(spaced, s), " ")
}

func (g *corpusGen) phone() string {
	switch g.r.IntN(5) {
	case 0:
		return "+49" + strconv.Itoa(150+g.r.IntN(30)) + g.digits(8)
	case 1:
		return "+44 20 " + g.digits(4) + " " + g.digits(4)
	case 2:
		return "+1-" + strconv.Itoa(201+g.r.IntN(700)) + "-555-" + g.digits(4)
	case 3:
		return "+1 (" + strconv.Itoa(201+g.r.IntN(700)) + ") 555-" + g.digits(4)
	}
	return "+33." + strconv.Itoa(1+g.r.IntN(9)) + "." + g.digits(2) + "." + g.digits(2) + "." + g.digits(2) + "." + g.digits(2)
}

var corpusWords = strings.Fields(`customer called about the order shipped late refund issued via phone
	support ticket updated address changed gift wrap requested payment captured retry queued`)

func (g *corpusGen) words(n int) string {
	w := make([]string, n)
	for i := range w {
		w[i] = corpusWords[g.r.IntN(len(corpusWords))]
	}
	return strings.Join(w, " ")
}

// trailer is what follows a value in free text: words, or an expiry date
// as people write it after a card number.
func (g *corpusGen) trailer() string {
	if g.r.IntN(3) == 0 {
		return fmt.Sprintf("%02d/%02d %s", 1+g.r.IntN(12), 26+g.r.IntN(8), g.words(1))
	}
	return g.words(2)
}

func (g *corpusGen) id() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	b := []byte("ord_")
	for range 26 {
		b = append(b, alphabet[g.r.IntN(32)])
	}
	return string(b)
}

func (g *corpusGen) email() string {
	first := []string{"ada", "alan", "grace", "edsger", "barbara", "ken", "margaret"}[g.r.IntN(7)]
	last := []string{"lovelace", "turing", "hopper", "dijkstra", "liskov", "thompson", "hamilton"}[g.r.IntN(7)]
	domain := []string{"example.com", "mail.example.org", "shop.test", "example.co.uk"}[g.r.IntN(4)]
	return first + "." + last + strconv.Itoa(g.r.IntN(100)) + "@" + domain
}

func (g *corpusGen) timestamp() string {
	return fmt.Sprintf("2026-%02d-%02dT%02d:%02d:%02d.%03dZ", 1+g.r.IntN(12), 1+g.r.IntN(28), g.r.IntN(24), g.r.IntN(60), g.r.IntN(60), g.r.IntN(1000))
}

// secret returns a secret of a random issuer, shaped as the detector
// expects.
func (g *corpusGen) secret() string {
	body := func(n int, alphabet string) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[g.r.IntN(len(alphabet))]
		}
		return string(b)
	}
	const alnumChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	switch g.r.IntN(5) {
	case 0:
		return "sk_live_" + body(24, alnumChars)
	case 1:
		return "AKIA" + body(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
	case 2:
		return "bwk_" + body(52, "abcdefghijklmnopqrstuvwxyz234567")
	case 3:
		return "ghp_" + body(36, alnumChars)
	}
	return "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ" + body(40, alnumChars) + "." + body(43, alnumChars)
}

// docWriter writes a document and labels what it writes.
type docWriter struct {
	buf    bytes.Buffer
	labels []Label
}

func (w *docWriter) put(s string, l Label) {
	l.Offset, l.Len = int64(w.buf.Len()), len(s)
	w.labels = append(w.labels, l)
	w.buf.WriteString(s)
}

func (w *docWriter) item(it corpusItem) {
	w.put(it.text, Label{Kind: it.kind, Decoy: it.decoy, Detail: it.detail})
}

// privateKeyPEM is the armour and first line of a key (the rest is not
// needed to find it, and a real key has no place in a corpus).
const privateKeyPEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"

func (g *corpusGen) doc(format string, first int, items []corpusItem) Doc {
	var w docWriter
	switch format {
	case "json":
		w.buf.WriteString("[\n")
	case "csv":
		w.buf.WriteString("id,email,created,amount,field,value,note\n")
	}
	for k, it := range items {
		rec := first + k
		email := g.email()
		amount := fmt.Sprintf("%d.%02d", g.r.IntN(900), g.r.IntN(100))
		switch format {
		case "json":
			if k > 0 {
				w.buf.WriteString(",\n")
			}
			fmt.Fprintf(&w.buf, `{"id":"%s","email":"`, g.id())
			w.put(email, Label{Kind: Email})
			fmt.Fprintf(&w.buf, `","created":"%s","amount":%s,"%s":`, g.timestamp(), amount, it.field)
			switch {
			case it.field == "note":
				fmt.Fprintf(&w.buf, `"%s\n`, g.words(3)) // after a JSON escape
				w.item(it)
				fmt.Fprintf(&w.buf, ` %s"`, g.trailer())
			case it.number && g.r.IntN(3) == 0:
				w.item(it)
			default:
				w.buf.WriteByte('"')
				w.item(it)
				w.buf.WriteByte('"')
			}
			if rec%corpusTokenEvery == 0 {
				w.buf.WriteString(`,"auth":"Bearer `)
				w.put(g.secret(), Label{Kind: Secret})
				w.buf.WriteByte('"')
			}
			if rec%corpusKeyEvery == 0 {
				w.buf.WriteString(`,"key":"`)
				w.put(strings.ReplaceAll(privateKeyPEM, "\n", `\n`), Label{Kind: PrivateKey})
				w.buf.WriteString(`"`)
			}
			w.buf.WriteString("}")
		case "csv":
			fmt.Fprintf(&w.buf, "%s,", g.id())
			w.put(email, Label{Kind: Email})
			fmt.Fprintf(&w.buf, ",%s,%s,%s,", g.timestamp(), amount, it.field)
			if g.r.IntN(2) == 0 {
				w.buf.WriteByte('"')
				w.item(it)
				w.buf.WriteByte('"')
			} else {
				w.item(it)
			}
			fmt.Fprintf(&w.buf, ",%s\n", g.words(4))
		case "log":
			fmt.Fprintf(&w.buf, "%s INFO checkout: order=%s user=", g.timestamp(), g.id())
			w.put(email, Label{Kind: Email})
			if it.field == "note" {
				fmt.Fprintf(&w.buf, ` msg="%s `, g.words(3))
				w.item(it)
				fmt.Fprintf(&w.buf, ` %s"`, g.trailer())
			} else {
				fmt.Fprintf(&w.buf, " %s=", it.field)
				w.item(it)
			}
			fmt.Fprintf(&w.buf, " amount=%s took=%dms", amount, 1+g.r.IntN(900))
			if rec%corpusTokenEvery == 0 {
				w.buf.WriteString(" authorization=")
				w.put(g.secret(), Label{Kind: Secret})
			}
			w.buf.WriteByte('\n')
			if rec%corpusKeyEvery == 0 {
				w.put(privateKeyPEM, Label{Kind: PrivateKey})
				w.buf.WriteString("\n-----END PRIVATE KEY-----\n")
			}
		}
	}
	if format == "json" {
		w.buf.WriteString("\n]\n")
	}
	return Doc{Format: format, Data: w.buf.Bytes(), Labels: w.labels}
}

// Score counts a detector's results against the labels of one kind.
type Score struct {
	Found  int // labelled values found at their offset
	Missed int // labelled values not found
	False  int // matches where no value of the kind was written
}

// Recall is Found over what was written (1 when nothing was).
func (s Score) Recall() float64 {
	if s.Found+s.Missed == 0 {
		return 1
	}
	return float64(s.Found) / float64(s.Found+s.Missed)
}

// Precision is Found over what was reported (1 when nothing was).
func (s Score) Precision() float64 {
	if s.Found+s.False == 0 {
		return 1
	}
	return float64(s.Found) / float64(s.Found+s.False)
}

// Evaluation is how Find did on a corpus.
type Evaluation struct {
	Scores map[Kind]Score
	// DecoysAsCards counts the card matches that fell on a decoy, by the
	// decoy's kind ("" for a match where nothing was labelled).
	DecoysAsCards map[string]int
}

// Evaluate runs Find over c's documents and scores each kind against the
// labels; recall and precision are the card numbers'.
func Evaluate(c *Corpus) (recall, precision float64, e Evaluation) {
	e = Evaluation{Scores: map[Kind]Score{}, DecoysAsCards: map[string]int{}}
	for _, d := range c.Docs {
		written := map[Kind]map[int64]bool{}
		for _, l := range d.Labels {
			if l.Kind == "" {
				continue
			}
			if written[l.Kind] == nil {
				written[l.Kind] = map[int64]bool{}
			}
			written[l.Kind][l.Offset] = true
		}
		found := map[Kind]map[int64]bool{}
		for _, m := range Find(d.Data) {
			s := e.Scores[m.Kind]
			if written[m.Kind][m.Offset] {
				s.Found++
				if found[m.Kind] == nil {
					found[m.Kind] = map[int64]bool{}
				}
				found[m.Kind][m.Offset] = true
			} else {
				s.False++
				if m.Kind == Card {
					e.DecoysAsCards[decoyAt(d.Labels, m.Offset)]++
				}
			}
			e.Scores[m.Kind] = s
		}
		for k, offs := range written {
			s := e.Scores[k]
			s.Missed += len(offs) - len(found[k])
			e.Scores[k] = s
		}
	}
	cards := e.Scores[Card]
	return cards.Recall(), cards.Precision(), e
}

// decoyAt returns the decoy kind of the label holding offset, "" if none.
func decoyAt(labels []Label, offset int64) string {
	k, _ := slices.BinarySearchFunc(labels, offset, func(l Label, o int64) int {
		switch {
		case l.Offset > o:
			return 1
		case l.Offset+int64(l.Len) <= o:
			return -1
		}
		return 0
	})
	if k < len(labels) && labels[k].Offset <= offset && offset < labels[k].Offset+int64(labels[k].Len) {
		return labels[k].Decoy
	}
	return ""
}
