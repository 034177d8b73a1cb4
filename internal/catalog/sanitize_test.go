package catalog

import (
	"strings"
	"testing"
)

func TestSanitize(t *testing.T) {
	t.Run("the allowed tags stay", func(t *testing.T) {
		in := `<h2>Care</h2><p>Soft <strong>wool</strong>, <em>warm</em>.<br></p><ul><li>one</li></ul><ol><li>two</li></ol>` +
			`<blockquote>quoted</blockquote><pre><code>x := 1</code></pre><h3>a</h3><h4>b</h4>`
		if got := sanitize(in); got != in {
			t.Fatalf("sanitize changed allowed HTML:\n in  %s\n got %s", in, got)
		}
	})
	t.Run("links keep http, https and mailto and get rel=nofollow", func(t *testing.T) {
		for _, href := range []string{"https://example.com/care", "http://example.com/", "mailto:care@example.com"} {
			got := sanitize(`<a href="` + href + `">care</a>`)
			if !strings.Contains(got, `href="`+href+`"`) || !strings.Contains(got, `rel="nofollow"`) {
				t.Errorf("link %s became %s", href, got)
			}
		}
	})
	hostile := map[string]string{
		"a script element":            `<p>hi</p><script>alert(1)</script>`,
		"an event handler":            `<p onclick="alert(1)">hi</p><strong onmouseover="alert(1)">x</strong>`,
		"a javascript: URL":           `<a href="javascript:alert(1)">x</a>`,
		"a javascript: URL in caps":   `<a href="JaVaScRiPt:alert(1)">x</a>`,
		"an entity-encoded scheme":    `<a href="&#106;avascript:alert(1)">x</a>`,
		"a data: URL":                 `<a href="data:text/html,<script>alert(1)</script>">x</a>`,
		"a relative URL":              `<a href="/admin">x</a>`,
		"a style attribute":           `<p style="background:url(javascript:alert(1))">x</p>`,
		"a style element":             `<style>body{display:none}</style><p>x</p>`,
		"an iframe":                   `<iframe src="https://evil.example"></iframe>`,
		"svg with onload":             `<svg onload="alert(1)"><circle r="1"/></svg>`,
		"an img with onerror":         `<img src=x onerror="alert(1)">`,
		"a form":                      `<form action="https://evil.example"><input name="p"></form>`,
		"a meta refresh":              `<meta http-equiv="refresh" content="0;url=https://evil.example">`,
		"an unclosed attribute trick": `<p title="x" onmouseover=alert(1)//">x</p>`,
	}
	for name, in := range hostile {
		t.Run(name+" is removed", func(t *testing.T) {
			got := strings.ToLower(sanitize(in))
			for _, bad := range []string{"<script", "onclick", "onmouseover", "onload", "onerror", "javascript:", "data:", "style",
				"<iframe", "<svg", "<img", "<form", "<input", "<meta", `href="/admin"`} {
				if strings.Contains(got, bad) {
					t.Fatalf("sanitize(%q) = %q still holds %q", in, got, bad)
				}
			}
		})
	}
}
