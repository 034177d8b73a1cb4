package discover_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/discover"
)

// BenchmarkScan measures throughput (MB/s) on the generated corpus, which
// is dense (a card number or a decoy in every record, an email in every
// record), and on log text where a value is rare, as in most of a shop's
// data.
func BenchmarkScan(b *testing.B) {
	c := discover.GenerateCorpus(3, 10_000, 10_000)
	var dense bytes.Buffer
	for _, d := range c.Docs {
		dense.Write(d.Data)
	}
	b.Run("find/corpus", func(b *testing.B) {
		b.SetBytes(c.Size())
		for b.Loop() {
			for _, d := range c.Docs {
				discover.Find(d.Data)
			}
		}
	})
	b.Run("reader/corpus", func(b *testing.B) {
		benchReader(b, dense.Bytes())
	})
	b.Run("reader/logs", func(b *testing.B) {
		benchReader(b, logText(4<<20))
	})
}

func benchReader(b *testing.B, data []byte) {
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		s := discover.New(discover.Options{})
		if err := s.ScanReader("f", bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// logText returns about n bytes of access-log lines, one in 500 with a
// card number.
func logText(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	var buf bytes.Buffer
	for i := 0; buf.Len() < n; i++ {
		fmt.Fprintf(&buf, "2026-11-30T12:%02d:%02d.%03dZ INFO request handled method=GET path=/api/v1/products/prod_%08x status=200 bytes=%d took=%dms request_id=req_%016x user_agent=\"Mozilla/5.0 (X11; Linux x86_64)\"",
			r.IntN(60), r.IntN(60), r.IntN(1000), r.Uint32(), r.IntN(100_000), r.IntN(900), r.Uint64())
		if i%500 == 0 {
			buf.WriteString(" note=\"paid by phone 4539 5787 6362 1486\"")
		}
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}
