// Package detection reads the operator's detection settings (issue 14,
// "detectors are configured as data"): the detectors that turn signals into
// findings (package detect) and the responses to findings (package
// response), as one JSON document. Each list given replaces that list of
// built-in defaults whole; a list left out keeps the defaults. The document
// is operator input: it is decoded strictly (no unknown field, one value,
// bounded size and counts) and every detector and response is validated, so
// a setting that cannot work refuses to start rather than detecting nothing.
package detection

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/bulwark-shop/bulwark/internal/detect"
	"github.com/bulwark-shop/bulwark/internal/finding"
	"github.com/bulwark-shop/bulwark/internal/response"
)

// Limits of a settings document.
const (
	MaxBytes     = 256 << 10
	MaxDetectors = 64
	MaxResponses = 64
)

// Settings are the detectors and responses a shop runs.
type Settings struct {
	Detectors []detect.Detector
	Responses []response.Rule
}

// Defaults are the built-in settings (detect.Defaults, response.Defaults).
func Defaults() Settings {
	return Settings{Detectors: detect.Defaults(), Responses: response.Defaults()}
}

// detectorJSON is a detector as the document writes it: durations as Go
// durations ("10m"), the subject kinds by name.
type detectorJSON struct {
	Type      finding.Type        `json:"type"`
	Signals   []detect.Kind       `json:"signals"`
	Per       finding.SubjectKind `json:"per"`
	Distinct  finding.SubjectKind `json:"distinct,omitempty"`
	Threshold int64               `json:"threshold"`
	Window    string              `json:"window"`
	Severity  int                 `json:"severity"`
}

// responseJSON is a response rule as the document writes it.
type responseJSON struct {
	Type    finding.Type        `json:"type"`
	Subject finding.SubjectKind `json:"subject"`
	Action  response.Action     `json:"action"`
	Base    string              `json:"base,omitempty"`
	Cap     string              `json:"cap,omitempty"`
}

type document struct {
	Detectors *[]detectorJSON `json:"detectors,omitempty"`
	Responses *[]responseJSON `json:"responses,omitempty"`
}

// Read reads and parses the settings file at path.
func Read(path string) (Settings, error) {
	f, err := os.Open(path)
	if err != nil {
		return Settings{}, fmt.Errorf("detection settings: %w", err)
	}
	defer f.Close()
	// One byte past the limit tells a file that is too big without reading
	// all of it.
	b, err := io.ReadAll(io.LimitReader(f, MaxBytes+1))
	if err != nil {
		return Settings{}, fmt.Errorf("detection settings %s: %w", path, err)
	}
	s, err := Parse(b)
	if err != nil {
		return Settings{}, fmt.Errorf("detection settings %s: %w", path, err)
	}
	return s, nil
}

// Parse parses a settings document: the lists it gives replace the
// defaults'. It refuses a document too big, not strictly JSON, with an
// unknown field or more than one value, with too many entries, or with a
// detector or response that cannot work (each named).
func Parse(b []byte) (Settings, error) {
	if len(b) > MaxBytes {
		return Settings{}, fmt.Errorf("more than %d bytes", MaxBytes)
	}
	var doc document
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return Settings{}, fmt.Errorf("not a settings document: %w", err)
	}
	if dec.More() {
		return Settings{}, errors.New("more than one JSON value")
	}
	s := Defaults()
	var errs []error
	if doc.Detectors != nil {
		if len(*doc.Detectors) > MaxDetectors {
			return Settings{}, fmt.Errorf("%d detectors, at most %d", len(*doc.Detectors), MaxDetectors)
		}
		s.Detectors = make([]detect.Detector, 0, len(*doc.Detectors))
		for i, d := range *doc.Detectors {
			det, err := d.detector()
			if err == nil {
				err = det.Validate()
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("detectors[%d]: %w", i, err))
				continue
			}
			s.Detectors = append(s.Detectors, det)
		}
	}
	if doc.Responses != nil {
		if len(*doc.Responses) > MaxResponses {
			return Settings{}, fmt.Errorf("%d responses, at most %d", len(*doc.Responses), MaxResponses)
		}
		s.Responses = make([]response.Rule, 0, len(*doc.Responses))
		for i, r := range *doc.Responses {
			rule, err := r.rule()
			if err != nil {
				errs = append(errs, fmt.Errorf("responses[%d]: %w", i, err))
				continue
			}
			s.Responses = append(s.Responses, rule)
		}
		if _, err := response.NewPolicy(s.Responses); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Settings{}, err
	}
	return s, nil
}

func (d detectorJSON) detector() (detect.Detector, error) {
	w, err := time.ParseDuration(d.Window)
	if err != nil {
		return detect.Detector{}, fmt.Errorf("window %q: %w", d.Window, err)
	}
	return detect.Detector{Type: d.Type, Signals: d.Signals, Per: d.Per, Distinct: d.Distinct,
		Threshold: d.Threshold, Window: w, Severity: d.Severity}, nil
}

func (r responseJSON) rule() (response.Rule, error) {
	rule := response.Rule{Type: r.Type, Kind: r.Subject, Action: r.Action}
	for _, f := range []struct {
		name, v string
		dst     *time.Duration
	}{{"base", r.Base, &rule.Base}, {"cap", r.Cap, &rule.Cap}} {
		if f.v == "" {
			continue
		}
		d, err := time.ParseDuration(f.v)
		if err != nil {
			return rule, fmt.Errorf("%s %q: %w", f.name, f.v, err)
		}
		*f.dst = d
	}
	if err := rule.Validate(); err != nil {
		return rule, err
	}
	return rule, nil
}

// JSON returns s as a settings document (both lists), indented: what
// `bulwark detection show` prints, for an operator to start from.
func (s Settings) JSON() ([]byte, error) {
	ds := make([]detectorJSON, 0, len(s.Detectors))
	for _, d := range s.Detectors {
		ds = append(ds, detectorJSON{Type: d.Type, Signals: slices.Clone(d.Signals), Per: d.Per, Distinct: d.Distinct,
			Threshold: d.Threshold, Window: d.Window.String(), Severity: d.Severity})
	}
	rs := make([]responseJSON, 0, len(s.Responses))
	for _, r := range s.Responses {
		j := responseJSON{Type: r.Type, Subject: r.Kind, Action: r.Action}
		if r.Action != response.Log {
			j.Base, j.Cap = r.Base.String(), r.Cap.String()
		}
		rs = append(rs, j)
	}
	return json.MarshalIndent(document{Detectors: &ds, Responses: &rs}, "", "  ")
}
