package discover_test

import (
	"bytes"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/bulwark-shop/bulwark/internal/discover"
)

func kinds(ms []discover.Match, k discover.Kind) []discover.Match {
	var out []discover.Match
	for _, m := range ms {
		if m.Kind == k {
			out = append(out, m)
		}
	}
	return out
}

func TestCards(t *testing.T) {
	for _, c := range []struct {
		name, text string
		want       string // the masked sample, "" for none
		test       bool
	}{
		{"visa", "paid with 4539578763621486 today", "453957******1486", false},
		{"visa, spaced", "card: 4539 5787 6362 1486.", "453957******1486", false},
		{"visa, dashed", "4539-5787-6362-1486", "453957******1486", false},
		{"a published test number", "4242424242424242", "424242******4242", true},
		{"2-series mastercard", "2221000000000009", "222100******0009", false},
		{"19-digit visa", "4000000000000000006", "400000*********0006", false},
		{"amex, grouped 4-6-5", "3782 822463 10005", "3782*******0005", true},
		{"in a JSON string", `{"pan":"5425233430109903"}`, "542523******9903", false},
		{"after a quantity", "qty 2 4539 5787 6362 1486", "453957******1486", false},
		{"Luhn fails", "4539578763621487", "", false},
		{"no issuer", "9539578763621482", "", false},
		{"wrong length for the brand", "453957876362148", "", false},
		{"inside a longer number", "1234539578763621486", "", false},
		{"inside an id", "ord_4539578763621486", "", false},
		{"followed by letters", "4539578763621486abc", "", false},
		{"mixed separators", "4539 5787-6362 1486", "", false},
		{"odd grouping", "45395 787636 21486", "", false},
		{"a millisecond timestamp", "1764500000000", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := kinds(discover.Find([]byte(c.text)), discover.Card)
			if c.want == "" {
				if len(got) != 0 {
					t.Fatalf("found %+v", got)
				}
				return
			}
			if len(got) != 1 || got[0].Sample != c.want || got[0].Test != c.test {
				t.Fatalf("found %+v, want %s (test %t)", got, c.want, c.test)
			}
		})
	}
}

func TestOtherKinds(t *testing.T) {
	for _, c := range []struct {
		name, text string
		kind       discover.Kind
		want       string
	}{
		{"iban", "pay to DE89370400440532013000 please", discover.IBAN, "DE89**************3000"},
		{"iban in groups", "GB82 WEST 1234 5698 7654 32", discover.IBAN, "GB82**************5432"},
		{"iban, bad check", "DE89370400440532013001", discover.IBAN, ""},
		{"iban, wrong length", "DE8937040044053201300", discover.IBAN, ""},
		{"email", "write to ada.lovelace@example.com.", discover.Email, "a***@example.com"},
		{"not an email", "user@localhost", discover.Email, ""},
		{"phone", "call +44 20 7946 0958 now", discover.Phone, "+**********58"},
		{"too short for a phone", "+12 345", discover.Phone, ""},
		{"private key", "-----BEGIN RSA PRIVATE KEY-----\nMIIE...", discover.PrivateKey, "-----BEGIN RSA PRIVATE KEY-----"},
		{"public key", "-----BEGIN PUBLIC KEY-----", discover.PrivateKey, ""},
		{"stripe key", "key=sk_live_51Habcdefghijklmnopqrstuv", discover.Secret, "sk_live_****"},
		{"aws key id", "AKIAIOSFODNN7EXAMPLE", discover.Secret, "AKIA****"},
		{"bulwark api key", "Authorization: Bearer bwk_abcdefghijklmnopqrstuvwxyz234567", discover.Secret, "bwk_****"},
		{"a prefix alone", "sk_live_", discover.Secret, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := kinds(discover.Find([]byte(c.text)), c.kind)
			if c.want == "" {
				if len(got) != 0 {
					t.Fatalf("found %+v", got)
				}
				return
			}
			if len(got) != 1 || got[0].Sample != c.want {
				t.Fatalf("found %+v, want %s", got, c.want)
			}
		})
	}
}

// No sample ever shows more than six and four digits of a card.
func TestSamplesAreMasked(t *testing.T) {
	c := discover.GenerateCorpus(7, 2000, 0)
	for _, m := range discover.Find(c.Data) {
		if m.Kind != discover.Card {
			continue
		}
		if n := strings.Count(m.Sample, "*"); len(m.Sample)-n > 10 || n < 3 {
			t.Fatalf("sample %q shows %d digits", m.Sample, len(m.Sample)-n)
		}
	}
}

// The corpus goal: recall ≥ 99.5 %, precision ≥ 99 %, and no decoy kind
// taken for a card.
func TestCorpusRecallAndPrecision(t *testing.T) {
	c := discover.GenerateCorpus(1, 10_000, 10_000)
	recall, precision, misses, falses := discover.Evaluate(c)
	t.Logf("recall %.4f (%d missed), precision %.4f (%d false), decoys %v", recall, misses, precision, falses, c.Decoys)
	if recall < 0.995 || precision < 0.99 {
		t.Fatalf("recall %.4f, precision %.4f", recall, precision)
	}
	if falses != 0 {
		t.Errorf("%d decoys taken for cards", falses)
	}
}

func TestScannerAggregates(t *testing.T) {
	s := discover.New(discover.Options{})
	var text strings.Builder
	for range 40 {
		text.WriteString("x 4539578763621486 y\n")
	}
	text.WriteString("4242424242424242\n")
	if err := s.Bytes("db:notes.body", "row1", []byte(text.String())); err != nil {
		t.Fatal(err)
	}
	s.Bytes("db:notes.body", "row2", []byte("4242424242424242"))
	s.Bytes("db:other.text", "r", []byte("only 4242424242424242"))
	fs := s.Findings()
	if len(fs) != 2 || fs[0].Location != "db:notes.body" || fs[0].Count != 42 || len(fs[0].Samples) != discover.MaxSamples ||
		fs[0].Severity != discover.SeverityCard || fs[0].TestOnly {
		t.Fatalf("findings %+v", fs)
	}
	if fs[1].Location != "db:other.text" || !fs[1].TestOnly || fs[1].Severity != discover.SeverityTestCard {
		t.Fatalf("a test number only: %+v", fs[1])
	}
}

// A file read a chunk at a time finds each match once, across chunk
// boundaries, at its offset in the file.
func TestScannerReaderAcrossChunks(t *testing.T) {
	var b bytes.Buffer
	var offsets []int64
	filler := bytes.Repeat([]byte("lorem ipsum "), 1000)
	for b.Len() < 3<<20 {
		b.Write(filler[:1+b.Len()%997])
		b.WriteByte(' ')
		offsets = append(offsets, int64(b.Len()))
		b.WriteString("4539 5787 6362 1486 ")
	}
	s := discover.New(discover.Options{})
	if err := s.Reader("file:x", iotest.HalfReader(bytes.NewReader(b.Bytes()))); err != nil {
		t.Fatal(err)
	}
	fs := s.Findings()
	if len(fs) != 1 || fs[0].Count != int64(len(offsets)) {
		t.Fatalf("%d cards written, found %+v", len(offsets), fs)
	}
	for i, smp := range fs[0].Samples {
		if smp.Offset != offsets[i] {
			t.Fatalf("sample %d at %d, written at %d", i, smp.Offset, offsets[i])
		}
	}
	// Every boundary position: a card straddling it is found once.
	for cut := 1<<20 - 30; cut < 1<<20+5; cut++ {
		data := append(bytes.Repeat([]byte{' '}, cut), []byte("5425233430109903 ")...)
		s := discover.New(discover.Options{})
		if err := s.Reader("f", bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		if fs := s.Findings(); len(fs) != 1 || fs[0].Count != 1 || fs[0].Samples[0].Offset != int64(cut) {
			t.Fatalf("card at %d: %+v", cut, fs)
		}
	}
}

func TestScannerLimit(t *testing.T) {
	s := discover.New(discover.Options{MaxBytes: 100})
	data := append(bytes.Repeat([]byte{' '}, 200), []byte("4539578763621486")...)
	if err := s.Reader("f", bytes.NewReader(data)); err != discover.ErrLimit {
		t.Fatalf("err %v", err)
	}
	if s.Read() != 100 || !s.Truncated() || len(s.Findings()) != 0 {
		t.Fatalf("read %d, truncated %t, %+v", s.Read(), s.Truncated(), s.Findings())
	}
	if err := s.Bytes("cell", "r", []byte("4539578763621486")); err != discover.ErrLimit {
		t.Fatalf("past the limit: %v", err)
	}
}

func BenchmarkFind(b *testing.B) {
	c := discover.GenerateCorpus(3, 10_000, 10_000)
	b.SetBytes(int64(len(c.Data)))
	for b.Loop() {
		discover.Find(c.Data)
	}
}

func FuzzDiscoverFind(f *testing.F) {
	for _, s := range []string{"4539 5787 6362 1486", "DE89370400440532013000", "a@b.co", "+44 20 7946 0958", "-----BEGIN EC PRIVATE KEY-----", "sk_live_0123456789abcdef", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, m := range discover.Find(b) {
			if m.Offset < 0 || m.Offset >= int64(len(b)) || m.Sample == "" {
				t.Fatalf("match %+v in %d bytes", m, len(b))
			}
			if m.Kind == discover.Card && strings.Count(m.Sample, "*") < 3 {
				t.Fatalf("card sample %q", m.Sample)
			}
		}
	})
}
