package bench

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/discover"
)

// Discovery measures sensitive-data discovery (issue 15) on a generated,
// labelled corpus: recall and precision of card numbers among decoys, and
// throughput on one core, on the corpus itself (every line holds a number)
// and on log-like text where numbers are rare, each beside a baseline
// measured in the same run (bytes.Count of newlines over the same bytes:
// what the memory bandwidth of one core allows a trivial pass).
func Discovery(ctx context.Context, o Options) error {
	c := discover.GenerateCorpus(1, 10_000, 10_000)
	recall, precision, ev := discover.Evaluate(c)
	cards := ev.Scores[discover.Card]
	decoys := 0
	for _, d := range c.Docs {
		for _, l := range d.Labels {
			if l.Decoy != "" {
				decoys++
			}
		}
	}
	fmt.Fprintf(o.Out, "discovery: %d card numbers and %d decoys (%d bytes of JSON, CSV and log lines): recall %.4f (%d missed), precision %.4f (%d false) (goals: ≥ 0.995, ≥ 0.99)\n",
		cards.Found+cards.Missed, decoys, c.Size(), recall, cards.Missed, precision, cards.False)
	var corpus bytes.Buffer
	for _, d := range c.Docs {
		corpus.Write(d.Data)
	}
	data := corpus.Bytes()

	// Log-like text: the corpus spread thin through lines without numbers.
	var mixed bytes.Buffer
	line := []byte("2026-11-30T12:00:00.000Z INFO request handled method=GET path=/api/v1/products status=200 bytes=5120 agent=\"Mozilla/5.0\"\n")
	for off := 0; mixed.Len() < 64<<20; off = (off + 200) % len(data) {
		for range 20 {
			mixed.Write(line)
		}
		mixed.Write(data[off:min(len(data), off+200)])
		mixed.WriteByte('\n')
	}
	for _, in := range []struct {
		name string
		data []byte
	}{{"the labelled corpus", data}, {"log-like text", mixed.Bytes()}} {
		if err := ctx.Err(); err != nil {
			return err
		}
		find := throughput(in.data, func(b []byte) { discover.Find(b) })
		base := throughput(in.data, func(b []byte) { bytes.Count(b, []byte{'\n'}) })
		fmt.Fprintf(o.Out, "discovery: %s: %.0f MB/s on one core (baseline, counting newlines: %.0f MB/s; ratio %.3f) (goal: ≥ 50 MB/s)\n",
			in.name, find, base, find/base)
	}
	return nil
}

// throughput runs fn over data for at least two seconds, in 1 MiB chunks
// as the scanner reads, and returns megabytes (10^6 bytes) a second.
func throughput(data []byte, fn func([]byte)) float64 {
	start := time.Now()
	var n int64
	for time.Since(start) < 2*time.Second {
		for off := 0; off < len(data); off += 1 << 20 {
			chunk := data[off:min(len(data), off+1<<20)]
			fn(chunk)
			n += int64(len(chunk))
		}
	}
	return float64(n) / time.Since(start).Seconds() / 1e6
}
