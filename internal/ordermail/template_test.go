package ordermail_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/ordermail"
	"github.com/bulwark-shop/bulwark/internal/webhook"
)

func TestDefaultsParseAndRender(t *testing.T) {
	for _, name := range ordermail.Names() {
		t.Run(name, func(t *testing.T) {
			d := ordermail.Default(name)
			if d.Custom || d.Subject == "" || d.Body == "" {
				t.Fatalf("default %+v", d)
			}
			// The defaults pass every check a shop's template passes,
			// rendering the samples included (at run time they are not
			// rendered again: see parseTemplate).
			if _, err := ordermail.Parse(name, d.Subject, d.Body); err != nil {
				t.Fatalf("the default fails the checks: %v", err)
			}
			subject, body, err := d.Render(ordermail.Sample())
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(subject, "ord_sample") || !strings.Contains(body, "https://shop.example/orders/ord_sample") {
				t.Fatalf("subject %q body %q", subject, body)
			}
		})
	}
}

func TestConfirmationShowsTheOrder(t *testing.T) {
	eur := func(a int64) money.Money { return money.Money{Amount: a, Currency: "EUR"} }
	o := order.Order{ID: "ord_abc", Status: order.StatusPaid, CustomerEmail: "pat@example.com", CustomerName: "Pat",
		Lines:    []order.Line{{Name: "Mug", SKU: "MUG-1", Quantity: 2, UnitPrice: eur(1250), LineTotal: eur(2500)}},
		Subtotal: eur(2500), Shipping: eur(490), Tax: eur(0), Total: eur(2990), Discount: eur(0)}
	_, body, err := ordermail.Default(ordermail.Confirmation).Render(ordermail.DataFor(ordermail.Content{Order: o}, "https://shop.example/"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Hello Pat", "ord_abc", "2 x Mug (MUG-1): 25.00 EUR", "Total: 29.90 EUR", "https://shop.example/orders/ord_abc"} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "Discount") {
		t.Errorf("no discount, yet:\n%s", body)
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		m    money.Money
		want string
	}{
		{money.Money{Amount: 1250, Currency: "EUR"}, "12.50 EUR"},
		{money.Money{Amount: 5, Currency: "USD"}, "0.05 USD"},
		{money.Money{Amount: -300, Currency: "EUR"}, "-3.00 EUR"},
		{money.Money{Amount: 1200, Currency: "JPY"}, "1200 JPY"},
		{money.Money{Amount: 1500, Currency: "KWD"}, "1.500 KWD"},
	} {
		if got := ordermail.Format(c.m); got != c.want {
			t.Errorf("Format(%v) = %q, want %q", c.m, got, c.want)
		}
	}
}

func TestKindsAndRefs(t *testing.T) {
	for typ, want := range map[string]string{webhook.OrderCreated: ordermail.Confirmation, webhook.OrderFulfilled: ordermail.Shipment,
		webhook.OrderCancelled: ordermail.Cancellation, webhook.RefundCreated: ordermail.Refund, webhook.ReturnRequested: ordermail.Return,
		webhook.OrderPaid: "", webhook.ProductUpdated: ""} {
		if got := ordermail.KindFor(typ); got != want {
			t.Errorf("KindFor(%s) = %q, want %q", typ, got, want)
		}
	}
	for _, c := range []struct {
		data       string
		order, ref string
		ok         bool
	}{
		{`{"id":"ord_1","status":"paid"}`, "ord_1", "", true},
		{`{"id":"ref_1","amount":{},"order":{"id":"ord_1"}}`, "ord_1", "ref_1", true},
		{`{"id":"ret_1","order_id":"ord_1"}`, "ord_1", "ret_1", true},
		{`{"id":"prod_1"}`, "", "", false},
		{`[1]`, "", "", false},
	} {
		o, r, ok := ordermail.Refs([]byte(c.data))
		if o != c.order || r != c.ref || ok != c.ok {
			t.Errorf("Refs(%s) = %q %q %v", c.data, o, r, ok)
		}
	}
}

// TestHostileTemplatesAreRefused: each is refused by Parse with
// validation_failed, quickly.
func TestHostileTemplatesAreRefused(t *testing.T) {
	const subject = "Order {{.OrderNumber}}"
	for _, c := range []struct{ name, subject, body string }{
		{"header injection in the subject", "Hi\r\nBcc: victim@example.com", "x"},
		{"a line feed in the subject", "Hi\nBcc: victim@example.com", "x"},
		{"unknown field", subject, "{{.CustomerEmail}}"},
		{"unknown field in a branch sample data does not take", subject, `{{if eq .Status "nope"}}{{.Password}}{{end}}`},
		{"a method-like chain", subject, "{{.Lines.Foo}}"},
		{"infinite range over an integer", subject, "{{range 1000000000000}}{{end}}"},
		{"range over a variable", subject, "{{$n := 1000000000}}{{range $n}}{{end}}"},
		{"nested range", subject, "{{range .Lines}}{{range $.Lines}}x{{end}}{{end}}"},
		{"huge output", subject, "{{range .Lines}}" + strings.Repeat("A", 3000) + "{{end}}"},
		{"huge output from data", subject, "{{range .Lines}}" + strings.Repeat("{{.Name}}", 400) + "{{end}}"},
		{"printf width", subject, `{{printf "%0999999d" 1}}`},
		{"call", subject, "{{call .OrderURL}}"},
		{"define and recursion", subject, `{{define "x"}}{{template "x"}}{{end}}{{template "x"}}`},
		{"block", subject, `{{block "b" .}}x{{end}}`},
		{"html function", subject, "{{html .OrderURL}}"},
		{"too long a body", subject, strings.Repeat("x", ordermail.MaxBodyTemplate+1)},
		{"too long a subject", strings.Repeat("x", ordermail.MaxSubjectTemplate+1), "x"},
		{"not UTF-8", subject, "\xff\xfe"},
		{"NUL", subject, "a\x00b"},
		{"does not parse", subject, "{{if}}"},
		{"empty body", subject, ""},
		{"empty subject output", "{{.Carrier}}", "x"},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			_, err := ordermail.Parse(ordermail.Confirmation, c.subject, c.body)
			if apperr.Code(err) != apperr.CodeValidation {
				t.Fatalf("Parse = %v, want validation_failed", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("refusing took %v", d)
			}
		})
	}
	t.Run("an unknown mail", func(t *testing.T) {
		if _, err := ordermail.Parse("invoice", subject, "x"); apperr.Code(err) != apperr.CodeValidation {
			t.Fatalf("Parse = %v", err)
		}
	})
}

func TestGoodTemplatesAreAccepted(t *testing.T) {
	for _, body := range []string{
		"Plain text, no actions.",
		"{{range $i, $l := .Lines}}{{$i}}: {{$l.Name}} x{{$l.Quantity}}{{if gt $l.Quantity 1}} each {{$l.UnitPrice}}{{end}}\n{{end}}",
		"{{with .TrackingNumber}}Track: {{.}}{{else}}No tracking{{end}} {{len .Lines}} {{(index .Lines 0).Name}}",
		"{{/* a comment */}}{{range .Lines}}{{if eq .SKU \"X\"}}{{break}}{{end}}{{.Name}}{{end}}",
	} {
		tpl, err := ordermail.Parse(ordermail.Shipment, "Shipped: {{.OrderNumber}}", body)
		if err != nil {
			t.Fatalf("Parse(%q) = %v", body, err)
		}
		if _, _, err := tpl.Render(ordermail.Sample()); err != nil {
			t.Fatalf("Render(%q) = %v", body, err)
		}
	}
}

// TestSubjectStaysOneLine: a line break that data brings into the subject
// (a product's name, a customer's) becomes a space.
func TestSubjectStaysOneLine(t *testing.T) {
	tpl, err := ordermail.Parse(ordermail.Confirmation, "Hi {{.CustomerName}}", "x")
	if err != nil {
		t.Fatal(err)
	}
	d := ordermail.Sample()
	d.CustomerName = "Eve\r\nBcc: victim@example.com"
	subject, _, err := tpl.Render(d)
	if err != nil || strings.ContainsAny(subject, "\r\n") {
		t.Fatalf("subject %q, %v", subject, err)
	}
}

// FuzzParse: whatever a template holds, Parse returns quickly, and what it
// accepts renders on the sample data within the bounds, with a one-line subject.
func FuzzParse(f *testing.F) {
	for _, name := range ordermail.Names() {
		d := ordermail.Default(name)
		f.Add(d.Subject, d.Body)
	}
	f.Add("{{.OrderNumber}}", "{{range .Lines}}{{.Name}}{{end}}")
	f.Add("x\r\nBcc: y", "{{range 10}}{{end}}")
	f.Add("{{.X}}", `{{define "a"}}{{template "a"}}{{end}}`)
	f.Fuzz(func(t *testing.T, subject, body string) {
		tpl, err := ordermail.Parse(ordermail.Refund, subject, body)
		if err != nil {
			if apperr.Code(err) != apperr.CodeValidation {
				t.Fatalf("Parse error %v is not validation_failed", err)
			}
			return
		}
		s, b, err := tpl.Render(ordermail.Sample())
		if err != nil {
			t.Fatalf("accepted, then failed on the sample: %v", err)
		}
		if strings.ContainsAny(s, "\r\n") || len(s) > ordermail.MaxSubject || len(b) > ordermail.MaxBody {
			t.Fatalf("subject %q (%d), body of %d bytes", s, len(s), len(b))
		}
	})
}
