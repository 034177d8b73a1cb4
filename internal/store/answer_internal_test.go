package store

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/order"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/answer_v1.json")

// sampleAnswer is the order of the golden files: every field set.
func sampleAnswer() order.Order {
	eur := func(a int64) money.Money { return money.Money{Amount: a, Currency: "EUR"} }
	return order.Order{ID: "ord_golden", CustomerID: "usr_golden", Status: order.StatusPaid,
		Lines: []order.Line{
			{VariantID: "var_a", ProductID: "prod_a", Options: map[string]string{"size": "M"}, SKU: "A-1", Name: "Mug", Quantity: 2, UnitPrice: eur(1250), LineTotal: eur(2500),
				Discount: eur(0), Tax: eur(0)},
			{VariantID: "var_b", ProductID: "prod_b", SKU: "B-1", Name: "Tea", Quantity: 1, UnitPrice: eur(499), LineTotal: eur(499),
				Discount: eur(0), Tax: eur(0)},
		},
		// No discount, shipping option or tax: the answers stored before
		// orders had them read as this order too.
		Subtotal: eur(2999), Discount: eur(0), Shipping: eur(500), Tax: eur(0), Taxes: []order.TaxLine{},
		Total: eur(3499), Captured: eur(3499), Refunded: eur(1000),
		PaymentMethodID: "pm_golden", Brand: "visa", Last4: "4242", AuthorizationID: "auth_golden",
		ShippingAddress: order.Address{Name: "Ada Lovelace", Line1: "1 Main St", Line2: "Flat 2", City: "London",
			PostalCode: "N1 9GU", Country: "GB", Phone: "+44 20 7946 0000"},
		CustomerEmail: "ada@example.com", CustomerName: "Ada", CreatedAt: time.Date(2026, 12, 1, 23, 22, 22, 261e6, time.UTC)}
}

// sameOrder compares orders through their public JSON (times compare by instant).
func sameOrder(t *testing.T, what string, got, want order.Order) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if !bytes.Equal(g, w) {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// TestStoredAnswerShape pins the record's JSON. A field added to it keeps
// version 1 (answers stored before read it as its zero value; regenerate the
// file with -update-golden); a field renamed or removed would leave answers
// already stored unreadable, so it makes version 2, which reads version 1.
func TestStoredAnswerShape(t *testing.T) {
	golden := filepath.Join("testdata", "answer_v1.json")
	b, err := encodeAnswer(sampleAnswer())
	if err != nil {
		t.Fatal(err)
	}
	if *updateGolden {
		if err := os.WriteFile(golden, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != strings.TrimSpace(string(want)) {
		t.Errorf("the stored answer's JSON changed:\n got %s\nwant %s", b, want)
	}
	if !bytes.HasPrefix(b, []byte(`{"v":`)) {
		t.Error(`a plain record must start {"v": (sealLegacyAnswers tells records from older answers by it)`)
	}
	t.Run("version 1 reads back", func(t *testing.T) {
		o, err := decodeAnswer(want)
		if err != nil {
			t.Fatal(err)
		}
		sameOrder(t, "answer_v1.json", o, sampleAnswer())
	})
	t.Run("an answer from before the record reads back", func(t *testing.T) {
		// The public Order JSON as versions before the record stored it.
		legacy, err := os.ReadFile(filepath.Join("testdata", "answer_legacy.json"))
		if err != nil {
			t.Fatal(err)
		}
		o, err := decodeAnswer(legacy)
		if err != nil {
			t.Fatal(err)
		}
		// Those versions had no variants: the lines name products only.
		want := sampleAnswer()
		for i := range want.Lines {
			want.Lines[i].VariantID, want.Lines[i].Options = "", nil
		}
		sameOrder(t, "answer_legacy.json", o, want)
	})
	t.Run("a version this program does not know is an error", func(t *testing.T) {
		if _, err := decodeAnswer([]byte(`{"v":2,"order":{}}`)); err == nil {
			t.Error("version 2 read as an order")
		}
	})
}

// TestStoredAnswerCarriesEveryOrderField fills every field of an order, at
// every depth, and checks the record gives it back: a field added to
// order.Order (or its lines) and not to the record fails here, instead of
// vanishing from replays.
func TestStoredAnswerCarriesEveryOrderField(t *testing.T) {
	var o order.Order
	fill(t, reflect.ValueOf(&o).Elem(), "Order")
	b, err := encodeAnswer(o)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeAnswer(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, o) {
		t.Errorf("the stored answer loses a field: add it to storedAnswer (internal/store/answer.go), then regenerate testdata/answer_v1.json with go test ./internal/store -run TestStoredAnswerShape -update-golden\n got %+v\nwant %+v", got, o)
	}
}

// fill sets every field under v to a value that is not its zero.
func fill(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	switch v.Kind() {
	case reflect.String:
		v.SetString(path)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(int64(len(path)))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Float64:
		v.SetFloat(float64(len(path)) + 0.5)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(t, s.Index(i), path+"[i]")
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for i := range 2 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(t, k, fmt.Sprintf("%s[key%d]", path, i))
			fill(t, e, fmt.Sprintf("%s[value%d]", path, i))
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem(), path)
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Date(2026, 12, 2, 3, 4, 5, 6e6, time.UTC)))
			return
		}
		for i := range v.NumField() {
			fill(t, v.Field(i), path+"."+v.Type().Field(i).Name)
		}
	default:
		t.Fatalf("%s: fill cannot set a %s; teach it", path, v.Kind())
	}
}
