package fraudmodel

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// MaxLineBytes bounds a line of a history file.
const MaxLineBytes = 64 << 10

// ReadHistory reads labelled history, JSONL or CSV (docs/FRAUD.md), told
// apart by the first byte that is not a space: '{' is JSONL.
//
//   - JSONL: one object a line, {"features": {"name": number, ...},
//     "label": "fraud"|"legitimate", "kind": "...", "chargeback": bool}.
//   - CSV: a header row naming label, then optionally chargeback and kind,
//     and the feature columns; a row per record.
//
// Every problem is an error naming its line; at most MaxRecords records,
// MaxLineBytes a line, MaxFeatures features, finite values only.
func ReadHistory(r io.Reader) ([]Record, error) {
	br := bufio.NewReaderSize(r, MaxLineBytes)
	for {
		b, err := br.Peek(1)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, errors.New("the history is empty")
			}
			return nil, err
		}
		if b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r' {
			_, _ = br.ReadByte()
			continue
		}
		if b[0] == '{' {
			return readJSONL(br)
		}
		return readCSV(br)
	}
}

func readJSONL(br *bufio.Reader) ([]Record, error) {
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 0, 4096), MaxLineBytes)
	var out []Record
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if len(out) >= MaxRecords {
			return nil, fmt.Errorf("line %d: more than %d records", line, MaxRecords)
		}
		var r Record
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("line %d: more than one object", line)
		}
		if err := r.check(); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("after line %d: %w", line, err)
	}
	return out, nil
}

func readCSV(br *bufio.Reader) ([]Record, error) {
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("line 1: %w", err)
	}
	cols := slices.Clone(head)
	label, chargeback, kind := -1, -1, -1
	var features []int
	seen := map[string]bool{}
	for i, c := range cols {
		c = strings.TrimSpace(c)
		cols[i] = c
		if seen[c] {
			return nil, fmt.Errorf("line 1: column %q named twice", c)
		}
		seen[c] = true
		switch c {
		case "label":
			label = i
		case "chargeback":
			chargeback = i
		case "kind":
			kind = i
		default:
			if !featureName(c) {
				return nil, fmt.Errorf("line 1: column %q: a feature name is 1 to 64 of a-z 0-9 _", c)
			}
			features = append(features, i)
		}
	}
	if label < 0 {
		return nil, errors.New("line 1: no label column")
	}
	if len(features) > MaxFeatures {
		return nil, fmt.Errorf("line 1: %d features, at most %d", len(features), MaxFeatures)
	}
	var out []Record
	for line := 2; ; line++ {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if len(out) >= MaxRecords {
			return nil, fmt.Errorf("line %d: more than %d records", line, MaxRecords)
		}
		r := Record{Label: strings.TrimSpace(row[label]), Features: make(map[string]float64, len(features))}
		if chargeback >= 0 {
			switch v := strings.TrimSpace(row[chargeback]); v {
			case "", "false", "0":
			case "true", "1":
				r.Chargeback = true
			default:
				return nil, fmt.Errorf("line %d: chargeback %q: true or false", line, v)
			}
		}
		if kind >= 0 {
			r.Kind = strings.TrimSpace(row[kind])
		}
		for _, i := range features {
			v, err := strconv.ParseFloat(strings.TrimSpace(row[i]), 64)
			if err != nil {
				return nil, fmt.Errorf("line %d: %s: not a number", line, cols[i])
			}
			r.Features[cols[i]] = v
		}
		if err := r.check(); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, r)
	}
}

// check refuses a record that cannot be learnt from.
func (r Record) check() error {
	if r.Label != Fraud && r.Label != Legitimate {
		return fmt.Errorf("label %q: fraud or legitimate", r.Label)
	}
	if len(r.Features) > MaxFeatures {
		return fmt.Errorf("%d features, at most %d", len(r.Features), MaxFeatures)
	}
	if len(r.Kind) > 64 {
		return errors.New("kind: at most 64 characters")
	}
	for name, v := range r.Features {
		if !featureName(name) {
			return fmt.Errorf("feature %q: 1 to 64 of a-z 0-9 _", name)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("feature %s: not a finite number", name)
		}
	}
	return nil
}

// WriteJSONL writes records as JSONL, one a line.
func WriteJSONL(w io.Writer, records []Record) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for _, r := range records {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return bw.Flush()
}
