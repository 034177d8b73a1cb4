package waf

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"

	"github.com/bulwark-shop/bulwark/internal/id"
)

// corpusRequest is one request of internal/app/testdata/waf_attacks.jsonl.
type corpusRequest struct {
	Class, Method, Path, Body string
	Header                    map[string]string
}

func loadAttackCorpus(t *testing.T) []corpusRequest {
	t.Helper()
	b, err := os.ReadFile("../app/testdata/waf_attacks.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var out []corpusRequest
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r corpusRequest
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%v in %s", err, line)
		}
		out = append(out, r)
	}
	return out
}

// raw builds the request as the end-to-end test sends it, byte for byte, and
// parses it as the server does; ok is false for one net/http refuses itself.
func (c corpusRequest) raw() (*http.Request, bool) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept: application/json\r\n", c.Method, c.Path)
	if _, ok := c.Header["User-Agent"]; !ok {
		b.WriteString("User-Agent: bulwark-test/1.0\r\n")
	}
	if _, ok := c.Header["Content-Type"]; !ok && c.Body != "" {
		b.WriteString("Content-Type: application/json\r\n")
	}
	for k, v := range c.Header {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	if c.Body != "" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(c.Body))
	}
	b.WriteString("\r\n" + c.Body)
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(b.String())))
	if err != nil {
		return nil, false
	}
	r.RemoteAddr = "192.0.2.1:40000"
	return r, true
}

// payloads are the attack strings of a corpus request: its query values and
// the string values of its JSON body.
func (c corpusRequest) payloads() []string {
	var out []string
	if u, err := url.Parse(c.Path); err == nil {
		for _, vs := range u.Query() {
			out = append(out, vs...)
		}
	}
	var body map[string]any
	if json.Unmarshal([]byte(c.Body), &body) == nil {
		for _, v := range body {
			if s, ok := v.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

func verdictOf(t *testing.T, w *WAF, r *http.Request) Verdict {
	t.Helper()
	check, v, err := w.Request(r, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	check.Close()
	return v
}

// referenceWAF is the firewall of exactly cfg.Directives(), the rules the
// CRS regression (test/crs) checks: none of New's additions.
func referenceWAF(t *testing.T, cfg Config) *WAF {
	t.Helper()
	w, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(cfg.Directives()))
	if err != nil {
		t.Fatal(err)
	}
	return &WAF{cfg: cfg, waf: w}
}

func jsonRequest(method, target, body string) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json")
	r.Header.Set("User-Agent", "bulwark-test")
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return r
}

// TestRuntimeDetectsAsTheRuleSet: at paranoia levels 1 and 2, the firewall
// New builds (the positive model, the rules' logdata left unexpanded, the
// logging phase not run) refuses exactly what the Core Rule Set of
// Directives() alone refuses — every request of the attack corpus, and every
// attack string of the corpus put in a free-text field of a checkout valid
// against its schema — and passes the same legitimate bodies.
func TestRuntimeDetectsAsTheRuleSet(t *testing.T) {
	corpus := loadAttackCorpus(t)
	model := mustShippedModel(t)
	for _, pl := range []int{1, 2} {
		cfg := Config{Mode: Block, Paranoia: pl, InboundThreshold: 5, OutboundThreshold: 4, BodyLimit: 4096}
		whole := referenceWAF(t, cfg)
		cfg.Bodies = model
		positive, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(fmt.Sprintf("paranoia %d: the attack corpus is refused", pl), func(t *testing.T) {
			for _, c := range corpus {
				r1, ok := c.raw()
				if !ok {
					continue // refused by net/http before any handler
				}
				r2, _ := c.raw()
				v1, v2 := verdictOf(t, whole, r1), verdictOf(t, positive, r2)
				if !v2.Hostile || v1.Hostile != v2.Hostile {
					t.Errorf("%s %s %s: hostile %v at run time, %v by the rule set alone", c.Class, c.Method, c.Path, v2.Hostile, v1.Hostile)
				}
			}
		})
		checkout := func(line1 string) string {
			b, _ := json.Marshal(map[string]any{"cart_id": id.New(id.Cart), "payment_method": id.New(id.PaymentMethod), "cvc": "123",
				"shipping_address": map[string]string{"name": "B", "line1": line1, "city": "Berlin", "postal_code": "10115", "country": "DE"}})
			return string(b)
		}
		t.Run(fmt.Sprintf("paranoia %d: attack strings in a free-text field are refused", pl), func(t *testing.T) {
			n := 0
			for _, c := range corpus {
				for _, p := range c.payloads() {
					if len(p) > 200 { // the schema's maxLength for an address line
						continue
					}
					body := checkout(p)
					v1 := verdictOf(t, whole, jsonRequest("POST", "/api/v1/checkout", body))
					v2 := verdictOf(t, positive, jsonRequest("POST", "/api/v1/checkout", body))
					n++
					if !v2.FreeTextOnly || v1.Hostile != v2.Hostile {
						t.Errorf("%s %q in an address line: %+v at run time, hostile %v by the rule set alone", c.Class, p, v2, v1.Hostile)
					}
					if !v2.Hostile {
						t.Logf("%s %q in an address line passes, at run time and by the rule set alone", c.Class, p)
					}
				}
			}
			if n < 50 {
				t.Fatalf("%d attack strings tried, want the corpus's 50 or more", n)
			}
		})
		t.Run(fmt.Sprintf("paranoia %d: legitimate bodies get the same verdict", pl), func(t *testing.T) {
			for _, name := range []string{"Zoë O'Brien", `Jean-François "JF" Dupont`, "Łukasz Żółć", "José Núñez 🎉",
				"Mary-Kate & Ashley Olsen", "D'Angelo Smith-Jones", "Renée L'Écuyer", "山田 太郎", "O'Neil -- the elder", "1 Main St"} {
				for _, r := range []struct{ path, body string }{
					{"/api/v1/checkout", checkout(name)},
					{"/api/v1/auth/register", `{"email":"a@example.com","password":"Tr0ub4dor & 3 'horse' \"staple\"","name":` + strconvQuote(name) + `}`},
				} {
					v1 := verdictOf(t, whole, jsonRequest("POST", r.path, r.body))
					v2 := verdictOf(t, positive, jsonRequest("POST", r.path, r.body))
					if !v2.FreeTextOnly || v1.Hostile != v2.Hostile {
						t.Errorf("%s %s: %+v at run time, %+v by the rule set alone", r.path, r.body, v2, v1)
					}
					if pl == 1 && v2.Hostile {
						t.Errorf("%s %s refused at paranoia level 1: %v", r.path, r.body, v2.Rules)
					}
				}
			}
		})
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
