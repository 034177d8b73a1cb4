package testenv

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// StripeMockVar names the stripe-mock binary when it is not on PATH, in
// GOBIN or in GOPATH/bin.
const StripeMockVar = "BULWARK_TEST_STRIPE_MOCK"

// StripeMockInstall is how CI installs stripe-mock.
const StripeMockInstall = "go install github.com/stripe/stripe-mock@v0.203.0"

// StartStripeMock runs stripe-mock, Stripe's own mock of its API (it checks
// every request against Stripe's OpenAPI document and answers with
// fixtures), on a free loopback port until the test ends, and returns its
// base URL. It skips (fails under BULWARK_TEST_REQUIRE_SERVICES=1) when the
// binary is missing.
func StartStripeMock(t testing.TB) string {
	t.Helper()
	bin := findStripeMock()
	if bin == "" {
		missing(t, "stripe-mock is not on PATH, in GOBIN or in GOPATH/bin ("+StripeMockInstall+", or set "+StripeMockVar+"): Stripe adapter tests did not run")
		t.SkipNow()
	}
	port := FreePort(t)
	// Its HTTPS listener (on 12112 unless told) goes to a free port too, so
	// that tests and other programs running at once never collide.
	out := startTool(t, "stripe-mock", exec.Command(bin, "-http-addr", "127.0.0.1:"+strconv.Itoa(port), "-https-addr", "127.0.0.1:"+strconv.Itoa(FreePort(t))))
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		// Any answer means it is serving (401 without a key).
		res, err := client.Get(base + "/v1/balance")
		if err == nil {
			res.Body.Close()
			return base
		}
		if time.Now().After(deadline) {
			t.Fatalf("stripe-mock did not come up: %v\n%s", err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func findStripeMock() string { return findTool(StripeMockVar, "stripe-mock") }

// findTool looks for a test tool named by envVar, then on PATH, then in
// GOBIN, GOPATH/bin and ~/go/bin (where go install puts it); "" if nowhere.
func findTool(envVar, name string) string {
	if bin := os.Getenv(envVar); bin != "" {
		return bin
	}
	if bin, err := exec.LookPath(name); err == nil {
		return bin
	}
	var dirs []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	if gopath := os.Getenv("GOPATH"); gopath != "" {
		dirs = append(dirs, filepath.Join(filepath.SplitList(gopath)[0], "bin"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		bin := filepath.Join(d, name)
		if st, err := os.Stat(bin); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return bin
		}
	}
	return ""
}

// startTool starts a test's helper program, its output kept and shown when
// the test fails, and kills it when the test ends.
func startTool(t testing.TB, name string, cmd *exec.Cmd) *SyncBuffer {
	t.Helper()
	out := &SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
	return out
}
