package fraudmodel_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/mac"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/bulwark-shop/bulwark/internal/fraudmodel"
)

func signer(t testing.TB) tink.MAC {
	t.Helper()
	h, err := keyset.NewHandle(mac.HMACSHA256Tag256KeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	m, err := mac.New(h)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var trainedAt = time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)

func train(t testing.TB, records []fraudmodel.Record) *fraudmodel.Model {
	t.Helper()
	m, err := fraudmodel.Train(records, fraudmodel.GeneratedFeatures, fraudmodel.Options{Version: "m1", Now: trainedAt})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestGeneratedHistoryTrainsWell: a model trained on four fifths of the
// generator's history separates fraud from the rest on the fifth it did
// not see (AUC ≥ 0.95, the goal), and what it blocks is mostly
// fraud.
func TestGeneratedHistoryTrainsWell(t *testing.T) {
	records := fraudmodel.Generate(20000, 1)
	tr, test := fraudmodel.Split(records, 0.2, 1)
	m := train(t, tr)
	got := fraudmodel.Evaluate(m, test, 75, 65)
	t.Logf("held out: %+v", got)
	if got.N != 4000 || got.Fraud < 100 {
		t.Fatalf("held-out part %+v", got)
	}
	if got.AUC < 0.95 {
		t.Fatalf("AUC %.3f on the held-out part, want at least 0.95", got.AUC)
	}
	if got.BlockPrecision < 0.9 || got.ReviewRecall < got.BlockRecall {
		t.Fatalf("precision at block %.3f (want ≥ 0.9), recall at review %.3f below block's %.3f", got.BlockPrecision, got.ReviewRecall, got.BlockRecall)
	}
}

func TestGenerateAndTrainAreDeterministic(t *testing.T) {
	a, b := fraudmodel.Generate(3000, 7), fraudmodel.Generate(3000, 7)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("one seed, two histories")
	}
	if reflect.DeepEqual(a, fraudmodel.Generate(3000, 8)) {
		t.Fatal("two seeds, one history")
	}
	if !reflect.DeepEqual(train(t, a), train(t, b)) {
		t.Fatal("one history, two models")
	}
}

func TestReasonsNameWhatPushed(t *testing.T) {
	m := train(t, fraudmodel.Generate(10000, 2))
	testing := map[string]float64{"amount": 2, "units": 1, "lines": 1, "guest": 1, "card_attempts_hour": 3, "card_declines_hour": 2,
		"address_attempts_hour": 40, "address_declines_hour": 35, "address_declines_day": 40, "address_cards_day": 25, "amount_vs_average": 1}
	score, reasons := m.Score(testing)
	if score < 75 || len(reasons) == 0 || len(reasons) > 3 {
		t.Fatalf("card testing scored %d, reasons %v", score, reasons)
	}
	if !strings.Contains(strings.Join(reasons, " "), "address_") {
		t.Fatalf("reasons %v do not name the address's velocity", reasons)
	}
	ordinary := map[string]float64{"amount": 40, "units": 1, "lines": 1, "account_age_hours": 9000, "prior_orders": 6, "amount_vs_average": 1.1,
		"card_attempts_hour": 1, "address_attempts_hour": 1, "address_cards_day": 1, "account_attempts_hour": 1}
	if score, _ := m.Score(ordinary); score >= 65 {
		t.Fatalf("an ordinary order scored %d", score)
	}
}

func TestTrainRefusesWhatItCannotLearnFrom(t *testing.T) {
	all := fraudmodel.Generate(500, 3)
	var legit []fraudmodel.Record
	for _, r := range all {
		if !r.IsFraud() {
			legit = append(legit, r)
		}
	}
	if _, err := fraudmodel.Train(legit, fraudmodel.GeneratedFeatures, fraudmodel.Options{}); err == nil {
		t.Fatal("trained on one class")
	}
	for _, names := range [][]string{nil, {"amount", "amount"}, {"Amount"}, {strings.Repeat("a", 65)}} {
		if _, err := fraudmodel.Train(all, names, fraudmodel.Options{}); err == nil {
			t.Fatalf("trained over features %q", names)
		}
	}
}

func TestModelFile(t *testing.T) {
	s := signer(t)
	m := train(t, fraudmodel.Generate(3000, 4))
	b, err := fraudmodel.Marshal(m, s)
	if err != nil {
		t.Fatal(err)
	}
	back, err := fraudmodel.Unmarshal(b, s)
	if err != nil || !reflect.DeepEqual(back, m) {
		t.Fatalf("read back %+v (%v)", back, err)
	}
	// Another shop's key.
	if _, err := fraudmodel.Unmarshal(b, signer(t)); !errors.Is(err, fraudmodel.ErrNotSigned) {
		t.Fatalf("another shop's model: %v", err)
	}
	// Edited after signing: a weight set to favour fraud.
	var f map[string]json.RawMessage
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(f["model"], []byte(`"bias":`), []byte(`"bias":-50000,"x":`), 1)
	f["model"] = edited
	tampered, _ := json.Marshal(f)
	if _, err := fraudmodel.Unmarshal(tampered, s); !errors.Is(err, fraudmodel.ErrNotSigned) {
		t.Fatalf("an edited model: %v", err)
	}
	for name, data := range map[string][]byte{
		"empty": nil, "not JSON": []byte("model"), "no signature": []byte(`{"model":{}}`),
		"too big": bytes.Repeat([]byte(" "), fraudmodel.MaxFileBytes+1), "unknown field": []byte(`{"model":{},"mac":"AA==","x":1}`),
	} {
		if _, err := fraudmodel.Unmarshal(data, s); err == nil {
			t.Errorf("%s: read", name)
		}
	}
	// Signed by this shop but unable to score: refused too.
	bad := *m
	bad.Weights = append([]float64(nil), m.Weights...)
	bad.Weights[0] = math.NaN()
	if _, err := fraudmodel.Marshal(&bad, s); err == nil {
		t.Fatal("a model with a NaN weight was written")
	}
}

func TestReadHistory(t *testing.T) {
	records := fraudmodel.Generate(200, 5)
	var jsonl bytes.Buffer
	if err := fraudmodel.WriteJSONL(&jsonl, records); err != nil {
		t.Fatal(err)
	}
	back, err := fraudmodel.ReadHistory(&jsonl)
	if err != nil || !reflect.DeepEqual(back, records) {
		t.Fatalf("JSONL read back differs (%v)", err)
	}
	csv := "label,chargeback,kind,amount,address_cards_day\nfraud,false,card_testing,2,30\nlegitimate,true,,80.5,1\n"
	got, err := fraudmodel.ReadHistory(strings.NewReader(csv))
	if err != nil || len(got) != 2 || got[0].Features["address_cards_day"] != 30 || !got[1].IsFraud() || got[1].Label != "legitimate" {
		t.Fatalf("CSV %+v (%v)", got, err)
	}
	for name, in := range map[string]string{
		"empty":            "  \n",
		"bad label":        `{"features":{},"label":"maybe"}`,
		"unknown field":    `{"features":{},"label":"fraud","card_number":"4242"}`,
		"NaN in CSV":       "label,amount\nfraud,NaN\n",
		"text in CSV":      "label,amount\nfraud,ten\n",
		"no label column":  "amount\n3\n",
		"bad feature name": "label,Amount\nfraud,3\n",
		"twice":            "label,amount,amount\nfraud,1,2\n",
		"long line":        `{"features":{"a":1},"label":"fraud","kind":"` + strings.Repeat("x", fraudmodel.MaxLineBytes) + `"}`,
	} {
		if _, err := fraudmodel.ReadHistory(strings.NewReader(in)); err == nil {
			t.Errorf("%s: read", name)
		}
	}
	if _, err := fraudmodel.ReadHistory(strings.NewReader("label,amount\nfraud,1\nfraud\n")); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("the error does not name the line: %v", err)
	}
}

func FuzzReadHistory(f *testing.F) {
	f.Add([]byte("label,amount\nfraud,1\n"))
	f.Add([]byte(`{"features":{"amount":3},"label":"legitimate","chargeback":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		records, err := fraudmodel.ReadHistory(bytes.NewReader(b))
		if err != nil || len(records) == 0 {
			return
		}
		var out bytes.Buffer
		if err := fraudmodel.WriteJSONL(&out, records); err != nil {
			t.Fatal(err)
		}
		again, err := fraudmodel.ReadHistory(&out)
		if err != nil || len(again) != len(records) {
			t.Fatalf("written records do not read back: %v", err)
		}
	})
}

func FuzzUnmarshalModel(f *testing.F) {
	s := signer(f)
	m, err := fraudmodel.Train(fraudmodel.Generate(500, 6), fraudmodel.GeneratedFeatures, fraudmodel.Options{Version: "f", Now: trainedAt})
	if err != nil {
		f.Fatal(err)
	}
	good, err := fraudmodel.Marshal(m, s)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"model":{"features":["a"]},"mac":"AA=="}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := fraudmodel.Unmarshal(b, s)
		if err != nil {
			return
		}
		score, _ := m.Score(map[string]float64{"amount": 10})
		if score < 0 || score > 99 {
			t.Fatalf("score %d", score)
		}
	})
}

func BenchmarkScore(b *testing.B) {
	m := train(b, fraudmodel.Generate(3000, 9))
	f := fraudmodel.Generate(1, 10)[0].Features
	b.ReportAllocs()
	for b.Loop() {
		m.Score(f)
	}
}
