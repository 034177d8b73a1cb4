package discover

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// MaxSamples is how many samples a finding keeps unless Options say
// otherwise: enough to show where, too few to be a copy of the data.
const MaxSamples = 15

// Severities of what a location holds, on the findings' 0-100 scale (so a
// caller can raise a finding with it unchanged): a cardholder's number
// outside the vault or a private key is an incident; a live secret nearly;
// a test number or test-mode key is worth removing; an IBAN is personal
// financial data; contact data is the shop's business and only reported.
const (
	SeverityCard       = 90
	SeverityKey        = 85
	SeveritySecret     = 80
	SeverityIBAN       = 50
	SeverityTestSecret = 40
	SeverityTestCard   = 30
	SeverityContact    = 20 // email, phone
)

// Severity returns the severity of m alone.
func Severity(m Match) int {
	switch m.Kind {
	case Card:
		if m.Test {
			return SeverityTestCard
		}
		return SeverityCard
	case PrivateKey:
		return SeverityKey
	case Secret:
		if m.Test {
			return SeverityTestSecret
		}
		return SeveritySecret
	case IBAN:
		return SeverityIBAN
	}
	return SeverityContact
}

// Sample is one occurrence kept in a finding.
type Sample struct {
	// Row names the record of a table location ("" for a file or a
	// buffer); Offset is the byte offset in the cell, file or buffer.
	Row    string `json:"row,omitempty"`
	Offset int64  `json:"offset"`
	Masked string `json:"masked"`
	Test   bool   `json:"test,omitempty"`
}

// Finding is what one location holds of one kind.
type Finding struct {
	Location string `json:"location"`
	Kind     Kind   `json:"kind"`
	// Count is every occurrence, Samples the first few in the order
	// scanned.
	Count   int64    `json:"count"`
	Samples []Sample `json:"samples"`
	// TestOnly: every value found is a published test value (a test card
	// number, a test-mode key).
	TestOnly bool `json:"test_only,omitempty"`
	// Severity is the highest of the occurrences' (0-100).
	Severity int `json:"severity"`
	// Truncated: a scan of the location stopped at a byte limit, so it
	// may hold more than this.
	Truncated bool `json:"truncated,omitempty"`
}

// Options bound a Scanner. The zero value has no limits and keeps
// MaxSamples samples.
type Options struct {
	// MaxBytes bounds each input (a buffer, a cell, a reader): what is
	// past it is not read, and the scan returns ErrTruncated. 0: none.
	MaxBytes int64
	// MaxTotal bounds all the inputs of the scanner together: past it,
	// scans return ErrLimit and read nothing. 0: none.
	MaxTotal int64
	// MaxSamples bounds the samples kept per location and kind (0:
	// MaxSamples).
	MaxSamples int
	// Pace, when set, is called after each chunk with its size, outside
	// any lock: the caller sleeps there to keep the scan to its share of
	// a core.
	Pace func(n int)
}

// The limits' errors, wrapped with the location. Neither loses what was
// found: the scanner keeps the matches of what it read.
var (
	// ErrTruncated is an input longer than Options.MaxBytes: its start
	// was scanned, the rest not. Go on with the next.
	ErrTruncated = errors.New("input longer than the discovery byte limit: the rest was not scanned")
	// ErrLimit is a scanner whose Options.MaxTotal is spent: stop.
	ErrLimit = errors.New("discovery stopped at its byte limit")
)

// Scanner aggregates the matches of many inputs per location and kind.
// It is safe for concurrent use: matching runs outside its lock.
type Scanner struct {
	opts    Options
	chunk   int
	buffers sync.Pool

	mu        sync.Mutex
	read      int64
	truncated bool
	found     map[key]*tally
	cut       map[string]bool // locations a limit stopped
}

type key struct {
	location string
	kind     Kind
}

type tally struct {
	f     Finding
	tests int64
}

// chunkSize is how much ScanReader reads at once; with the overlap, a
// scan holds about 260 KiB however long its input.
const chunkSize = 256 << 10

// New returns a scanner bounded by o.
func New(o Options) *Scanner {
	if o.MaxSamples <= 0 {
		o.MaxSamples = MaxSamples
	}
	s := &Scanner{opts: o, chunk: chunkSize, found: map[key]*tally{}, cut: map[string]bool{}}
	s.buffers.New = func() any {
		b := make([]byte, s.chunk+lookBehind+lookAhead)
		return &b
	}
	return s
}

// ScanBytes scans b as location. It returns ErrTruncated or ErrLimit
// (wrapped) when a limit cut b short.
func (s *Scanner) ScanBytes(location string, b []byte) error {
	return s.scanBytes(location, "", b)
}

// ScanCell scans b as the cell of row in a table location
// ("db:orders.note"): its samples name the row. Errors as ScanBytes.
func (s *Scanner) ScanCell(location, row string, b []byte) error {
	return s.scanBytes(location, row, b)
}

func (s *Scanner) scanBytes(location, row string, b []byte) error {
	var err error
	if s.opts.MaxBytes > 0 && int64(len(b)) > s.opts.MaxBytes {
		b, err = b[:s.opts.MaxBytes], ErrTruncated
	}
	if n, ok := s.take(int64(len(b))); !ok {
		b, err = b[:n], ErrLimit
	}
	s.add(location, row, find(b, nil), err != nil)
	if s.opts.Pace != nil {
		s.opts.Pace(len(b))
	}
	if err != nil {
		return fmt.Errorf("scan %s: %w", location, err)
	}
	return nil
}

// ScanReader scans r as location, a chunk at a time: consecutive chunks
// overlap by the context a detector reads (lookBehind before a match,
// lookAhead after it), and a chunk reports only the matches starting
// between its overlaps, so a match across a boundary is found once, at
// its offset in r. It returns the read error, or ErrTruncated or ErrLimit
// (wrapped) when a limit stopped it; the matches of what was read are kept
// either way.
func (s *Scanner) ScanReader(location string, r io.Reader) error {
	bp := s.buffers.Get().(*[]byte)
	defer s.buffers.Put(bp)
	buf := *bp
	left := int64(math.MaxInt64)
	if s.opts.MaxBytes > 0 {
		left = s.opts.MaxBytes
	}
	var (
		n    int   // bytes in buf
		base int64 // the offset of buf[0] in r
		emit int   // matches before buf[emit] belonged to the window before
		ms   []Match
	)
	for {
		want := len(buf) - n
		if left < int64(want) {
			want = int(left) + 1 // one byte more tells whether r goes on
		}
		got, rerr := io.ReadFull(r, buf[n:n+want])
		eof := errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF)
		var err error
		if rerr != nil && !eof {
			err = fmt.Errorf("read: %w", rerr) // what was read is scanned first
		}
		if int64(got) > left {
			got, err = int(left), cmp.Or(err, ErrTruncated)
		}
		if granted, ok := s.take(int64(got)); !ok {
			got, err = int(granted), cmp.Or(err, ErrLimit)
		}
		n += got
		left -= int64(got)
		last := eof || err != nil
		end := n
		if !last {
			end = n - lookAhead
		}
		ms = find(buf[:n], ms[:0])
		kept := ms[:0]
		for _, m := range ms {
			if m.Offset >= int64(emit) && m.Offset < int64(end) {
				m.Offset += base
				kept = append(kept, m)
			}
		}
		s.add(location, "", kept, err != nil)
		if s.opts.Pace != nil {
			s.opts.Pace(got)
		}
		if last {
			if err != nil {
				return fmt.Errorf("scan %s: %w", location, err)
			}
			return nil
		}
		from := end - lookBehind
		n = copy(buf, buf[from:n])
		base += int64(from)
		emit = lookBehind
	}
}

// take grants up to n bytes of the scanner's total and reports whether it
// granted all n.
func (s *Scanner) take(n int64) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ok := true
	if s.opts.MaxTotal > 0 && s.read+n > s.opts.MaxTotal {
		n, ok = max(0, s.opts.MaxTotal-s.read), false
		s.truncated = true
	}
	s.read += n
	return n, ok
}

func (s *Scanner) add(location, row string, ms []Match, cut bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cut {
		s.cut[location] = true
	}
	for _, m := range ms {
		k := key{location, m.Kind}
		t := s.found[k]
		if t == nil {
			t = &tally{f: Finding{Location: location, Kind: m.Kind}}
			s.found[k] = t
		}
		t.f.Count++
		if m.Test {
			t.tests++
		}
		t.f.Severity = max(t.f.Severity, Severity(m))
		if len(t.f.Samples) < s.opts.MaxSamples {
			t.f.Samples = append(t.f.Samples, Sample{Row: row, Offset: m.Offset, Masked: m.Sample, Test: m.Test})
		}
	}
}

// Read is how many bytes the scanner has scanned.
func (s *Scanner) Read() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.read
}

// Truncated reports whether Options.MaxTotal stopped the scanner.
func (s *Scanner) Truncated() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.truncated
}

// Results returns what was found, a copy: most severe first, then by
// location, then in the order of Kinds.
func (s *Scanner) Results() []Finding {
	s.mu.Lock()
	out := make([]Finding, 0, len(s.found))
	for _, t := range s.found {
		f := t.f
		f.Samples = slices.Clone(f.Samples)
		f.TestOnly = t.tests == f.Count
		f.Truncated = s.cut[f.Location]
		out = append(out, f)
	}
	s.mu.Unlock()
	kinds := Kinds()
	slices.SortFunc(out, func(a, b Finding) int {
		if a.Severity != b.Severity {
			return b.Severity - a.Severity
		}
		if c := strings.Compare(a.Location, b.Location); c != 0 {
			return c
		}
		return slices.Index(kinds, a.Kind) - slices.Index(kinds, b.Kind)
	})
	return out
}

// Report is one discovery run, as the caller keeps and serves it.
type Report struct {
	RunAt time.Time `json:"run_at"`
	// Sources names what was scanned: "database", "outbox", paths.
	Sources []string `json:"sources"`
	// Bytes is how much was read; Truncated whether the byte limit
	// stopped the run before the end.
	Bytes     int64     `json:"bytes"`
	Truncated bool      `json:"truncated"`
	Findings  []Finding `json:"findings"`
	// Errors names what could not be read (a file, a table), never its
	// content.
	Errors []string `json:"errors"`
}

// Cards returns the findings of cardholders' numbers (not test numbers).
func (r Report) Cards() []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Kind == Card && !f.TestOnly {
			out = append(out, f)
		}
	}
	return out
}
