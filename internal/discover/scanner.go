package discover

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"time"
)

// MaxSamples bounds the samples kept per location and kind.
const MaxSamples = 15

// Sample is one occurrence kept in a report.
type Sample struct {
	// Row names the record within a table location ("" in a file);
	// Offset is the byte offset within the cell or file.
	Row    string `json:"row,omitempty"`
	Offset int64  `json:"offset"`
	Masked string `json:"masked"`
	Test   bool   `json:"test,omitempty"`
}

// Finding is what one location holds of one kind.
type Finding struct {
	Location string `json:"location"`
	Kind     Kind   `json:"kind"`
	// Count is every occurrence, Samples the first MaxSamples.
	Count   int64    `json:"count"`
	Samples []Sample `json:"samples"`
	// TestOnly: every card number found is a published test number.
	TestOnly bool `json:"test_only,omitempty"`
	Severity int  `json:"severity"`
}

// Severities of what a location holds: a cardholder's number or a private
// key outside its vault is an incident; a test number is worth removing.
const (
	SeverityCard     = 90
	SeverityTestCard = 30
	SeverityKey      = 85
	SeveritySecret   = 80
	SeverityIBAN     = 50
	SeverityContact  = 20 // email, phone
)

// Options bound a scan.
type Options struct {
	// MaxBytes is the most a scanner reads in all (0: no limit); what is
	// past it is left unread and the report says so.
	MaxBytes int64
	// Pace, when set, is called after each chunk with its size: the
	// caller sleeps there to keep the scan to its share of a core.
	Pace func(n int)
}

// Scanner aggregates matches per location and kind.
type Scanner struct {
	opts      Options
	read      int64
	truncated bool
	found     map[key]*Finding
}

type key struct {
	location string
	kind     Kind
}

// New returns a scanner.
func New(opts Options) *Scanner { return &Scanner{opts: opts, found: map[key]*Finding{}} }

// ErrLimit is a scan that stopped at its byte limit.
var ErrLimit = errors.New("discovery stopped at its byte limit")

// chunk is how much ScanReader reads at once; overlap is how much of the
// end of a chunk is read again with the next, so a match across the
// boundary is found once (a match is taken from the chunk it starts in,
// and no match is longer than overlap but a PEM header or token, which
// are shorter too).
const (
	chunk   = 1 << 20
	overlap = 512
)

// Bytes scans b as the cell row of location (row "" for a file): the
// matches are added to the report. It returns ErrLimit when the byte limit
// is reached (what fits is scanned).
func (s *Scanner) Bytes(location, row string, b []byte) error {
	var err error
	if s.opts.MaxBytes > 0 && s.read+int64(len(b)) > s.opts.MaxBytes {
		b = b[:max(0, s.opts.MaxBytes-s.read)]
		s.truncated, err = true, ErrLimit
	}
	s.read += int64(len(b))
	for _, m := range Find(b) {
		s.add(location, row, m)
	}
	if s.opts.Pace != nil {
		s.opts.Pace(len(b))
	}
	return err
}

// Reader scans r as the file location, a chunk at a time. It returns
// ErrLimit at the byte limit, or the read error.
func (s *Scanner) Reader(location string, r io.Reader) error {
	buf := make([]byte, chunk+overlap+1)
	carry := 0     // bytes kept from the chunk before
	var base int64 // the offset of buf[0] in the file
	for {
		n, err := io.ReadFull(r, buf[carry:])
		end := carry + n
		last := err != nil
		if s.opts.MaxBytes > 0 && s.read+int64(n) > s.opts.MaxBytes {
			n = int(max(0, s.opts.MaxBytes-s.read))
			end, last = carry+n, true
			s.truncated = true
		}
		s.read += int64(n)
		// Matches starting in the overlap are left to the next chunk,
		// which reads them whole.
		limit := end
		if !last {
			limit = end - overlap
		}
		for _, m := range Find(buf[:end]) {
			if m.Offset == 0 && carry > 0 {
				continue // the byte kept for context: its chunk had it
			}
			if int(m.Offset) >= limit {
				continue
			}
			m.Offset += base
			s.add(location, "", m)
		}
		if s.opts.Pace != nil {
			s.opts.Pace(n)
		}
		if last {
			if s.truncated {
				return ErrLimit
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || err == nil {
				return nil
			}
			return fmt.Errorf("read %s: %w", location, err)
		}
		// Keep the deferred overlap and the byte before it, which tells
		// whether a match at the overlap's start begins a word.
		copy(buf, buf[end-overlap-1:end])
		base += int64(end - overlap - 1)
		carry = overlap + 1
	}
}

func (s *Scanner) add(location, row string, m Match) {
	k := key{location, m.Kind}
	f := s.found[k]
	if f == nil {
		f = &Finding{Location: location, Kind: m.Kind, TestOnly: m.Kind == Card}
		s.found[k] = f
	}
	f.Count++
	if len(f.Samples) < MaxSamples {
		f.Samples = append(f.Samples, Sample{Row: row, Offset: m.Offset, Masked: m.Sample, Test: m.Test})
	}
	if m.Kind == Card && !m.Test {
		f.TestOnly = false
	}
}

// Read is how many bytes were scanned; Truncated whether the limit
// stopped the scan.
func (s *Scanner) Read() int64     { return s.read }
func (s *Scanner) Truncated() bool { return s.truncated }

// Findings returns what was found, most severe first, then by location.
func (s *Scanner) Findings() []Finding {
	out := make([]Finding, 0, len(s.found))
	for _, f := range s.found {
		c := *f
		c.Severity = severity(c)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Severity != out[j].Severity {
			return out[i].Severity > out[j].Severity
		}
		if out[i].Location != out[j].Location {
			return out[i].Location < out[j].Location
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}

func severity(f Finding) int {
	switch f.Kind {
	case Card:
		if f.TestOnly {
			return SeverityTestCard
		}
		return SeverityCard
	case PrivateKey:
		return SeverityKey
	case Secret:
		return SeveritySecret
	case IBAN:
		return SeverityIBAN
	}
	return SeverityContact
}

// Report is one discovery run.
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
