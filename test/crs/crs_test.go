// Package crs runs the OWASP Core Rule Set's own regression tests (the YAML
// shipped in github.com/corazawaf/coraza-coreruleset/v4/tests) with go-ftw,
// in process, against the rules Bulwark configures: internal/waf's
// directives built from Bulwark's default settings. It is a module of its own
// so that go-ftw's dependencies stay out of Bulwark's go.mod.
//
// Three things differ from Bulwark's defaults. Two are settings an operator
// may choose, set here so that every rule Bulwark can run is tested: paranoia
// level 4 (waf-paranoia) and response inspection (waf-response-inspection).
// The third, as in Coraza's own CRS run, is DetectionOnly mode, so that a
// request refused early still reaches the later rules whose ids the tests
// expect in the log.
package crs

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	crstests "github.com/corazawaf/coraza-coreruleset/v4/tests"
	"github.com/corazawaf/coraza/v3"
	txhttp "github.com/corazawaf/coraza/v3/http"
	"github.com/corazawaf/coraza/v3/types"
	ftwconfig "github.com/coreruleset/go-ftw/config"
	"github.com/coreruleset/go-ftw/output"
	"github.com/coreruleset/go-ftw/runner"
	"github.com/coreruleset/go-ftw/test"
	"github.com/rs/zerolog"

	"github.com/bulwark-shop/bulwark/internal/config"
)

// testDirectives are what go-ftw needs on top of Bulwark's rules: detection
// only (see the package comment) and a rule that writes the X-CRS-Test marker
// header to the log, which is how go-ftw finds each test's log lines.
const testDirectives = `
SecRuleEngine DetectionOnly
SecRule REQUEST_HEADERS:X-CRS-Test "@rx ^.*$" "id:999999,phase:1,log,msg:'X-CRS-Test %{MATCHED_VAR}',pass,t:none"
`

func TestCoreRuleSetRegression(t *testing.T) {
	cfg := config.Defaults()
	cfg.WAFParanoia = 4
	cfg.WAFResponseInspection = true
	wc, err := cfg.WAFConfig()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "error.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	logw := bufio.NewWriter(logFile)
	w, err := coraza.NewWAF(coraza.NewWAFConfig().
		WithRootFS(coreruleset.FS).
		WithDirectives(wc.Directives()).
		WithDirectives(testDirectives).
		WithErrorCallback(func(rule types.MatchedRule) {
			_, _ = io.WriteString(logw, rule.ErrorLog()+"\n")
			_ = logw.Flush()
		}))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(txhttp.WrapHandler(w, http.HandlerFunc(httpbin)))
	defer srv.Close()

	var tests []*test.FTWTest
	err = fs.WalkDir(crstests.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		b, err := fs.ReadFile(crstests.FS, path)
		if err != nil {
			return err
		}
		ft, err := test.GetTestFromYaml(b, path)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		tests = append(tests, ft)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	u, _ := url.Parse(srv.URL)
	host := u.Hostname()
	port, _ := strconv.Atoi(u.Port())
	fc, err := ftwconfig.NewConfigFromFile("expected-failures.yml")
	if err != nil {
		t.Fatal(err)
	}
	fc.WithLogfile(logPath)
	fc.TestOverride.Overrides.DestAddr = &host
	fc.TestOverride.Overrides.Port = &port

	zerolog.SetGlobalLevel(zerolog.WarnLevel)
	res, err := runner.Run(fc, tests, &runner.RunnerConfig{ConnectTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, ShowOnlyFailed: true,
		Exclude: regexp.MustCompile(`^980170-`)}, // see expected-failures.yml
		output.NewOutput("normal", os.Stdout))
	if err != nil {
		t.Fatal(err)
	}
	s := res.Stats
	overridden := len(s.Ignored) + len(s.ForcedPass) + len(s.ForcedFail)
	// .ci/run greps this line.
	fmt.Printf("CRS regression: %d passed, %d failed, %d skipped/overridden (CRS %s, %d test files)\n",
		len(s.Success), len(s.Failed), len(s.Skipped)+overridden, "4.25.0", len(tests))
	if len(s.Failed) > 0 {
		sort.Strings(s.Failed)
		t.Errorf("unexpected failures (fix them, or add them with a reason to expected-failures.yml): %v", s.Failed)
	}
}

// httpbin answers like the backends the CRS tests are written for: httpbin's
// /anything and /base64/, albedo's /reflect, and a plain answer otherwise.
func httpbin(w http.ResponseWriter, r *http.Request) {
	defer r.Body.Close()
	w.Header().Set("Content-Type", "text/plain")
	switch {
	case r.URL.Path == "/reflect":
		reflect(w, r)
	case r.URL.Path == "/anything":
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Type") == "application/x-www-form-urlencoded" {
			if s, err := url.QueryUnescape(string(body)); err == nil {
				body = []byte(s)
			}
		}
		_, _ = w.Write(body)
	case strings.HasPrefix(r.URL.Path, "/base64/"):
		b, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(r.URL.Path, "/base64/"))
		_, _ = w.Write(b)
	default:
		_, _ = io.WriteString(w, "Hello!")
	}
}

// reflect answers with the status, headers and body the request's JSON asks
// for (albedo's /reflect), which is how the CRS tests provoke response rules.
func reflect(w http.ResponseWriter, r *http.Request) {
	var spec struct {
		Status      int               `json:"status"`
		Headers     map[string]string `json:"headers"`
		Body        string            `json:"body"`
		EncodedBody string            `json:"encodedBody"`
	}
	if err := json.NewDecoder(r.Body).Decode(&spec); err != nil {
		http.Error(w, "bad reflect spec", http.StatusBadRequest)
		return
	}
	for k, v := range spec.Headers {
		w.Header().Set(k, v)
	}
	body := []byte(spec.Body)
	if spec.EncodedBody != "" {
		body, _ = base64.StdEncoding.DecodeString(spec.EncodedBody)
	}
	if spec.Status == 0 {
		spec.Status = http.StatusOK
	}
	w.WriteHeader(spec.Status)
	_, _ = w.Write(body)
}
