package bench

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tbulwark-bench\nVmPeak:\t 2000000 kB\nVmRSS:\t  215040 kB\nRssAnon:\t  100 kB\n"
	t.Run("the VmRSS line, in bytes", func(t *testing.T) {
		got, err := parseVmRSS(strings.NewReader(status))
		if err != nil || got != 215040*1024 {
			t.Fatalf("parseVmRSS = %d, %v; want %d", got, err, 215040*1024)
		}
	})
	for name, text := range map[string]string{
		"no VmRSS line":   "Name:\tx\nVmPeak:\t 1 kB\n",
		"not a number":    "VmRSS:\t many kB\n",
		"not kB":          "VmRSS:\t 12 MB\n",
		"no unit at all":  "VmRSS:\t 12\n",
		"an empty status": "",
	} {
		t.Run(name+" is an error", func(t *testing.T) {
			if got, err := parseVmRSS(strings.NewReader(text)); err == nil {
				t.Fatalf("parseVmRSS(%q) = %d, want an error", text, got)
			}
		})
	}
	t.Run("this process's status has one", func(t *testing.T) {
		f, err := os.Open("/proc/self/status")
		if err != nil {
			t.Skip("no /proc here:", err)
		}
		defer f.Close()
		if got, err := parseVmRSS(f); err != nil || got < 1<<20 {
			t.Fatalf("parseVmRSS(/proc/self/status) = %d, %v; want at least a MiB", got, err)
		}
	})
}

func TestParseLoadAvg(t *testing.T) {
	if got, err := parseLoadAvg(strings.NewReader("7.54 10.32 9.89 3/412 25095\n")); err != nil || got != 7.54 {
		t.Fatalf("parseLoadAvg = %v, %v; want 7.54", got, err)
	}
	for _, text := range []string{"", "7.54\n", "busy 1 2 3/4 5\n"} {
		if got, err := parseLoadAvg(strings.NewReader(text)); err == nil {
			t.Errorf("parseLoadAvg(%q) = %v, want an error", text, got)
		}
	}
}

func TestCountFDs(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc here:", err)
	}
	before, err := countFDs("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var files []*os.File
	for range 3 {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	during, err := countFDs("/proc/self/fd")
	for _, f := range files {
		f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	after, err := countFDs("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	// Other goroutines of the test binary may open files meanwhile; none
	// of this test's do.
	if during-before != 3 || after != before {
		t.Fatalf("open files %d, with three more open %d, after closing them %d; want +3 then back", before, during, after)
	}
}

func TestSampleProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc here:", err)
	}
	s, err := sampleProcess()
	if err != nil {
		t.Fatal(err)
	}
	if s.RSS < 1<<20 || s.HeapLive == 0 || s.HeapTotal < s.HeapLive || s.Goroutines < 1 || s.FDs < 3 {
		t.Fatalf("sample %+v: want a resident size of a MiB or more, a live heap within the held heap, a goroutine and stdin, stdout, stderr", s)
	}
}

func TestFlatness(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []float64
		floor  float64
		flat   bool
	}{
		{"a constant series is flat", []float64{100, 100, 100, 100, 100, 100}, 1, true},
		{"a warm-up in the first third is left out", []float64{10, 50, 100, 100, 100, 100}, 1, true},
		{"growth within the tolerance is flat", []float64{100, 100, 100, 100, 109, 109}, 1, true},
		{"steady growth past the tolerance is not", []float64{100, 110, 120, 130, 140, 150}, 1, false},
		{"a last third 11% above the second is not", []float64{100, 100, 100, 100, 111, 111}, 1, false},
		{"shrinking is flat", []float64{200, 200, 200, 200, 100, 100}, 1, true},
		{"small counts may move by their floor", []float64{20, 20, 20, 20, 29, 29}, 10, true},
		{"but not past it", []float64{20, 20, 20, 20, 31, 31}, 10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := flatness("x", "", tc.values, 0.10, tc.floor)
			if err != nil {
				t.Fatal(err)
			}
			if v.Flat != tc.flat {
				t.Fatalf("flatness(%v) = %s; want flat %v", tc.values, v, tc.flat)
			}
		})
	}
	t.Run("the figures are the first, middle and last samples and the thirds' means", func(t *testing.T) {
		v, err := flatness("x", "MiB", []float64{1, 2, 3, 4, 5, 6, 7, 8, 9}, 0.10, 0)
		if err != nil {
			t.Fatal(err)
		}
		if v.Start != 1 || v.Middle != 5 || v.End != 9 || v.Second != 5 || v.Last != 8 || math.Abs(v.Allowed-0.5) > 1e-9 || v.Flat {
			t.Fatalf("flatness = %+v", v)
		}
		if !strings.Contains(v.String(), "GROWS") {
			t.Fatalf("%q does not say it grows", v)
		}
	})
	t.Run("fewer than three samples is an error", func(t *testing.T) {
		if _, err := flatness("x", "", []float64{1, 2}, 0.10, 0); err == nil {
			t.Fatal("flatness of two samples: no error")
		}
	})
}

func TestReturned(t *testing.T) {
	for _, tc := range []struct {
		name          string
		before, after float64
		flat          bool
	}{
		{"the same level", 25, 25, true},
		{"within the floor", 25, 30, true},
		{"past the floor", 25, 31, false},
		{"below", 25, 20, true},
		{"within the tolerance of a large level", 200, 219, true},
		{"past it", 200, 221, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if v := returned("goroutines", tc.before, tc.after, 0.10, 5); v.Flat != tc.flat {
				t.Fatalf("returned(%v -> %v) = %+v, want flat %v", tc.before, tc.after, v, tc.flat)
			}
		})
	}
}

func TestTicks(t *testing.T) {
	for _, tc := range []struct {
		hi   float64
		want []float64
	}{
		{7, []float64{0, 2, 4, 6, 8}},
		{10, []float64{0, 2, 4, 6, 8, 10}},
		{330, []float64{0, 100, 200, 300, 400}},
		{0.3, []float64{0, 0.1, 0.2, 0.30000000000000004}},
		{0, []float64{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1}},
	} {
		if got := ticks(tc.hi); !slices.Equal(got, tc.want) {
			t.Errorf("ticks(%v) = %v, want %v", tc.hi, got, tc.want)
		}
	}
}

func testSamples() []SoakSample {
	var out []SoakSample
	for i := range 6 {
		s := SoakSample{At: time.Duration(i+1) * 10 * time.Second, Phase: "soak", RSS: 200 << 20, HeapLive: 50 << 20, HeapTotal: 120 << 20,
			Goroutines: 130 + i, FDs: 110, Interval: 10 * time.Second, Reads: 500, CartWrites: 100, Checkouts: 50, Logins: 10, Flood: 30,
			CheckoutP50: 40 * time.Millisecond, CheckoutP99: 250 * time.Millisecond, CPU: 1500 * time.Millisecond, Load1: 3.25,
			Workers: 1, WorkerRSS: 28 << 20, WorkerCPU: 250 * time.Millisecond}
		if i >= 4 {
			s.Phase = []string{"idle-before", "flood"}[i-4]
			s.Checkouts, s.CheckoutP50, s.CheckoutP99 = 0, 0, 0 // a gap in the latency lines
		}
		out = append(out, s)
	}
	return out
}

func TestWriteSoakCSV(t *testing.T) {
	samples := testSamples()
	var b bytes.Buffer
	if err := writeSoakCSV(&b, samples); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(samples)+1 || !slices.Equal(rows[0], soakCSVHeader) {
		t.Fatalf("%d rows, header %v; want %d and %v", len(rows), rows[0], len(samples)+1, soakCSVHeader)
	}
	want := []string{"10.000", "soak", "209715200", "52428800", "125829120", "130", "110", "10.000", "500", "100", "50", "10", "30", "0", "0", "40.000", "250.000", "1.500", "3.250", "1", "29360128", "0.250"}
	if !slices.Equal(rows[1], want) {
		t.Fatalf("first row %v, want %v", rows[1], want)
	}
	if rows[6][1] != "flood" {
		t.Fatalf("last row's phase %q, want flood", rows[6][1])
	}
}

func TestWriteSoakPlot(t *testing.T) {
	var b bytes.Buffer
	if err := writeSoakPlot(&b, testSamples()); err != nil {
		t.Fatal(err)
	}
	svg := b.String()
	// Well-formed XML, with an svg root.
	d := xml.NewDecoder(strings.NewReader(svg))
	var root string
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q, want svg", root)
	}
	if strings.Contains(svg, "NaN") || strings.Contains(svg, "Inf") {
		t.Fatal("the plot has a NaN or Inf coordinate")
	}
	// One line per series (the latency lines stop where there were no
	// checkouts), each named in the legend, and the phases after the soak shaded.
	if n := strings.Count(svg, "<polyline"); n != 14 {
		t.Errorf("%d polylines, want 14 (one per series)", n)
	}
	for _, label := range []string{"resident (VmRSS)", "heap live", "hash workers", "goroutines", "open fds", "p99", "p50", "requests", "checkouts", "load, 1 min", "hash worker cores", "CPU ms/request"} {
		if !strings.Contains(svg, ">"+label+"</text>") {
			t.Errorf("no legend %q", label)
		}
	}
	if n := strings.Count(svg, `fill="#eeeeee"`); n != 2*6 {
		t.Errorf("%d shaded intervals, want 2 in each of 6 panels", n)
	}
	if err := writeSoakPlot(io.Discard, testSamples()[:1]); err == nil {
		t.Error("a plot of one sample: no error")
	}
}

// TestSoakRuns runs a few seconds of -soak, so the mode cannot rot: traffic
// of every kind is answered, the samples cover every phase, the rule has a
// verdict for each series, the flood measures its checkouts and the files
// are written. It judges nothing about flatness: that is what a real soak's
// figures are for.
func TestSoakRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: starts a shop and runs traffic for several seconds")
	}
	if raceEnabled {
		t.Skip("skipped under -race: the flood's login capacity and the traffic take too long there")
	}
	out := filepath.Join(t.TempDir(), "soak.csv")
	var log bytes.Buffer
	o := Options{Out: &log, Concurrency: 4, FloodCheckouts: 20, Soak: 4 * time.Second, SoakEvery: time.Second, SoakOut: out, capacityLogins: 24,
		HashWorker: testHashWorker}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Soak(ctx, o)
	if err != nil {
		t.Fatalf("Soak: %v\n%s", err, log.String())
	}
	var served SoakSample
	phases := map[string]bool{}
	for _, s := range res.Samples {
		phases[s.Phase] = true
		served.Workers = max(served.Workers, s.Workers)
		served.WorkerRSS = max(served.WorkerRSS, s.WorkerRSS)
		served.WorkerCPU += s.WorkerCPU
		served.Reads += s.Reads
		served.CartWrites += s.CartWrites
		served.Checkouts += s.Checkouts
		served.Logins += s.Logins
		served.Flood += s.Flood
	}
	if served.Reads == 0 || served.CartWrites == 0 || served.Checkouts == 0 || served.Logins == 0 || served.Flood == 0 {
		t.Errorf("answered as expected: %+v; want some of every kind\n%s", served, log.String())
	}
	// The sign-ins were hashed in the shop's worker processes, and sampled
	// there.
	if served.Workers == 0 || served.WorkerRSS < 1<<20 || served.WorkerCPU <= 0 {
		t.Errorf("hash workers: at most %d, %d bytes resident at most, %s of CPU; want a worker sampled with its memory and time\n%s",
			served.Workers, served.WorkerRSS, served.WorkerCPU, log.String())
	}
	for _, p := range []string{"idle-start", "soak", "idle-before", "flood", "idle-after"} {
		if !phases[p] {
			t.Errorf("no %s sample in %v", p, phases)
		}
	}
	if len(res.Verdict) != len(soakSeries) || len(res.AfterFlood) != 2 || len(res.AtRest) != 2 {
		t.Errorf("%d verdicts, %d at rest and %d after the flood, want %d, 2 and 2", len(res.Verdict), len(res.AtRest), len(res.AfterFlood), len(soakSeries))
	}
	if res.Flood.Quiet.Requests != o.FloodCheckouts || res.Flood.Flooded.Requests != o.FloodCheckouts || res.Flood.CheckoutP99Multiplier == 0 {
		t.Errorf("flood: %+v", res.Flood)
	}
	for _, f := range []string{out, plotPath(out), strings.TrimSuffix(out, ".csv") + ".heap-end.pprof", strings.TrimSuffix(out, ".csv") + ".goroutine-mid.txt"} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v, want a file with something in it", f, err)
		}
	}
	if !strings.Contains(log.String(), "soak: rule:") {
		t.Errorf("no rule printed:\n%s", log.String())
	}
}
