package waf

import (
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/id"
)

var (
	shippedModel     *BodyModel
	shippedModelOnce sync.Once
)

// mustShippedModel compiles the body model of the OpenAPI document the
// server ships (internal/httpapi/openapi.json).
func mustShippedModel(tb testing.TB) *BodyModel {
	tb.Helper()
	var err error
	shippedModelOnce.Do(func() {
		var doc []byte
		if doc, err = os.ReadFile("../httpapi/openapi.json"); err == nil {
			shippedModel, err = NewBodyModel(doc)
		}
	})
	if err != nil || shippedModel == nil {
		tb.Fatalf("body model: %v", err)
	}
	return shippedModel
}

func TestIDShapedPatterns(t *testing.T) {
	for pattern, want := range map[string]bool{
		`^[0-9]{3,4}$`:    true,
		`^[A-Z]{2}$`:      true,
		`^[A-Z0-9]{1,3}$`: true,
		`^[ABCDEFGHJKLMNPQRSTUVWXYZ23456789]{4,32}$`: true,
		`^cart_[A-Za-z0-9]+$`:                        true,
		`^cat_`:                                      false, // open at the end: anything may follow
		`[0-9]{3}$`:                                  false, // open at the start
		`^[A-Z]{2}$|^x`:                              false, // one branch is open
		`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`:          false, // a dot spells java.lang.Runtime
		`^[a-z0-9]+(-[a-z0-9]+)*$`:                   false, // dashes spell SQL comments
		`^[\x21-\x7e]+$`:                             false, // quotes, brackets, slashes
		`^.{1,10}$`:                                  false,
		`(?i)^[a-z]+$`:                               false, // folding admits 'ſ' and 'K' (Kelvin)
		`^\w+$`:                                      true,
		`^\S+$`:                                      false,
		`^[a-z]+(?m)$`:                               false,
		`^(`:                                         false, // does not compile
	} {
		if got := idShaped(pattern); got != want {
			t.Errorf("idShaped(%q) = %v, want %v", pattern, got, want)
		}
	}
}

func TestBodyModelKeepsTheFreeText(t *testing.T) {
	m := mustShippedModel(t)
	post := func(target, ctype, body string) (string, bool) {
		method, path, ok := strings.Cut(target, " ")
		if !ok {
			method, path = "POST", target
		}
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		if ctype != "" {
			r.Header.Set("Content-Type", ctype)
		}
		free, ok := m.reduce(r, []byte(body))
		return string(free), ok
	}
	cart, pm := id.New(id.Cart), id.New(id.PaymentMethod)
	checkout := `{"cart_id":"` + cart + `","payment_method":"` + pm + `","cvc":"123","expected_total":{"amount":1999,"currency":"EUR"},` +
		`"shipping_address":{"name":"Zoë O'Brien","line1":"12 Rue de l'Église","city":"Saint-Étienne","postal_code":"42000","country":"FR","region":"42"}}`
	for _, c := range []struct {
		name, path, ctype, body string
		ok                      bool
		want                    string
	}{
		{"a checkout keeps its address text, not its ids, CVC, total, country or region", "/api/v1/checkout", "application/json", checkout, true,
			`{"shipping_address":{"city":"Saint-Étienne","line1":"12 Rue de l'Église","name":"Zoë O'Brien","postal_code":"42000"}}`},
		{"markup in free text is handed on as written", "/api/v1/checkout", "application/json; charset=utf-8",
			`{"cart_id":"` + cart + `","payment_method":"` + pm + `","cvc":"123","shipping_address":{"name":"<script>alert(1)</script>","line1":"1 Main St","city":"Berlin","postal_code":"10115","country":"DE"}}`, true,
			`{"shipping_address":{"city":"Berlin","line1":"1 Main St","name":"<script>alert(1)</script>","postal_code":"10115"}}`},
		{"an id not of the shape internal/id makes fails the schema: inspected whole", "/api/v1/checkout", "application/json",
			`{"cart_id":"cart_1","payment_method":"` + pm + `","cvc":"123","shipping_address_id":"` + id.New(id.Address) + `"}`, false, ""},
		{"a body with nothing free is an empty object", "PUT /api/v1/carts/cart_1/items/oli_1", "application/json", `{"quantity":3}`, true, `{}`},
		{"an attack in a typed field fails the schema: inspected whole", "/api/v1/checkout", "application/json",
			`{"cart_id":"c","payment_method":"p","cvc":"1' OR '1'='1","shipping_address_id":"adr_1"}`, false, ""},
		{"an unknown field fails the schema: inspected whole", "/api/v1/checkout", "application/json",
			`{"cart_id":"c","payment_method":"p","cvc":"123","shipping_address_id":"adr_1","note":"x"}`, false, ""},
		{"a duplicate key is inspected whole", "/api/v1/checkout", "application/json",
			`{"cart_id":"c","payment_method":"p","cvc":"123","cvc":"456","shipping_address_id":"adr_1"}`, false, ""},
		{"a field named in another case is inspected whole", "/api/v1/checkout", "application/json",
			`{"cart_id":"c","payment_method":"p","CVC":"1' OR '1'='1","cvc":"123","shipping_address_id":"adr_1"}`, false, ""},
		{"trailing data is inspected whole", "/api/v1/checkout", "application/json",
			`{"cart_id":"c","payment_method":"p","cvc":"123","shipping_address_id":"adr_1"} {"x":1}`, false, ""},
		{"invalid UTF-8 is inspected whole", "/api/v1/checkout", "application/json",
			"{\"cart_id\":\"c\xff\",\"payment_method\":\"p\",\"cvc\":\"123\",\"shipping_address_id\":\"adr_1\"}", false, ""},
		{"a body not declared as JSON is inspected whole", "/api/v1/checkout", "text/plain", checkout, false, ""},
		{"a route without a body schema is inspected whole", "/api/v1/nowhere", "application/json", checkout, false, ""},
		{"too many values are inspected whole (the engine refuses them)", "/api/v1/checkout", "application/json",
			`{"cart_id":"c","payment_method":"p","cvc":"123","shipping_address_id":"adr_1","expected_total":{"amount":1,"currency":"EUR"}` + strings.Repeat(`,"x":1`, 70) + `}`, false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := post(c.path, c.ctype, c.body)
			if ok != c.ok || got != c.want {
				t.Fatalf("reduce = %q, %v; want %q, %v", got, ok, c.want, c.ok)
			}
		})
	}
}

func TestBodyModelRoutes(t *testing.T) {
	m := mustShippedModel(t)
	if len(m.routes) < 40 {
		t.Fatalf("%d body routes compiled from the shipped document, want the API's 40-odd", len(m.routes))
	}
	for _, c := range []struct {
		method, path string
		want         bool
	}{
		{"POST", "/api/v1/checkout", true},
		{"GET", "/api/v1/checkout", false},
		{"POST", "/api/v1/checkout/extra", false},
		{"POST", "/api/v1//checkout", false},
	} {
		if got := m.schemaFor(c.method, c.path) != nil; got != c.want {
			t.Errorf("%s %s has a schema: %v, want %v", c.method, c.path, got, c.want)
		}
	}
}
