package ordermail

import (
	"embed"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"text/template/parse"
	"time"
	"unicode/utf8"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/cart"
	"github.com/bulwark-shop/bulwark/internal/catalog"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/order"
)

// Bounds of a template and of what it renders.
const (
	MaxSubjectTemplate = 512       // bytes of a subject template
	MaxBodyTemplate    = 16 << 10  // bytes of a body template
	MaxSubject         = 998       // bytes of a rendered subject (RFC 5322's line limit)
	MaxBody            = 256 << 10 // bytes of a rendered body
	// execTimeout bounds one rendering. Parse's rules already bound it (no
	// recursion, no nested range, range only over the order's lines); the
	// clock is the second line.
	execTimeout = 250 * time.Millisecond
)

// Data is everything a template may show, and the only thing: a template
// names its fields ({{.OrderNumber}}, {{range .Lines}}{{.Name}}{{end}}) and
// nothing else. Amounts are formatted already ("12.50 EUR"). Fields that
// have no value for a mail are empty.
type Data struct {
	OrderNumber    string
	OrderURL       string // public-url/orders/<order number>
	ShopURL        string // public-url
	CustomerName   string // the customer's name, as their account holds it
	Status         string
	Currency       string
	Lines          []Line
	Subtotal       string
	HasDiscount    bool
	Discount       string
	DiscountCode   string
	Shipping       string
	ShippingMethod string
	Tax            string
	TaxIncluded    bool
	Total          string
	Refunded       string // the order's refunds in all
	RefundAmount   string // this refund (refund mail)
	Carrier        string // shipment mail
	TrackingNumber string // shipment mail
}

// Line is an order line in Data.
type Line struct {
	Name      string
	SKU       string
	Quantity  int
	UnitPrice string
	Total     string
}

// Template is a parsed, checked mail template.
type Template struct {
	Name          string
	Subject, Body string // the source
	Custom        bool   // the shop's; false for the default
	UpdatedAt     time.Time
	subject, body *template.Template
}

//go:embed templates
var defaults embed.FS

// Default returns the embedded template of the mail name; it panics for a
// name not in Names (a bug), and Parse of every default is tested. The
// defaults are parsed and checked once.
func Default(name string) Template {
	t, ok := parsedDefaults()[name]
	if !ok {
		panic(fmt.Sprintf("ordermail: no default template %q", name))
	}
	return t
}

var parsedDefaults = sync.OnceValue(func() map[string]Template {
	out := map[string]Template{}
	for _, name := range Names() {
		subject, err1 := defaults.ReadFile("templates/" + name + ".subject")
		body, err2 := defaults.ReadFile("templates/" + name + ".body")
		if err := errors.Join(err1, err2); err != nil {
			panic(fmt.Sprintf("ordermail: no default template %q: %v", name, err))
		}
		t, err := parseTemplate(name, strings.TrimRight(string(subject), "\n"), string(body), false)
		if err != nil {
			panic(fmt.Sprintf("ordermail: default template %q: %v", name, err))
		}
		out[name] = t
	}
	return out
})

// knownName reports whether name is one of the mails.
func knownName(name string) bool {
	for _, n := range Names() {
		if n == name {
			return true
		}
	}
	return false
}

// Parse checks a template and returns it parsed: a validation_failed error
// naming the field (subject, body) and the problem when it is too long, not
// UTF-8, holds a line break in the subject (header injection), uses anything
// but the fields of Data and the functions and, or, not, len, index, eq, ne,
// lt, le, gt, ge, defines or calls templates, ranges over anything but
// .Lines or within another range, or fails on sample data or renders too much.
func Parse(name, subject, body string) (Template, error) {
	return parseTemplate(name, subject, body, true)
}

// parseTemplate is Parse; rendered says whether to render the samples, which are
// time-bounded (execTimeout). The embedded defaults skip them at run time:
// a slow moment (a loaded machine) must not make the shop's own defaults
// fail, and crash the worker; their rendering of the samples is tested
// (TestDefaultsParseAndRender).
func parseTemplate(name, subject, body string, rendered bool) (Template, error) {
	var v apperr.Validator
	v.Check(knownName(name), "name", "one of "+strings.Join(Names(), ", "))
	v.Check(len(subject) > 0 && len(subject) <= MaxSubjectTemplate && utf8.ValidString(subject), "subject",
		fmt.Sprintf("UTF-8 text of 1 to %d bytes", MaxSubjectTemplate))
	v.Check(!strings.ContainsAny(subject, "\r\n"), "subject", "must not contain a line break")
	v.Check(len(body) > 0 && len(body) <= MaxBodyTemplate && utf8.ValidString(body), "body",
		fmt.Sprintf("UTF-8 text of 1 to %d bytes", MaxBodyTemplate))
	v.CheckText("subject", subject, 0, MaxSubjectTemplate, false)
	v.CheckText("body", body, 0, MaxBodyTemplate, true)
	if err := v.Err(); err != nil {
		return Template{}, err
	}
	t := Template{Name: name, Subject: subject, Body: body}
	var err error
	if t.subject, err = compile(name+".subject", subject); err != nil {
		v.Check(false, "subject", err.Error())
	}
	if t.body, err = compile(name+".body", body); err != nil {
		v.Check(false, "body", err.Error())
	}
	if err := v.Err(); err != nil {
		return Template{}, err
	}
	// Rendered against sample data: a template that fails there (a field
	// used the wrong way) or renders too much is refused now, not at sending.
	// The large sample is the largest order a cart makes (cart.MaxLines
	// lines with the longest names), so what is accepted fits any order.
	samples := []Data{Sample(), sparseSample(), largeSample()}
	if !rendered {
		samples = nil
	}
	for _, d := range samples {
		if _, err := renderSubject(t.subject, d); err != nil {
			v.Check(false, "subject", err.Error())
			break
		}
		if _, err := render(t.body, d, MaxBody); err != nil {
			v.Check(false, "body", err.Error())
			break
		}
	}
	if err := v.Err(); err != nil {
		return Template{}, err
	}
	return t, nil
}

// allowedFuncs are the functions a template may call: text/template's
// builtins that compute on what they are given and reach nothing else.
// printf and its kin are left out (a width of a million characters, in a
// variable no one prints, costs memory and time without output), and so is
// call.
var allowedFuncs = map[string]bool{"and": true, "or": true, "not": true, "len": true, "index": true,
	"eq": true, "ne": true, "lt": true, "le": true, "gt": true, "ge": true}

// knownFields is every field name of Data and Line.
var knownFields = func() map[string]bool {
	out := map[string]bool{}
	for _, t := range []reflect.Type{reflect.TypeFor[Data](), reflect.TypeFor[Line]()} {
		for i := range t.NumField() {
			out[t.Field(i).Name] = true
		}
	}
	return out
}()

func compile(name, src string) (*template.Template, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, err
	}
	if len(t.Templates()) != 1 {
		return nil, errors.New("define and block are not allowed")
	}
	if t.Tree == nil || t.Tree.Root == nil {
		return nil, errors.New("empty template")
	}
	if err := check(t.Tree.Root, false); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return t, nil
}

// check walks a template's parse tree and refuses what Parse documents.
func check(n parse.Node, inRange bool) error {
	switch n := n.(type) {
	case nil:
		return nil
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := check(c, inRange); err != nil {
				return err
			}
		}
	case *parse.TextNode, *parse.CommentNode, *parse.BreakNode, *parse.ContinueNode,
		*parse.StringNode, *parse.NumberNode, *parse.BoolNode, *parse.DotNode, *parse.NilNode:
	case *parse.ActionNode:
		return checkPipe(n.Pipe, inRange)
	case *parse.IfNode:
		return checkBranch(&n.BranchNode, inRange)
	case *parse.WithNode:
		return checkBranch(&n.BranchNode, inRange)
	case *parse.RangeNode:
		if inRange {
			return errors.New("a range within a range is not allowed")
		}
		if !rangesOverLines(n.Pipe) {
			return errors.New("range is allowed over .Lines only")
		}
		if err := checkPipe(n.Pipe, false); err != nil {
			return err
		}
		if err := check(n.List, true); err != nil {
			return err
		}
		return check(n.ElseList, inRange)
	case *parse.TemplateNode:
		return errors.New("template calls are not allowed")
	case *parse.PipeNode:
		return checkPipe(n, inRange)
	case *parse.CommandNode:
		for _, a := range n.Args {
			if err := check(a, inRange); err != nil {
				return err
			}
		}
	case *parse.IdentifierNode:
		if !allowedFuncs[n.Ident] {
			return fmt.Errorf("function %q is not allowed", n.Ident)
		}
	case *parse.FieldNode:
		return checkFields(n.Ident)
	case *parse.VariableNode:
		return checkFields(n.Ident[1:])
	case *parse.ChainNode:
		if err := check(n.Node, inRange); err != nil {
			return err
		}
		return checkFields(n.Field)
	default:
		return fmt.Errorf("%s is not allowed", n.String())
	}
	return nil
}

func checkBranch(b *parse.BranchNode, inRange bool) error {
	if err := checkPipe(b.Pipe, inRange); err != nil {
		return err
	}
	if err := check(b.List, inRange); err != nil {
		return err
	}
	return check(b.ElseList, inRange)
}

func checkPipe(p *parse.PipeNode, inRange bool) error {
	if p == nil {
		return nil
	}
	for _, c := range p.Cmds {
		if err := check(c, inRange); err != nil {
			return err
		}
	}
	return nil
}

func checkFields(idents []string) error {
	for _, f := range idents {
		if !knownFields[f] {
			return fmt.Errorf("unknown field %q (see the fields of ordermail.Data in docs/API.md)", f)
		}
	}
	return nil
}

// rangesOverLines reports whether a range's pipeline is .Lines or $.Lines
// alone: the order's lines, bounded by the cart's limit, and nothing a
// template could make long (an integer, a string).
func rangesOverLines(p *parse.PipeNode) bool {
	if p == nil || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return false
	}
	switch a := p.Cmds[0].Args[0].(type) {
	case *parse.FieldNode:
		return len(a.Ident) == 1 && a.Ident[0] == "Lines"
	case *parse.VariableNode:
		return len(a.Ident) == 2 && a.Ident[0] == "$" && a.Ident[1] == "Lines"
	}
	return false
}

// errTooLong stops a rendering that writes more than its bound.
var errTooLong = errors.New("renders more than the limit")

// boundedWriter keeps what is written up to max bytes and until deadline.
type boundedWriter struct {
	b        strings.Builder
	max      int
	deadline time.Time
}

func (w *boundedWriter) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > w.max {
		return 0, fmt.Errorf("%w of %d bytes", errTooLong, w.max)
	}
	if time.Now().After(w.deadline) {
		return 0, errors.New("takes too long to render")
	}
	return w.b.Write(p)
}

// render executes t on d, bounded in output and time. The rendering runs
// aside so that the caller's wait is bounded even if a rule above failed to
// bound the template's work.
func render(t *template.Template, d Data, max int) (string, error) {
	w := &boundedWriter{max: max, deadline: time.Now().Add(execTimeout)}
	done := make(chan error, 1)
	go func() { done <- t.Execute(w, d) }()
	timer := time.NewTimer(execTimeout)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			return "", cleanError(err)
		}
		return w.b.String(), nil
	case <-timer.C:
		return "", errors.New("takes too long to render")
	}
}

// cleanError keeps a template error short: its first line.
func cleanError(err error) error {
	s := err.Error()
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300]
	}
	return errors.New(s)
}

// renderSubject renders a subject on one line: a line break that data
// brought in (a product's name) becomes a space, never a header.
func renderSubject(t *template.Template, d Data) (string, error) {
	s, err := render(t, d, MaxSubject)
	if err != nil {
		return "", err
	}
	s = strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)), " ")
	if s == "" {
		return "", errors.New("renders an empty subject")
	}
	return s, nil
}

// Render makes the subject and body of t for d.
func (t Template) Render(d Data) (subject, body string, err error) {
	if subject, err = renderSubject(t.subject, d); err != nil {
		return "", "", fmt.Errorf("render subject of %s mail: %w", t.Name, err)
	}
	if body, err = render(t.body, d, MaxBody); err != nil {
		return "", "", fmt.Errorf("render body of %s mail: %w", t.Name, err)
	}
	return subject, body, nil
}

// Sample is the data a template is tried on when saved: every field set.
func Sample() Data {
	return Data{OrderNumber: "ord_sample", OrderURL: "https://shop.example/orders/ord_sample", ShopURL: "https://shop.example",
		CustomerName: "Sam Sample", Status: order.StatusPaid, Currency: "EUR",
		Lines: []Line{{Name: "Blue mug", SKU: "MUG-1", Quantity: 2, UnitPrice: "12.50 EUR", Total: "25.00 EUR"},
			{Name: "Tea", SKU: "TEA-1", Quantity: 1, UnitPrice: "5.00 EUR", Total: "5.00 EUR"}},
		Subtotal: "30.00 EUR", HasDiscount: true, Discount: "3.00 EUR", DiscountCode: "WELCOME", Shipping: "4.90 EUR",
		ShippingMethod: "Standard", Tax: "5.13 EUR", TaxIncluded: true, Total: "31.90 EUR", Refunded: "5.00 EUR",
		RefundAmount: "5.00 EUR", Carrier: "Post", TrackingNumber: "TRACK123"}
}

// sparseSample is Sample with the other branches: no name, discount,
// tracking or refund, one line.
func sparseSample() Data {
	d := Sample()
	d.CustomerName, d.HasDiscount, d.Discount, d.DiscountCode, d.TaxIncluded = "", false, "0.00 EUR", "", false
	d.Carrier, d.TrackingNumber, d.RefundAmount, d.Refunded, d.ShippingMethod = "", "", "", "0.00 EUR", ""
	d.Lines = d.Lines[:1]
	return d
}

// largeSample is the largest order: cart.MaxLines lines whose names are
// catalog.MaxNameLength characters of four bytes each.
func largeSample() Data {
	d := Sample()
	name := strings.Repeat("\U0001F600", catalog.MaxNameLength)
	d.Lines = make([]Line, cart.MaxLines)
	for i := range d.Lines {
		d.Lines[i] = Line{Name: name, SKU: strings.Repeat("S", 64), Quantity: 999, UnitPrice: "99999999.99 EUR", Total: "99999999.99 EUR"}
	}
	return d
}

// DataFor builds the data of a mail about c; publicURL is the shop's public-url.
func DataFor(c Content, publicURL string) Data {
	o := c.Order
	base := strings.TrimRight(publicURL, "/")
	d := Data{OrderNumber: o.ID, OrderURL: base + "/orders/" + o.ID, ShopURL: base, CustomerName: o.CustomerName,
		Status: o.Status, Currency: o.Total.Currency, Lines: []Line{},
		Subtotal: Format(o.Subtotal), HasDiscount: o.Discount.Amount != 0, Discount: Format(o.Discount), DiscountCode: o.DiscountCode,
		Shipping: Format(o.Shipping), Tax: Format(o.Tax), TaxIncluded: o.TaxInclusive, Total: Format(o.Total),
		Refunded: Format(o.Refunded), Carrier: c.Carrier, TrackingNumber: c.TrackingNumber}
	if o.ShippingOption != nil {
		d.ShippingMethod = o.ShippingOption.Name
	}
	if c.RefundAmount.Currency != "" {
		d.RefundAmount = Format(c.RefundAmount)
	}
	for _, l := range o.Lines {
		d.Lines = append(d.Lines, Line{Name: l.Name, SKU: l.SKU, Quantity: l.Quantity, UnitPrice: Format(l.UnitPrice), Total: Format(l.LineTotal)})
	}
	return d
}

// Format writes an amount for people: "12.50 EUR", "1200 JPY", "-3.00 EUR".
func Format(m money.Money) string {
	digits := money.Digits(m.Currency)
	a, sign := m.Amount, ""
	if a < 0 {
		a, sign = -a, "-"
	}
	s := strconv.FormatInt(a, 10)
	if digits > 0 {
		for len(s) <= digits {
			s = "0" + s
		}
		s = s[:len(s)-digits] + "." + s[len(s)-digits:]
	}
	return strings.TrimSpace(sign + s + " " + m.Currency)
}
