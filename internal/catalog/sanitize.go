package catalog

import (
	"fmt"
	"unicode/utf8"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/microcosm-cc/bluemonday"
)

// descriptionPolicy is the allow-list of HTML a product description keeps:
// text structure, emphasis, lists, headings, quotes, code, and links to
// http, https and mailto addresses only, which get rel="nofollow". Anything
// else — scripts, event handlers, style attributes and elements, iframes,
// svg, javascript: and data: URLs — is removed. bluemonday (an allow-list
// sanitizer built on golang.org/x/net/html's parser) does the parsing and
// the removing; we write only the list. A built policy is safe for
// concurrent use.
var descriptionPolicy = func() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowElements("p", "br", "strong", "em", "ul", "ol", "li", "h2", "h3", "h4", "blockquote", "code", "pre")
	p.AllowAttrs("href").OnElements("a")
	p.AllowURLSchemes("http", "https", "mailto")
	p.RequireParseableURLs(true)
	p.AllowRelativeURLs(false)
	p.RequireNoFollowOnLinks(true)
	return p
}()

// sanitize returns description with only the allowed HTML left. It runs on
// write, and the result is what is stored and served: a storefront may
// render a description as HTML.
func sanitize(description string) string {
	return descriptionPolicy.Sanitize(description)
}

// Sanitize is the sanitizer for storage's one-time pass over descriptions
// written before they were sanitized on write (migration 0017).
func Sanitize(description string) string { return sanitize(description) }

// checkDescription checks a description as sent and returns it sanitized.
// The limit holds for what is stored and served, after sanitizing, which can
// lengthen text (a quote becomes &#34;): a description the server returns can
// always be sent back unchanged.
func checkDescription(v *apperr.Validator, description string) string {
	v.CheckText("description", description, 0, MaxDescriptionLength, true)
	clean := sanitize(description)
	if utf8.RuneCountInString(description) <= MaxDescriptionLength {
		v.Check(utf8.RuneCountInString(clean) <= MaxDescriptionLength, "description",
			fmt.Sprintf("must be at most %d characters once sanitized (quotes, ampersands and angle brackets in text become entities)", MaxDescriptionLength))
	}
	return clean
}
