package pages

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/web"
)

func TestNext(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "/account"},
		{"/account/orders", "/account/orders"},
		{"/search?q=mug", "/search?q=mug"},
		{"//evil.example/x", "/account"},
		{"/\\evil.example", "/account"},
		{"https://evil.example/", "/account"},
		{"javascript:alert(1)", "/account"},
		{"/ok\r\nSet-Cookie: x=y", "/account"},
	} {
		if got := next(tc.in, "/account"); got != tc.want {
			t.Errorf("next(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFormatMoney(t *testing.T) {
	for _, tc := range []struct {
		m    money.Money
		want string
	}{
		{money.Money{Amount: 1999, Currency: "EUR"}, "19.99 EUR"},
		{money.Money{Amount: 5, Currency: "USD"}, "0.05 USD"},
		{money.Money{Amount: -250, Currency: "EUR"}, "-2.50 EUR"},
		{money.Money{Amount: 1999, Currency: "JPY"}, "1999 JPY"},
		{money.Money{Amount: 12345, Currency: "KWD"}, "12.345 KWD"},
	} {
		if got := formatMoney(tc.m); got != tc.want {
			t.Errorf("formatMoney(%v) = %q, want %q", tc.m, got, tc.want)
		}
	}
}

func TestLineChart(t *testing.T) {
	if c := lineChart(nil, nil); !c.Empty {
		t.Error("no values is an empty chart")
	}
	c := lineChart([]float64{0, 50, 100}, []string{"mon", "tue", "wed"})
	if c.Points != "8.0,152.0 300.0,80.0 592.0,8.0" || c.From != "mon" || c.To != "wed" {
		t.Errorf("chart: %+v", c)
	}
	if flat := lineChart([]float64{3, 3}, nil); flat.Points != "8.0,80.0 592.0,80.0" {
		t.Errorf("a flat series: %q", flat.Points)
	}
}

// TestTemplatesFollowThePolicy reads every template: no inline script or
// style, no event handler attribute, and every form that posts carries the
// CSRF token. The browser tests check the pages they visit; this checks
// every page, visited or not.
func TestTemplatesFollowThePolicy(t *testing.T) {
	inlineScript := regexp.MustCompile(`<script(?:\s[^>]*)?>`)
	handler := regexp.MustCompile(`<[^>]*\son[a-z]+\s*=`)
	form := regexp.MustCompile(`(?s)<form\b[^>]*method="post"[^>]*>(.*?)</form>`)
	err := fs.WalkDir(web.Templates(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(web.Templates(), path)
		if err != nil {
			return err
		}
		src := string(b)
		for _, m := range inlineScript.FindAllString(src, -1) {
			if !strings.Contains(m, "src=") {
				t.Errorf("%s: inline script %s", path, m)
			}
		}
		if strings.Contains(src, "<style") || regexp.MustCompile(`\sstyle\s*=`).MatchString(src) {
			t.Errorf("%s: inline style", path)
		}
		if m := handler.FindString(src); m != "" {
			t.Errorf("%s: event handler attribute %s", path, m)
		}
		for _, f := range form.FindAllStringSubmatch(src, -1) {
			if !strings.Contains(f[1], `{{template "csrf" .}}`) && !strings.Contains(f[1], `{{template "csrf" $}}`) &&
				!strings.Contains(f[1], `name="csrf" value="{{$.CSRF}}"`) {
				t.Errorf("%s: a form without the CSRF token: %.80s", path, f[0])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSiteLoads: every embedded template parses and names existing assets.
func TestSiteLoads(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.views.pages) == 0 || len(s.assets.files) == 0 {
		t.Fatal("no pages or no assets")
	}
	for _, name := range []string{"error.html", "console-error.html"} {
		if _, ok := s.views.pages[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
}
