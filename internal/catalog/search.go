package catalog

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"golang.org/x/net/html"
	"golang.org/x/text/unicode/norm"
)

// Full-text search. The words a product is found by (SearchText) and the
// words a query asks for (SearchTerms) are made here, by one function, and
// handed to either engine as finished tokens: neither SQLite's tokenizer nor
// PostgreSQL's parser gets to split or fold text its own way (PostgreSQL's
// keeps "ab-cd", "1.2.3" and "a@b.com" whole, SQLite's unicode61 splits
// them; their case and accent folding differ outside ASCII). So the two
// engines answer the same query over the same data with the same products.
const (
	// SearchVersion is the version of the tokenizing below. Products indexed
	// with another version are indexed again at start-up, so a change here
	// takes effect for stored products too.
	SearchVersion = 1
	// MaxSearchTerms bounds the distinct words of a query.
	MaxSearchTerms = 10
	// MaxTermLength bounds a word, in characters: longer words are indexed
	// by their first MaxTermLength characters, and a query word that long
	// still matches as a prefix of them; a longer query word is refused.
	MaxTermLength = 64
)

// folds are letters that have no decomposition to an ASCII letter and a
// mark, folded by hand as a shopper types them without the keyboard for them.
var folds = map[rune]string{
	'ß': "ss", 'æ': "ae", 'œ': "oe", 'ø': "o", 'ł': "l", 'đ': "d", 'ð': "d", 'þ': "th", 'ı': "i", 'ħ': "h",
	'ς': "σ", // a final sigma is a sigma: "Σ" typed in capitals lowercases to σ
}

// words splits s into search words: lowercase, compatibility-decomposed with
// accents dropped ("Café" is "cafe", "ﬁ" is "fi") and a few letters folded
// (ß is ss), cut at every character that is not a letter, a digit or a
// spacing mark, each at most MaxTermLength characters. cut says whether a
// longer word is cut (indexing) or kept whole (a query, refused after).
func words(s string, cut bool) []string {
	var out []string
	var w []rune
	flush := func() {
		if len(w) > 0 {
			if cut && len(w) > MaxTermLength {
				w = w[:MaxTermLength]
			}
			out = append(out, string(w))
			w = w[:0]
		}
	}
	for _, r := range norm.NFKD.String(s) {
		if unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r) {
			continue // an accent, decomposed from its letter
		}
		r = unicode.ToLower(r)
		if f, ok := folds[r]; ok {
			w = append(w, []rune(f)...)
			continue
		}
		if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mc, r) {
			w = append(w, r)
			continue
		}
		flush()
	}
	flush()
	return out
}

// inlineElements are the allowed elements that do not separate words when
// rendered: "<em>super</em>man" reads "superman". Every other tag does.
var inlineElements = map[string]bool{"strong": true, "em": true, "code": true, "a": true}

// descriptionText is the text a reader sees in a sanitized description: tags,
// their names and attributes (a link's address) left out, entities decoded.
func descriptionText(description string) string {
	z := html.NewTokenizer(strings.NewReader(description))
	var b strings.Builder
	skip := "" // inside a raw-text element, which no reader sees
	for {
		switch z.Next() {
		case html.ErrorToken:
			return b.String()
		case html.TextToken:
			if skip == "" {
				b.Write(z.Text())
			}
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			switch t := string(name); {
			case skip != "" && t == skip:
				skip = ""
			case t == "script" || t == "style" || t == "template":
				skip = t
			}
			if !inlineElements[string(name)] {
				b.WriteByte(' ')
			}
		}
	}
}

// SearchText is what a product is found by: the words of its name, of its
// description's text (not its markup) and of every variant's SKU, each once,
// joined by single spaces. The store indexes exactly these words, on either
// engine.
func SearchText(name, description string, skus []string) string {
	all := words(name, true)
	all = append(all, words(descriptionText(description), true)...)
	for _, sku := range skus {
		all = append(all, words(sku, true)...)
	}
	seen := make(map[string]bool, len(all))
	out := all[:0]
	for _, w := range all {
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return strings.Join(out, " ")
}

// SearchTerms are the words of a query, each once, in the order given; a
// product matches when every one is the start of one of its words. A query
// with no letter or digit has no terms and matches nothing. The terms hold
// letters, digits and spacing marks only, so no query syntax of either
// engine can pass through them.
func SearchTerms(q string) []string {
	var out []string
	for _, w := range words(q, false) {
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

// checkSearch refuses a query over the limits: too long (as text), too many
// distinct words, or a word too long.
func checkSearch(v *apperr.Validator, q string) {
	v.CheckText("q", q, 0, MaxQueryLength, false)
	terms := SearchTerms(q)
	v.Check(len(terms) <= MaxSearchTerms, "q", fmt.Sprintf("at most %d words", MaxSearchTerms))
	for _, t := range terms {
		if len([]rune(t)) > MaxTermLength {
			v.Check(false, "q", fmt.Sprintf("words of at most %d characters", MaxTermLength))
			break
		}
	}
}
