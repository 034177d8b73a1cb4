package discover_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/bulwark-shop/bulwark/internal/discover"
)

const pan = "4539578763621486" // Luhn-valid, not a published test number

func TestScannerAggregates(t *testing.T) {
	s := discover.New(discover.Options{})
	var text strings.Builder
	for range 40 {
		text.WriteString("x " + pan + " y ada@example.com\n")
	}
	text.WriteString("4242424242424242\n")
	if err := s.ScanCell("db:notes.body", "row1", []byte(text.String())); err != nil {
		t.Fatal(err)
	}
	mustScan(t, s.ScanCell("db:notes.body", "row2", []byte("4242424242424242")))
	mustScan(t, s.ScanBytes("db:other.text", []byte("only 4242424242424242 and sk_test_51HqLyjWDarjtT1zdp7dcX")))
	got := s.Results()
	want := []struct {
		location string
		kind     discover.Kind
		count    int64
		severity int
		testOnly bool
	}{
		{"db:notes.body", discover.Card, 42, discover.SeverityCard, false},
		{"db:other.text", discover.Secret, 1, discover.SeverityTestSecret, true},
		{"db:other.text", discover.Card, 1, discover.SeverityTestCard, true},
		{"db:notes.body", discover.Email, 40, discover.SeverityContact, false},
	}
	if len(got) != len(want) {
		t.Fatalf("findings %+v", got)
	}
	for i, w := range want {
		f := got[i]
		if f.Location != w.location || f.Kind != w.kind || f.Count != w.count || f.Severity != w.severity || f.TestOnly != w.testOnly {
			t.Errorf("finding %d: %+v, want %+v", i, f, w)
		}
	}
	cards := got[0]
	if len(cards.Samples) != discover.MaxSamples || cards.Samples[0] != (discover.Sample{Row: "row1", Offset: 2, Masked: "453957******1486"}) {
		t.Fatalf("samples %+v", cards.Samples)
	}
	// Results is a copy.
	got[0].Samples[0].Masked = "changed"
	if s.Results()[0].Samples[0].Masked != "453957******1486" {
		t.Fatal("Results shares its samples")
	}
}

func TestScannerMaxSamples(t *testing.T) {
	s := discover.New(discover.Options{MaxSamples: 3})
	mustScan(t, s.ScanBytes("f", []byte(strings.Repeat(pan+" ", 10))))
	if f := s.Results()[0]; f.Count != 10 || len(f.Samples) != 3 || f.Samples[2].Offset != 34 {
		t.Fatalf("finding %+v", f)
	}
}

func mustScan(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// samples returns every match a scanner kept, as comparable strings.
func samples(fs []discover.Finding) []string {
	var out []string
	for _, f := range fs {
		for _, s := range f.Samples {
			out = append(out, fmt.Sprintf("%d %s %s", s.Offset, f.Kind, s.Masked))
		}
	}
	return out
}

// findAll scans b in one pass and returns every match.
func findAll(tb testing.TB, b []byte) []string {
	tb.Helper()
	s := discover.New(discover.Options{MaxSamples: 1 << 30})
	mustScan(tb, s.ScanBytes("f", b))
	return samples(s.Results())
}

// A reader scanned a chunk at a time gives what one pass over the whole
// input gives: each match once, at its offset in the input, whatever the
// chunk size and however the reader splits its reads.
func TestScannerChunksMatchOnePass(t *testing.T) {
	var all bytes.Buffer
	for _, d := range discover.GenerateCorpus(5, 3000, 3000).Docs[:20] {
		all.Write(d.Data)
	}
	data := all.Bytes()
	want := findAll(t, data)
	if len(want) < 1000 {
		t.Fatalf("only %d matches in the input", len(want))
	}
	for _, c := range []struct {
		chunk int
		wrap  func(io.Reader) io.Reader
	}{
		{997, func(r io.Reader) io.Reader { return r }},
		{4096, iotest.HalfReader},
		{64 << 10, iotest.DataErrReader},
		{1 << 20, func(r io.Reader) io.Reader { return r }},
	} {
		s := discover.New(discover.Options{MaxSamples: 1 << 30})
		discover.SetChunk(s, c.chunk)
		if err := s.ScanReader("f", c.wrap(bytes.NewReader(data))); err != nil {
			t.Fatal(err)
		}
		if got := samples(s.Results()); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("chunk %d: %d matches, one pass %d", c.chunk, len(got), len(want))
		}
	}
}

// A value of each kind is found once wherever a chunk boundary cuts it.
func TestScannerEveryBoundary(t *testing.T) {
	values := []string{
		pan, "4539 5787 6362 1486", "3782 822463 10005", "DE89 3704 0044 0532 0130 00", "ada.lovelace@example.com",
		"+1 (415) 555-2671", "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA", "AKIAIOSFODNN7EXAMPLE",
		"eyJhbGciOiJIUzI1NiJ9.eyJ" + strings.Repeat("x", 3000) + "." + strings.Repeat("s", 43),
	}
	const chunk = 64
	for _, v := range values {
		for pad := range chunk + 1 {
			// The value starts a chunk's length past the first overlap, then
			// pad bytes later each time: every boundary falls inside it once.
			data := []byte(strings.Repeat(" ", discover.Overlap+chunk+pad) + v + " ")
			s := discover.New(discover.Options{})
			discover.SetChunk(s, chunk)
			mustScan(t, s.ScanReader("f", bytes.NewReader(data)))
			got := samples(s.Results())
			if len(got) != 1 || got[0] != findAll(t, data)[0] {
				t.Fatalf("%.20q after %d bytes: %v", v, pad, got)
			}
		}
	}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestScannerMaxBytes(t *testing.T) {
	input := " " + pan + strings.Repeat(" ", 100) + "5425233430109903 " + strings.Repeat(".", 1000)
	t.Run("a reader past the limit is cut there and not read on", func(t *testing.T) {
		s := discover.New(discover.Options{MaxBytes: 100})
		r := &countingReader{r: strings.NewReader(input)}
		err := s.ScanReader("f", r)
		if !errors.Is(err, discover.ErrTruncated) {
			t.Fatalf("err %v", err)
		}
		fs := s.Results()
		if s.Read() != 100 || r.n > 101 || len(fs) != 1 || fs[0].Count != 1 || !fs[0].Truncated || s.Truncated() {
			t.Fatalf("read %d of %d, findings %+v", s.Read(), r.n, fs)
		}
	})
	t.Run("an input of exactly the limit is whole", func(t *testing.T) {
		s := discover.New(discover.Options{MaxBytes: int64(len(input))})
		mustScan(t, s.ScanReader("f", strings.NewReader(input)))
		mustScan(t, s.ScanBytes("b", []byte(input)))
		if fs := s.Results(); len(fs) != 2 || fs[0].Count != 2 || fs[0].Truncated {
			t.Fatalf("findings %+v", fs)
		}
	})
	t.Run("a buffer past the limit is cut there", func(t *testing.T) {
		s := discover.New(discover.Options{MaxBytes: 100})
		if err := s.ScanBytes("b", []byte(input)); !errors.Is(err, discover.ErrTruncated) {
			t.Fatalf("err %v", err)
		}
		if fs := s.Results(); s.Read() != 100 || len(fs) != 1 || fs[0].Count != 1 || !fs[0].Truncated {
			t.Fatalf("findings %+v", fs)
		}
	})
	t.Run("the total limit stops every scan after it", func(t *testing.T) {
		s := discover.New(discover.Options{MaxTotal: 150})
		mustScan(t, s.ScanBytes("a", []byte(input[:120])))
		if err := s.ScanReader("b", strings.NewReader(input)); !errors.Is(err, discover.ErrLimit) {
			t.Fatalf("err %v", err)
		}
		if err := s.ScanBytes("c", []byte(pan)); !errors.Is(err, discover.ErrLimit) {
			t.Fatalf("err %v", err)
		}
		if s.Read() != 150 || !s.Truncated() || len(s.Results()) != 2 {
			t.Fatalf("read %d, findings %+v", s.Read(), s.Results())
		}
	})
}

func TestScannerReadError(t *testing.T) {
	broken := errors.New("disk on fire")
	s := discover.New(discover.Options{})
	err := s.ScanReader("file:a", io.MultiReader(strings.NewReader(pan+" "), iotest.ErrReader(broken)))
	if !errors.Is(err, broken) || !strings.Contains(err.Error(), "file:a") {
		t.Fatalf("err %v", err)
	}
	if fs := s.Results(); len(fs) != 1 || fs[0].Count != 1 {
		t.Fatalf("what was read before the error is lost: %+v", fs)
	}
}

// Nothing a scanner returns holds a value it found: not its findings, not
// its errors.
func TestScannerNeverReturnsValues(t *testing.T) {
	s := discover.New(discover.Options{MaxBytes: 40})
	errs := []error{
		s.ScanBytes("a", []byte(pan+" AKIAIOSFODNN7EXAMPLE "+strings.Repeat("x", 40))),
		s.ScanReader("b", strings.NewReader("DE89370400440532013000 ada@example.com"+strings.Repeat("x", 40))),
	}
	out, err := json.Marshal(s.Results())
	if err != nil {
		t.Fatal(err)
	}
	text := string(out) + fmt.Sprint(errs)
	for _, v := range []string{pan, "IOSFODNN7EXAMPLE", "370400440532013000", "ada@"} {
		if strings.Contains(text, v) {
			t.Fatalf("%q returned: %s", v, text)
		}
	}
}

func TestScannerConcurrentUse(t *testing.T) {
	s := discover.New(discover.Options{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 50 {
				mustScan(t, s.ScanBytes(fmt.Sprint("loc", g%2), []byte("a "+pan+" b")))
			}
		})
	}
	wg.Wait()
	fs := s.Results()
	if len(fs) != 2 || fs[0].Count+fs[1].Count != 400 || fs[0].Location != "loc0" {
		t.Fatalf("findings %+v", fs)
	}
}

func TestScannerPace(t *testing.T) {
	var paced int
	s := discover.New(discover.Options{Pace: func(n int) { paced += n }})
	discover.SetChunk(s, 1000)
	mustScan(t, s.ScanReader("f", strings.NewReader(strings.Repeat("x", 10_000))))
	mustScan(t, s.ScanBytes("b", []byte("12345")))
	if int64(paced) != s.Read() || paced != 10_005 {
		t.Fatalf("paced %d, read %d", paced, s.Read())
	}
}
