package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// SoftHSMModule is where Debian's softhsm2 package installs the PKCS#11 library.
const SoftHSMModule = "/usr/lib/softhsm/libsofthsm2.so"

// HSMToken is a throwaway SoftHSM token.
type HSMToken struct {
	Module, Label, PIN, SOPIN string
}

var softhsm struct {
	once sync.Once
	dir  string
	conf string
	err  string
}

// RemoveSoftHSM deletes the process's SoftHSM configuration and token
// directory, if a test made one. SoftHSM reads its configuration once per
// process, so the directory must outlive every test: a package whose tests use
// SoftHSM calls this from TestMain after m.Run, and leaves no
// bulwark-softhsm-* directory behind in the temporary directory.
func RemoveSoftHSM() {
	if softhsm.dir != "" {
		os.RemoveAll(softhsm.dir)
	}
}

// SoftHSM initialises a fresh SoftHSM token for one test and deletes it after,
// or skips (fails under BULWARK_TEST_REQUIRE_SERVICES=1) when SoftHSM is not
// installed or the build has no cgo. SoftHSM reads SOFTHSM2_CONF when a process first loads it, so all
// tests of a process share one configuration, in a temporary directory with
// its own token directory; each test has its own token in it.
func SoftHSM(t testing.TB) HSMToken {
	t.Helper()
	if !cgoEnabled {
		missing(t, "built without cgo, which PKCS#11 needs: HSM tests did not run")
		t.SkipNow()
	}
	if _, err := os.Stat(SoftHSMModule); err != nil {
		missing(t, "SoftHSM is not installed ("+SoftHSMModule+"): apt-get install softhsm2; HSM tests did not run")
		t.SkipNow()
	}
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		missing(t, "softhsm2-util is not installed: HSM tests did not run")
		t.SkipNow()
	}
	softhsm.once.Do(func() {
		dir, err := os.MkdirTemp("", "bulwark-softhsm-")
		if err != nil {
			softhsm.err = err.Error()
			return
		}
		softhsm.dir = dir
		tokens := filepath.Join(dir, "tokens")
		conf := filepath.Join(dir, "softhsm2.conf")
		if err := os.Mkdir(tokens, 0o700); err != nil {
			softhsm.err = err.Error()
			return
		}
		if err := os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
			softhsm.err = err.Error()
			return
		}
		softhsm.conf = conf
		// Set for the whole process before any test loads the module.
		os.Setenv("SOFTHSM2_CONF", conf)
	})
	if softhsm.err != "" {
		t.Fatalf("set up SoftHSM: %s", softhsm.err)
	}
	tok := HSMToken{Module: SoftHSMModule, Label: "bulwark-test-" + randomHex(6), PIN: randomHex(8), SOPIN: randomHex(8)}
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(util, args...)
		cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+softhsm.conf)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("softhsm2-util %s: %v\n%s", args[0], err, out)
		}
	}
	run("--init-token", "--free", "--label", tok.Label, "--so-pin", tok.SOPIN, "--pin", tok.PIN)
	t.Cleanup(func() { run("--delete-token", "--token", tok.Label) })
	return tok
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
