package app_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

// TestREADMEWalkthrough runs the README's commands literally, as a newcomer
// would: it reads the ```sh blocks of the "Set up" and "Using it" sections,
// builds the binary with the README's own `go build` line, starts the README's
// `serve --demo` on 127.0.0.1:8080 in a fresh directory, and runs every command
// of "Using it" in one bash session (so $TOKEN and any other variable the
// README sets carry over), with the real curl. Each command must exit 0 and no
// answer may be a problem document (a 4xx or 5xx). Issue 11: the WAF refused
// the README's `curl -X POST`, and no test noticed.
//
// Substitutions (the only changes made to the README's text):
//   - `go run ./cmd/bulwark` and `./bulwark` become the binary the README's
//     `go build -o bulwark ./cmd/bulwark` line built (its -o goes to a
//     temporary directory instead of the repository);
//   - a six-digit "otp":"NNNNNN" becomes the current code of the TOTP secret
//     that the latest answer printed (as the reader's authenticator app would
//     show it), one time step later for each further code, since each code
//     works once;
//   - `go test` lines are not run (the suite cannot run itself).
//
// Values the README keeps in shell variables (a token, an enrolment code
// printed by a command) need no substitution: the session keeps them.
//
// The README names 127.0.0.1:8080 (and serve's default metrics address
// 127.0.0.1:9090), so the test uses exactly those: when they are taken it
// fails under BULWARK_TEST_REQUIRE_SERVICES=1 (CI) and skips otherwise, as it
// does without bash or curl.
func TestREADMEWalkthrough(t *testing.T) {
	required := os.Getenv("BULWARK_TEST_REQUIRE_SERVICES") == "1"
	unavailable := func(format string, args ...any) {
		t.Helper()
		if required {
			t.Fatalf(format+" (required: BULWARK_TEST_REQUIRE_SERVICES=1)", args...)
		}
		t.Skipf(format, args...)
	}
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			unavailable("%s is not installed (apt-get install %s)", tool, tool)
		}
	}
	for _, addr := range []string{"127.0.0.1:8080", "127.0.0.1:9090"} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			unavailable("the README's address %s is taken: %v", addr, err)
		}
		l.Close()
	}

	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	setup := shellCommands(t, string(readme), "Set up")
	using := shellCommands(t, string(readme), "Using it")
	if len(using) == 0 {
		t.Fatal("README's Using it section has no commands before its walkthrough's end marker")
	}

	// Build with the README's own line, into a temporary directory.
	bin := filepath.Join(t.TempDir(), "bulwark")
	built := false
	for _, c := range setup {
		if strings.HasPrefix(c, "go build ") {
			line := strings.Replace(c, "-o bulwark ", "-o "+bin+" ", 1)
			if line == c {
				t.Fatalf("the README's build line %q has no `-o bulwark` for the test to redirect", c)
			}
			cmd := exec.Command("bash", "-c", line)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("README: %s: %v\n%s", c, err, out)
			}
			built = true
		}
	}
	if !built {
		t.Fatal("the README's Set up does not say how to build the binary (go build -o bulwark ./cmd/bulwark)")
	}
	substitute := func(c string) string {
		c = strings.ReplaceAll(c, "go run ./cmd/bulwark", bin)
		return regexp.MustCompile(`(^|[\s;&|(])\./bulwark\b`).ReplaceAllString(c, "${1}"+bin)
	}

	// A fresh directory, as after a clone: ./data is made by the server.
	work := t.TempDir()
	var served string
	for _, c := range setup {
		c = substitute(c)
		if !strings.HasPrefix(c, bin+" serve") || c == served {
			continue // go build (done above), go test (the suite itself), or the same serve again
		}
		if served != "" {
			t.Fatalf("the README starts two different servers: %q and %q", served, c)
		}
		served = c
		startREADMEServer(t, work, c)
	}
	if served == "" {
		t.Fatal("the README's Set up starts no server (go run ./cmd/bulwark serve --demo)")
	}

	sh := newShell(t, work)
	otps := regexp.MustCompile(`"otp":"[0-9]{6}"`)
	secrets := regexp.MustCompile(`"secret":"([A-Z2-7]+)"`)
	problem := regexp.MustCompile(`"status":\s*[45][0-9][0-9]\b`)
	var secret string
	var lastStep int64
	for _, c := range using {
		line := substitute(c)
		if otps.MatchString(line) {
			if secret == "" {
				t.Fatalf("README: %s\nneeds a TOTP code, but no earlier answer printed a secret", c)
			}
			// Each code works once: use the next time step after the last one
			// used, waiting when that is past the server's accepted skew.
			now := time.Now().Unix() / 30
			step := max(now, lastStep+1)
			if step > now+1 {
				time.Sleep(time.Until(time.Unix((step-1)*30, 0)))
			}
			lastStep = step
			code, err := totp.GenerateCode(secret, time.Unix(step*30, 0))
			if err != nil {
				t.Fatal(err)
			}
			line = otps.ReplaceAllString(line, `"otp":"`+code+`"`)
		}
		out, rc := sh.run(t, line)
		t.Logf("$ %s\n%s", c, out)
		if rc != 0 {
			t.Fatalf("README: %s\nexited %d:\n%s", c, rc, out)
		}
		if problem.MatchString(out) {
			t.Fatalf("README: %s\nanswered a problem:\n%s", c, out)
		}
		if m := secrets.FindStringSubmatch(out); m != nil {
			secret = m[1]
		}
	}
	if lastStep == 0 {
		t.Fatal("the README's walkthrough never uses a TOTP code")
	}

	// What the walkthrough did is there: the README's product is on sale.
	res, err := http.Get("http://127.0.0.1:8080/api/v1/products?limit=100")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.Contains(string(body), `"sku":"CAP-1"`) {
		t.Fatalf("after the walkthrough the catalog is %d %s", res.StatusCode, body)
	}
}

// walkthroughEnd marks, in a section of the README, where the commands the
// test runs end.
const walkthroughEnd = "<!-- End of the walkthrough"

// shellCommands returns the commands of the ```sh blocks in the README's
// section called title, up to walkthroughEnd if there is one: comments and blank lines dropped, lines continued
// with a backslash kept together (newlines included) as one command.
func shellCommands(t *testing.T, readme, title string) []string {
	t.Helper()
	start := strings.Index(readme, "\n## "+title+"\n")
	if start < 0 {
		t.Fatalf("README has no section %q", title)
	}
	section := readme[start+len(title)+5:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	// The walkthrough ends at this comment; commands after it are examples
	// for other machines (a PostgreSQL server elsewhere).
	if end := strings.Index(section, walkthroughEnd); end >= 0 {
		section = section[:end]
	}
	var cmds []string
	inBlock := false
	var cur []string
	for _, l := range strings.Split(section, "\n") {
		switch {
		case strings.HasPrefix(l, "```sh"):
			inBlock = true
			continue
		case strings.HasPrefix(l, "```"):
			inBlock = false
			continue
		case !inBlock:
			continue
		}
		trimmed := strings.TrimSpace(l)
		if len(cur) == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		cur = append(cur, l)
		if !strings.HasSuffix(l, `\`) {
			cmds = append(cmds, strings.Join(cur, "\n"))
			cur = nil
		}
	}
	var out []string
	for _, c := range cmds {
		if regexp.MustCompile(`^(?:[A-Z_]+=\S+\s+\\?\s*)*go test\b`).MatchString(c) {
			continue
		}
		out = append(out, c)
	}
	return out
}

// startREADMEServer runs the README's serve command with bash in dir, stops it
// (by its process group, which holds only it and its bash) when the test
// ends, and waits until it answers on 127.0.0.1:8080.
func startREADMEServer(t *testing.T, dir, command string) {
	t.Helper()
	cmd := exec.Command("bash", "-c", "exec "+command)
	cmd.Dir = dir
	cmd.Env = readmeEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logs := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("README: %s exited: %v\n%s", command, err, logs)
		default:
		}
		if res, err := http.Get("http://127.0.0.1:8080/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("README: %s does not answer on 127.0.0.1:8080 after a minute\n%s", command, logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readmeEnv is a newcomer's environment: no BULWARK_* settings from the test run.
func readmeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BULWARK_") {
			env = append(env, kv)
		}
	}
	return env
}

// shell is one bash session fed command by command, so variables carry over.
type shell struct {
	in  io.WriteCloser
	out *bufio.Reader
}

const shellMarker = "@@bulwark-readme-step rc="

func newShell(t *testing.T, dir string) *shell {
	t.Helper()
	cmd := exec.Command("bash", "--noprofile", "--norc")
	cmd.Dir = dir
	cmd.Env = readmeEnv()
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		_ = cmd.Wait()
		pw.Close()
	})
	return &shell{in: in, out: bufio.NewReader(pr)}
}

// run sends one command and returns what it printed and its exit status.
func (s *shell) run(t *testing.T, command string) (string, int) {
	t.Helper()
	if _, err := fmt.Fprintf(s.in, "%s\nprintf '\\n%s%%d@@\\n' $?\n", command, shellMarker); err != nil {
		t.Fatal(err)
	}
	type result struct {
		out string
		rc  int
		err error
	}
	done := make(chan result, 1)
	go func() {
		var b strings.Builder
		for {
			line, err := s.out.ReadString('\n')
			if err != nil {
				done <- result{b.String(), -1, err}
				return
			}
			if rest, ok := strings.CutPrefix(line, shellMarker); ok {
				var rc int
				fmt.Sscanf(rest, "%d@@", &rc)
				done <- result{strings.TrimSuffix(b.String(), "\n"), rc, nil}
				return
			}
			b.WriteString(line)
		}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("README: %s: the shell ended: %v\n%s", command, r.err, r.out)
		}
		return r.out, r.rc
	case <-time.After(2 * time.Minute):
		t.Fatalf("README: %s: no end after 2 minutes", command)
		return "", -1
	}
}
