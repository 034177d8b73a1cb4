package app_test

import (
	"encoding/json"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/app"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/detection"
	"github.com/bulwark-shop/bulwark/internal/logging"
)

// TestDetectionSetting: detectors and responses are data an operator sets —
// a detection file whose scanning detector fires at 5 missing paths, with a
// 2-minute block, blocks a scanner well before the built-in one (30) would,
// with the severity and block it says; the CLI prints the lists in force as a
// file to start from; a file that cannot work (here, an account finding
// made to block an address, against the NAT guarantee) refuses to start and
// is refused by the CLI, naming the problem.
func TestDetectionSetting(t *testing.T) {
	db := sqliteDB(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"responses": [{"type": "CredentialAccess:Account/BruteForce", "subject": "account",
		"action": "block-ip", "base": "1h", "cap": "1h"}]}`), 0o600)
	cfg := testConfig(db)
	cfg.Detection = bad
	if a, err := app.New(t.Context(), cfg, logging.New(io.Discard, 0), time.Now); err == nil {
		a.Close()
		t.Fatal("started with an account finding blocking addresses")
	} else if !strings.Contains(err.Error(), "block-ip acts on ip subjects") || !strings.Contains(err.Error(), bad) {
		t.Fatalf("the refusal does not say why: %v", err)
	}
	if code, _, stderr := runCLIWith(t, cfg, map[string]string{"BULWARK_DETECTION": bad}, "detection", "show"); code == 0 ||
		!strings.Contains(stderr, "block-ip acts on ip subjects") {
		t.Fatalf("detection show of the bad file: %d %s", code, stderr)
	}

	good := filepath.Join(dir, "good.json")
	os.WriteFile(good, []byte(`{
		"detectors": [{"type": "Recon:Ip/Scanning", "signals": ["http.404"], "per": "ip", "threshold": 5, "window": "1m", "severity": 45}],
		"responses": [{"type": "Recon:Ip/Scanning", "subject": "ip", "action": "block-ip", "base": "2m", "cap": "10m"}]}`), 0o600)
	s := startServer(t, db, func(c *config.Config) { c.TrustedProxies = "127.0.0.0/8"; c.Detection = good })
	admin := s.createAdmin("detection-admin@example.com")
	// Signals reach detection asynchronously: the block lands a few
	// requests after the fifth, long before the built-in 30.
	n := scanUntilBlocked(t, s, "203.0.113.70", 29)
	t.Logf("blocked after %d requests", n)
	f := s.waitFinding(admin, "type="+url.QueryEscape("Recon:Ip/Scanning")+"&subject=ip:203.0.113.70")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.HasPrefix(f.Response, "block-ip 2m0s") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		s.must(200, req{method: "GET", path: "/api/v1/admin/findings/" + f.ID, token: admin}).JSON(t, &f)
	}
	if f.Severity != 45 || !strings.HasPrefix(f.Response, "block-ip 2m0s") {
		t.Fatalf("finding %+v: want the file's severity and block", f)
	}

	code, out, stderr := runCLIWith(t, cfg, map[string]string{"BULWARK_DETECTION": good}, "detection", "show")
	if code != 0 {
		t.Fatalf("detection show: %d %s", code, stderr)
	}
	shown, err := detection.Parse([]byte(out))
	if err != nil {
		t.Fatalf("what detection show prints is not a detection file: %v\n%s", err, out)
	}
	if len(shown.Detectors) != 1 || shown.Detectors[0].Threshold != 5 || len(shown.Responses) != 1 {
		t.Fatalf("shown %+v", shown)
	}
	_, out, _ = runCLIWith(t, cfg, nil, "detection", "show")
	var doc struct{ Detectors, Responses []json.RawMessage }
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Detectors) != len(detection.Defaults().Detectors) {
		t.Fatalf("the built-in lists: %v\n%s", err, out)
	}
}
