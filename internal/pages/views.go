package pages

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/catalog"
	"github.com/bulwark-shop/bulwark/internal/money"
)

// views are the parsed page templates, by file name.
type views struct{ pages map[string]*template.Template }

// Layout files and the partials every page may use. A page file defines
// "title" and "content"; console-*.html pages are drawn in the console's
// layout, the others in the storefront's.
const (
	shopLayout    = "layout-shop.html"
	consoleLayout = "layout-console.html"
	partials      = "partials.html"
)

// loadViews parses every page that names lists, each with its layout and
// the partials, reading the files from read (the theme's where it has them).
func loadViews(names, read fs.FS, a *assets) (*views, error) {
	entries, err := fs.ReadDir(names, ".")
	if err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	funcs := template.FuncMap{
		"asset":     a.ref,
		"money":     formatMoney,
		"date":      formatDate,
		"sanitized": sanitized,
		"chart":     lineChart,
		"query":     func(v url.Values) string { return v.Encode() },
		"value":     func(v url.Values, k string) string { return v.Get(k) },
		"join":      strings.Join,
		"lower":     strings.ToLower,
		"title":     func(s string) string { return strings.ToUpper(s[:min(1, len(s))]) + s[min(1, len(s)):] },
		"has":       func(list []string, s string) bool { return contains(list, s) },
		// formHas says whether a refused form sent the field: which of a
		// page's forms it was.
		"formHas": func(v url.Values, k string) bool { _, ok := v[k]; return ok },
		// The security console's: a bar chart, a score as a percentage.
		"bars": barChart,
		"pct":  func(f float64) string { return fmt.Sprintf("%.0f%%", f*100) },
	}
	v := &views{pages: map[string]*template.Template{}}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || path.Ext(name) != ".html" || strings.HasPrefix(name, "layout-") || name == partials {
			continue
		}
		layout := shopLayout
		if strings.HasPrefix(name, "console-") {
			layout = consoleLayout
		}
		// The root is named apart from the files, which each define their
		// own templates into its set.
		t := template.New("page " + name).Funcs(funcs)
		for _, file := range []string{layout, partials, name} {
			b, err := fs.ReadFile(read, file)
			if err != nil {
				return nil, fmt.Errorf("read template %s: %w", file, err)
			}
			if _, err := t.New(file).Parse(string(b)); err != nil {
				return nil, fmt.Errorf("parse template %s: %w", file, err)
			}
		}
		v.pages[name] = t
	}
	return v, nil
}

// view is what every page template gets: the page's own data in Data and
// the frame around it.
type view struct {
	Title   string
	Shop    string
	CSRF    string
	Me      *account
	Path    string
	Flash   string
	Error   string
	Fields  map[string]string // a form's errors by field
	Form    url.Values        // a refused form's values, to fill it again
	Data    any
	Console bool
	Nav     []navItem
}

// navItem is a link of the console's menu.
type navItem struct {
	Label, Href string
	Current     bool
}

// render draws the page name with status. The whole page is drawn before a
// byte is sent, so a template error is a clean 500, never half a page.
func (v *views) render(w http.ResponseWriter, status int, name string, data view) error {
	t, ok := v.pages[name]
	if !ok {
		return fmt.Errorf("no page template %q", name)
	}
	layout := "shop"
	if strings.HasPrefix(name, "console-") {
		layout = "console"
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, layout, data); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	setPageHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // the visitor may be gone; nothing to do about it
	return nil
}

// sanitized renders a product description as HTML. Descriptions are
// sanitized when written (catalog's allow-list); they are sanitized again
// here, so that nothing but the sanitizer's output is ever marked safe — a
// row written around the service (a restore, a hand edit) included.
func sanitized(description string) template.HTML {
	return template.HTML(catalog.Sanitize(description)) //nolint:gosec // the sanitizer's output
}

// formatMoney writes an amount in minor units with its currency and as
// many decimals as the currency has: 1999 EUR is "19.99 EUR", 1999 JPY
// "1999 JPY".
func formatMoney(m money.Money) string {
	sign, n := "", m.Amount
	if n < 0 {
		sign, n = "-", -n
	}
	d := money.Digits(m.Currency)
	if d == 0 {
		return fmt.Sprintf("%s%d %s", sign, n, m.Currency)
	}
	unit := int64(1)
	for range d {
		unit *= 10
	}
	return fmt.Sprintf("%s%d.%0*d %s", sign, n/unit, d, n%unit, m.Currency)
}

// formatDate writes an RFC 3339 time as the console and the storefront show
// it, in UTC.
func formatDate(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
