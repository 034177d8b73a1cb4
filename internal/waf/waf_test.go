package waf_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/waf"
)

var (
	compiled   = map[waf.Mode]*waf.WAF{}
	compiledMu sync.Mutex
)

// mustWAF compiles (once per mode) the firewall as Bulwark's defaults configure it.
func mustWAF(tb testing.TB, mode waf.Mode) *waf.WAF {
	tb.Helper()
	compiledMu.Lock()
	defer compiledMu.Unlock()
	if w := compiled[mode]; w != nil {
		return w
	}
	xs, err := waf.ParseExclusions("POST /api/v1/admin/products description=941000-941999;PATCH /api/v1/admin/products/{id} description=941000-941999")
	if err != nil {
		tb.Fatal(err)
	}
	w, err := waf.New(waf.Config{Mode: mode, Paranoia: 1, InboundThreshold: 5, OutboundThreshold: 4, BodyLimit: 4096, Exclusions: xs,
		Bodies: mustBodyModel(tb)})
	if err != nil {
		tb.Fatal(err)
	}
	compiled[mode] = w
	return w
}

// mustBodyModel compiles the positive model of the OpenAPI document the
// server ships, as internal/app does.
func mustBodyModel(tb testing.TB) *waf.BodyModel {
	tb.Helper()
	doc, err := os.ReadFile("../httpapi/openapi.json")
	if err != nil {
		tb.Fatal(err)
	}
	m, err := waf.NewBodyModel(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func jsonRequest(method, target, body string) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json")
	r.Header.Set("User-Agent", "bulwark-test")
	// net/http's server keeps Content-Length in the header map; httptest does not.
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return r
}

// sqlLookingRandom is 32 random bytes in base64url that the Core Rule Set's
// libinjection check (942100) takes for SQL injection, as about 1 in 4,000
// such values is.
const sqlLookingRandom = "4-GfFxSISFCytlay6CO--cnOtKnm5q8-_MKwqUcd_Ns"

func TestVerdicts(t *testing.T) {
	block := mustWAF(t, waf.Block)
	for _, c := range []struct {
		name          string
		r             *http.Request
		hostile       bool
		wantRule      int
		wantMalformed bool
	}{
		{"SQL injection in the query is hostile", httptest.NewRequest("GET", "/api/v1/products?q=1%27%20OR%20%271%27%3D%271", nil), true, 942100, false},
		{"SQL injection in a JSON field is hostile", jsonRequest("POST", "/api/v1/auth/login", `{"email":"a@b.example","password":"x' or 1=1--"}`), true, 942100, false},
		{"a plain read passes", httptest.NewRequest("GET", "/api/v1/products?limit=10", nil), false, 0, false},
		{"HTML in a staff product description passes", jsonRequest("PATCH", "/api/v1/admin/products/p_1", `{"description":"<p>Soft <b>wool</b> <a href=\"/x\">care</a></p>"}`), false, 0, false},
		{"a script in a staff product description passes the XSS rules (the layers behind own it)", jsonRequest("PATCH", "/api/v1/admin/products/p_1", `{"description":"<script>alert(1)</script>"}`), false, 0, false},
		{"HTML in another field of the same route is hostile", jsonRequest("PATCH", "/api/v1/admin/products/p_1", `{"name":"<script>alert(1)</script>"}`), true, 941100, false},
		{"HTML in a description elsewhere is hostile", jsonRequest("POST", "/api/v1/carts", `{"description":"<script>alert(1)</script>"}`), true, 941100, false},
		// libinjection reads this random base64url value as SQL; an OIDC
		// provider's code or a browser's WebAuthn answer may be one like it.
		{"a random base64url value in a query is hostile", httptest.NewRequest("GET", "/api/v1/products?q="+sqlLookingRandom, nil), true, 942100, false},
		{"an OIDC provider's code like it passes", httptest.NewRequest("GET", "/api/v1/auth/oidc/callback?state=abc&code="+sqlLookingRandom, nil), false, 0, false},
		{"the same value as the callback's state is hostile", httptest.NewRequest("GET", "/api/v1/auth/oidc/callback?code=abc&state="+sqlLookingRandom, nil), true, 942100, false},
		{"a passkey login answer like it passes", jsonRequest("POST", "/api/v1/auth/passkey/finish", `{"ceremony_id":"wac_x","credential":{"id":"`+sqlLookingRandom+`","response":{"signature":"`+sqlLookingRandom+`"}}}`), false, 0, false},
		{"a passkey registration answer like it passes", jsonRequest("POST", "/api/v1/me/passkeys/finish", `{"ceremony_id":"wac_x","credential":{"rawId":"`+sqlLookingRandom+`"}}`), false, 0, false},
		{"an MFA passkey answer like it passes", jsonRequest("POST", "/api/v1/auth/mfa", `{"ticket":"t","passkey":{"response":{"authenticatorData":"`+sqlLookingRandom+`"}}}`), false, 0, false},
		{"the same value as the ceremony id is hostile", jsonRequest("POST", "/api/v1/auth/passkey/finish", `{"ceremony_id":"`+sqlLookingRandom+`","credential":{}}`), true, 942100, false},
		{"the same value in a passkey answer elsewhere is hostile", jsonRequest("POST", "/api/v1/carts", `{"credential":{"id":"`+sqlLookingRandom+`"}}`), true, 942100, false},
		{"SQL injection in a passkey answer is still hostile", jsonRequest("POST", "/api/v1/auth/passkey/finish", `{"ceremony_id":"wac_x","credential":{"id":"1' UNION SELECT password FROM users--"}}`), true, 0, false},
		{"malformed JSON is refused as malformed", jsonRequest("POST", "/api/v1/auth/login", `{"email":`), true, 200002, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			check, v, err := block.Request(c.r, "192.0.2.1")
			if err != nil {
				t.Fatal(err)
			}
			defer check.Close()
			if v.Hostile != c.hostile || v.Refuse != c.hostile || v.Malformed != c.wantMalformed {
				t.Fatalf("verdict %+v, want hostile %v malformed %v", v, c.hostile, c.wantMalformed)
			}
			if c.wantRule != 0 && !slices.Contains(v.Rules, c.wantRule) {
				t.Fatalf("rules %v lack %d", v.Rules, c.wantRule)
			}
		})
	}
}

// TestPositiveModel: a body valid against its schema is inspected in its
// free text only, and that text is inspected in full; a body the schema does
// not accept (an attack in a typed field, an unknown field, a duplicate key)
// is inspected whole.
func TestPositiveModel(t *testing.T) {
	w := mustWAF(t, waf.Block)
	cart := id.New(id.Cart)
	checkout := func(cartID, cvc, name, country, extra string) *http.Request {
		return jsonRequest("POST", "/api/v1/checkout", `{"cart_id":"`+cartID+`","payment_method":"`+id.New(id.PaymentMethod)+`","cvc":"`+cvc+`",`+
			`"shipping_address":{"name":"`+name+`","line1":"1 Main St","city":"Berlin","postal_code":"10115","country":"`+country+`"}`+extra+`}`)
	}
	for _, c := range []struct {
		name         string
		r            *http.Request
		hostile      bool
		rule         int
		freeTextOnly bool
	}{
		{"a valid checkout passes on its free text", checkout(cart, "123", "Zoë O'Brien", "DE", ""), false, 0, true},
		{"markup in a free-text field of a valid body is hostile", checkout(cart, "123", "<script>alert(1)</script>", "DE", ""), true, 941100, true},
		{"SQL injection in an address line of a valid body is hostile", checkout(cart, "123", "1' UNION SELECT password FROM users--", "DE", ""), true, 942100, true},
		{"SQL injection in the cart id fails the schema and is hostile", checkout("1' UNION SELECT password FROM users--", "123", "B", "DE", ""), true, 942100, false},
		{"SQL injection in the CVC fails the schema and is hostile", checkout(cart, "1' OR '1'='1", "B", "DE", ""), true, 942100, false},
		{"markup in the country fails the schema and is hostile", checkout(cart, "123", "B", "<script>alert(1)</script>", ""), true, 941100, false},
		{"an unknown field fails the schema and is inspected", checkout(cart, "123", "B", "DE", `,"note":"<script>alert(1)</script>"`), true, 941100, false},
		{"a duplicate typed field fails the schema and is inspected", checkout(cart, "123", "B", "DE", `,"cvc":"1' OR '1'='1"`), true, 942100, false},
		{"a field named in another case fails the schema and is inspected", checkout(cart, "123", "B", "DE", `,"CVC":"1' OR '1'='1"`), true, 942100, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			check, v, err := w.Request(c.r, "192.0.2.1")
			if err != nil {
				t.Fatal(err)
			}
			defer check.Close()
			if v.Hostile != c.hostile || v.FreeTextOnly != c.freeTextOnly {
				t.Fatalf("verdict %+v, want hostile %v, free text only %v", v, c.hostile, c.freeTextOnly)
			}
			if c.rule != 0 && !slices.Contains(v.Rules, c.rule) {
				t.Fatalf("rules %v lack %d", v.Rules, c.rule)
			}
		})
	}
	t.Run("a form body to a JSON route is inspected whole", func(t *testing.T) {
		r := httptest.NewRequest("POST", "/api/v1/checkout", strings.NewReader("cart_id=1%27%20OR%20%271%27%3D%271"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		check, v, err := w.Request(r, "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		defer check.Close()
		if !v.Hostile || v.FreeTextOnly {
			t.Fatalf("verdict %+v, want hostile, inspected whole", v)
		}
	})
}

// failingBody fails like a client that stalls past the read timeout.
type failingBody struct{}

func (failingBody) Read([]byte) (int, error) { return 0, errors.New("i/o timeout") }
func (failingBody) Close() error             { return nil }

func TestFailsClosed(t *testing.T) {
	for _, mode := range []waf.Mode{waf.Block, waf.Detect} {
		w := mustWAF(t, mode)
		t.Run(string(mode)+": a body over the limit is refused", func(t *testing.T) {
			r := jsonRequest("POST", "/api/v1/carts", `{"note":"`+strings.Repeat("a", 4096)+`"}`)
			if _, _, err := w.Request(r, "192.0.2.1"); !errors.Is(err, waf.ErrBodyTooLarge) {
				t.Fatalf("err = %v, want ErrBodyTooLarge", err)
			}
		})
		t.Run(string(mode)+": a body that cannot be read is refused", func(t *testing.T) {
			r := jsonRequest("POST", "/api/v1/carts", "")
			r.Body = failingBody{}
			if _, _, err := w.Request(r, "192.0.2.1"); !errors.Is(err, waf.ErrBodyUnreadable) {
				t.Fatalf("err = %v, want ErrBodyUnreadable", err)
			}
		})
	}
	t.Run("detect mode finds but never refuses", func(t *testing.T) {
		check, v, err := mustWAF(t, waf.Detect).Request(httptest.NewRequest("GET", "/api/v1/products?q=%3Cscript%3Ealert(1)%3C/script%3E", nil), "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		defer check.Close()
		if !v.Hostile || v.Refuse {
			t.Fatalf("verdict %+v, want hostile and not refused", v)
		}
	})
}

func TestBodyHandedOnUnchanged(t *testing.T) {
	body := `{"name":"Zoë's \"best\" café ☕","qty":2}`
	r := jsonRequest("POST", "/api/v1/carts", body)
	check, v, err := mustWAF(t, waf.Block).Request(r, "192.0.2.1")
	if err != nil || v.Hostile {
		t.Fatalf("verdict %+v, err %v", v, err)
	}
	defer check.Close()
	got, err := io.ReadAll(r.Body)
	if err != nil || string(got) != body {
		t.Fatalf("handler reads %q (%v), want %q", got, err, body)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, c := range []waf.Config{
		{Mode: "loud", Paranoia: 1, InboundThreshold: 5, OutboundThreshold: 4, BodyLimit: 1},
		{Mode: waf.Block, Paranoia: 5, InboundThreshold: 5, OutboundThreshold: 4, BodyLimit: 1},
		{Mode: waf.Block, Paranoia: 1, InboundThreshold: 0, OutboundThreshold: 4, BodyLimit: 1},
	} {
		if _, err := waf.New(c); err == nil {
			t.Errorf("New(%+v) accepted it", c)
		}
	}
}

// BenchmarkRequest measures one request's inspection by the default rules: a
// product read and a checkout-sized JSON body.
func BenchmarkRequest(b *testing.B) {
	w := mustWAF(b, waf.Block)
	whole, err := waf.New(waf.Config{Mode: waf.Block, Paranoia: 1, InboundThreshold: 5, OutboundThreshold: 4, BodyLimit: 4096})
	if err != nil {
		b.Fatal(err)
	}
	// The checkout body bulwark-bench sends (internal/bench).
	benchCheckout := `{"cart_id":"` + id.New(id.Cart) + `","payment_method":"` + id.New(id.PaymentMethod) + `","cvc":"123",` +
		`"shipping_address":{"name":"B","line1":"1 Main St","city":"Berlin","postal_code":"10115","country":"DE"}}`
	for _, c := range []struct {
		name, method, target, body string
		w                          *waf.WAF
	}{
		{"product read", "GET", "/api/v1/products/p_01HXYZ", "", w},
		// Not the API's checkout shape (fails the schema): inspected whole.
		{"checkout", "POST", "/api/v1/checkout", `{"cart_id":"c_01HXYZABCDEF","payment_method_id":"pm_01HXYZABCDEF","shipping":{"name":"Zoë O'Brien","line1":"12 Rue de l'Église","city":"Saint-Étienne","postal_code":"42000","country":"FR"}}`, w},
		{"bench checkout", "POST", "/api/v1/checkout", benchCheckout, w},
		{"bench checkout without the model", "POST", "/api/v1/checkout", benchCheckout, whole},
	} {
		w := c.w
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu := processCPU(b)
			for b.Loop() {
				var r *http.Request
				if c.body == "" {
					r = httptest.NewRequest(c.method, c.target, nil)
				} else {
					r = jsonRequest(c.method, c.target, c.body)
				}
				check, v, err := w.Request(r, "192.0.2.1")
				if err != nil || v.Hostile {
					b.Fatalf("verdict %+v, err %v", v, err)
				}
				check.Close()
			}
			b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the CPU time the process has used, user and system, in
// nanoseconds: on a machine shared with other work it moves far less than
// the wall clock that ns/op measures (garbage collection on the other core
// counts, as it does in the server).
func processCPU(tb testing.TB) int64 {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// curlPOST is the request `curl -X POST http://<host>/path` sends: no body,
// so no Content-Length, Transfer-Encoding or Content-Type.
func curlPOST(host, path string) *http.Request {
	r := httptest.NewRequest("POST", path, nil)
	r.Host = host
	r.Header.Set("User-Agent", "curl/8.5.0")
	r.Header.Set("Accept", "*/*")
	r.Header.Set("Authorization", "Bearer x")
	return r
}

func TestTheShopsOwnCommandsPass(t *testing.T) {
	if got := waf.OwnHosts("127.0.0.1:8080"); !slices.Equal(got, []string{"127.0.0.1:8080"}) {
		t.Fatalf("OwnHosts(127.0.0.1:8080) = %v", got)
	}
	for _, listen := range []string{":8080", "0.0.0.0:8080", "[::]:8080", "127.0.0.1:0", "localhost:8080", "nonsense"} {
		if got := waf.OwnHosts(listen); got != nil {
			t.Fatalf("OwnHosts(%q) = %v, want none", listen, got)
		}
	}
	if got := waf.OwnHosts("[::1]:8080"); !slices.Equal(got, []string{"[::1]:8080"}) {
		t.Fatalf("OwnHosts([::1]:8080) = %v", got)
	}
	if _, err := waf.New(waf.Config{Mode: waf.Block, Paranoia: 1, InboundThreshold: 5, OutboundThreshold: 4, BodyLimit: 4096,
		OwnHosts: []string{`1.2.3.4" "id:1,phase:1,deny`}}); err == nil {
		t.Fatal("an own host that is not an IP literal was written into the rules")
	}

	w, err := waf.New(waf.Config{Mode: waf.Block, Paranoia: 1, InboundThreshold: 5, OutboundThreshold: 4, BodyLimit: 4096,
		OwnHosts: waf.OwnHosts("127.0.0.1:8080")})
	if err != nil {
		t.Fatal(err)
	}
	typed := curlPOST("127.0.0.1:8080", "/api/v1/me/mfa/totp")
	typed.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range []struct {
		name    string
		r       *http.Request
		hostile bool
		rule    int
	}{
		{"curl -X POST to the listen address passes (the README's TOTP enrolment)", curlPOST("127.0.0.1:8080", "/api/v1/me/mfa/totp"), false, 0},
		{"a neighbouring loopback address still scores", curlPOST("127.0.0.2:8080", "/api/v1/me/mfa/totp"), false, 920350},
		{"another numeric Host still scores", curlPOST("10.1.2.3", "/api/v1/carts"), false, 920350},
		{"the listen address on another port still scores", curlPOST("127.0.0.1:8081", "/api/v1/carts"), false, 920350},
		{"a bodyless POST declaring a body type still scores", typed, false, 920180},
	} {
		t.Run(c.name, func(t *testing.T) {
			check, v, err := w.Request(c.r, "127.0.0.1")
			if err != nil {
				t.Fatal(err)
			}
			defer check.Close()
			if v.Hostile != c.hostile {
				t.Fatalf("verdict %+v, want hostile %v", v, c.hostile)
			}
			if c.rule == 0 && len(v.Rules) != 0 {
				t.Fatalf("rules %v matched, want none", v.Rules)
			}
			if c.rule != 0 && !slices.Contains(v.Rules, c.rule) {
				t.Fatalf("rules %v lack %d", v.Rules, c.rule)
			}
		})
	}
	// Without the listen address configured, the numeric Host scores (3, not
	// enough alone to refuse); the bodyless POST no longer adds its 3.
	check, v, err := mustWAF(t, waf.Block).Request(curlPOST("127.0.0.1:8080", "/api/v1/me/mfa/totp"), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	if v.Hostile || !slices.Equal(v.Rules, []int{920350}) {
		t.Fatalf("without own hosts: %+v, want 920350 alone, not refused", v)
	}
}

// TestTokensPass: the secrets Bulwark mints (id.Token) reach the WAF in
// queries, JSON bodies and cookies, and none may ever look like an attack.
func TestTokensPass(t *testing.T) {
	w := mustWAF(t, waf.Block)
	for i := range 300 {
		tok := id.Token("bws_")
		r := jsonRequest("POST", "/api/v1/auth/reset/finish?state="+id.Token(""), `{"token":"`+tok+`","ticket":"`+id.Token("mft_")+`"}`)
		r.Header.Set("Cookie", "__Host-bulwark_oidc="+id.Token(""))
		check, v, err := w.Request(r, "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		check.Close()
		if v.Hostile {
			t.Fatalf("token %d (%s) refused: %v", i, tok, v.Rules)
		}
	}
}
