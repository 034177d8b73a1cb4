package detection_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/detect"
	"github.com/bulwark-shop/bulwark/internal/detection"
	"github.com/bulwark-shop/bulwark/internal/finding"
	"github.com/bulwark-shop/bulwark/internal/response"
)

func TestDefaultsRoundTrip(t *testing.T) {
	b, err := detection.Defaults().JSON()
	if err != nil {
		t.Fatal(err)
	}
	s, err := detection.Parse(b)
	if err != nil {
		t.Fatalf("the defaults' own document: %v\n%s", err, b)
	}
	if !reflect.DeepEqual(s, detection.Defaults()) {
		t.Fatalf("round trip:\n%+v\nwant\n%+v", s, detection.Defaults())
	}
	empty, err := detection.Parse([]byte(`{}`))
	if err != nil || !reflect.DeepEqual(empty, detection.Defaults()) {
		t.Fatalf("an empty document is not the defaults: %+v %v", empty, err)
	}
}

func TestParse(t *testing.T) {
	t.Run("a list given replaces that list only", func(t *testing.T) {
		s, err := detection.Parse([]byte(`{"detectors": [{"type": "Recon:Ip/Scanning", "signals": ["http.404"], "per": "ip",
			"threshold": 5, "window": "30s", "severity": 50}]}`))
		if err != nil {
			t.Fatal(err)
		}
		want := detect.Detector{Type: finding.Scanning, Signals: []detect.Kind{detect.NotFound}, Per: finding.IP,
			Threshold: 5, Window: 30 * time.Second, Severity: 50}
		if len(s.Detectors) != 1 || !reflect.DeepEqual(s.Detectors[0], want) {
			t.Fatalf("detectors %+v", s.Detectors)
		}
		if !reflect.DeepEqual(s.Responses, response.Defaults()) {
			t.Fatal("the responses are not the defaults")
		}
		s, err = detection.Parse([]byte(`{"responses": [{"type": "Recon:Ip/Scanning", "subject": "ip", "action": "log"}]}`))
		if err != nil || len(s.Responses) != 1 || !reflect.DeepEqual(s.Detectors, detect.Defaults()) {
			t.Fatalf("responses only: %+v %v", s, err)
		}
		if _, err := detection.Parse([]byte(`{"detectors": []}`)); err != nil {
			t.Fatalf("no detector at all is a choice: %v", err)
		}
	})

	for name, c := range map[string]struct{ doc, says string }{
		"not JSON":         {`{"detectors": [`, "not a settings document"},
		"an unknown field": {`{"detectors": [], "thresholds": 3}`, "unknown field"},
		"two values":       {`{} {}`, "more than one"},
		"a bad window": {`{"detectors": [{"type": "Recon:Ip/Scanning", "signals": ["http.404"], "per": "ip", "threshold": 5,
			"window": "a minute", "severity": 50}]}`, `detectors[0]: window "a minute"`},
		"a window out of bounds": {`{"detectors": [{"type": "Recon:Ip/Scanning", "signals": ["http.404"], "per": "ip", "threshold": 5,
			"window": "30d", "severity": 50}]}`, "detectors[0]"},
		"an unknown signal": {`{"detectors": [{"type": "Recon:Ip/Scanning", "signals": ["http.500"], "per": "ip", "threshold": 5,
			"window": "1m", "severity": 50}]}`, `unknown signal "http.500"`},
		"an unknown type": {`{"detectors": [{"type": "Recon:Ip/Everything", "signals": ["http.404"], "per": "ip", "threshold": 5,
			"window": "1m", "severity": 50}]}`, "unknown finding type"},
		"a zero threshold": {`{"detectors": [{"type": "Recon:Ip/Scanning", "signals": ["http.404"], "per": "ip", "threshold": 0,
			"window": "1m", "severity": 50}]}`, "threshold"},
		"a bad distinct": {`{"detectors": [{"type": "CredentialAccess:Ip/CredentialStuffing", "signals": ["login.failed"], "per": "ip",
			"distinct": "email", "threshold": 5, "window": "1m", "severity": 50}]}`, `distinct "email"`},
		// The NAT guarantee holds whatever the operator writes: an account's
		// finding never blocks the address it came from.
		"an account finding blocking an address": {`{"responses": [{"type": "CredentialAccess:Account/BruteForce", "subject": "account",
			"action": "block-ip", "base": "1h", "cap": "1h"}]}`, "block-ip acts on ip subjects"},
		"a block without durations": {`{"responses": [{"type": "Recon:Ip/Scanning", "subject": "ip", "action": "block-ip"}]}`, "durations"},
		"a response given twice": {`{"responses": [{"type": "Recon:Ip/Scanning", "subject": "ip", "action": "log"},
			{"type": "Recon:Ip/Scanning", "subject": "ip", "action": "log"}]}`, "given twice"},
		"an unknown action": {`{"responses": [{"type": "Recon:Ip/Scanning", "subject": "ip", "action": "nuke"}]}`, "unknown action"},
		"too many detectors": {`{"detectors": [` + strings.Repeat(`{"type": "Recon:Ip/Scanning", "signals": ["http.404"], "per": "ip",
			"threshold": 5, "window": "1m", "severity": 50},`, detection.MaxDetectors) + `{}]}`, "at most 64"},
		"too big": {`{"detectors": []}` + strings.Repeat(" ", detection.MaxBytes), "more than"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := detection.Parse([]byte(c.doc))
			if err == nil || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("err = %v, want one saying %q", err, c.says)
			}
		})
	}

	t.Run("every bad entry is named at once", func(t *testing.T) {
		_, err := detection.Parse([]byte(`{"detectors": [
			{"type": "Recon:Ip/Scanning", "signals": ["http.404"], "per": "ip", "threshold": 5, "window": "1m", "severity": 50},
			{"type": "Recon:Ip/Scanning", "signals": ["http.404"], "per": "ip", "threshold": 5, "window": "x", "severity": 50},
			{"type": "Recon:Ip/Scanning", "signals": ["http.404"], "per": "ip", "threshold": 5, "window": "1m", "severity": 500}]}`))
		if err == nil || !strings.Contains(err.Error(), "detectors[1]") || !strings.Contains(err.Error(), "detectors[2]") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "detection.json")
	if err := os.WriteFile(path, []byte(`{"detectors": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := detection.Read(path); err != nil || len(s.Detectors) != 0 {
		t.Fatalf("%+v %v", s, err)
	}
	if _, err := detection.Read(filepath.Join(dir, "missing.json")); err == nil {
		t.Fatal("a missing file was read")
	}
	if err := os.WriteFile(path, []byte(strings.Repeat(" ", 2*detection.MaxBytes)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := detection.Read(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("a file too big: %v", err)
	}
}

// FuzzParseSettings: whatever the document, Parse answers without panicking, and
// what it accepts is valid and writes itself back as the same settings.
func FuzzParseSettings(f *testing.F) {
	b, _ := detection.Defaults().JSON()
	f.Add(b)
	f.Add([]byte(`{"responses": [{"type": "Recon:Ip/Scanning", "subject": "ip", "action": "block-ip", "base": "1m", "cap": "2m"}]}`))
	f.Add([]byte(`{"detectors": [{"type": "Recon:Ip/Scanning", "signals": ["http.404"], "per": "ip", "threshold": 1, "window": "1s", "severity": 0}]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		s, err := detection.Parse(doc)
		if err != nil {
			return
		}
		if _, err := detect.New(nil, s.Detectors); err != nil {
			t.Fatalf("accepted detectors the engine refuses: %v", err)
		}
		if _, err := response.NewPolicy(s.Responses); err != nil {
			t.Fatalf("accepted responses the policy refuses: %v", err)
		}
		out, err := s.JSON()
		if err != nil {
			t.Fatal(err)
		}
		again, err := detection.Parse(out)
		if err != nil || !reflect.DeepEqual(again, s) {
			t.Fatalf("written back as %s: %+v %v", out, again, err)
		}
	})
}
