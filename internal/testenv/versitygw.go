package testenv

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// VersityGWVar names the versitygw binary when it is not on PATH, in GOBIN
// or in GOPATH/bin.
const VersityGWVar = "BULWARK_TEST_VERSITYGW"

// VersityGWInstall is how CI installs versitygw.
const VersityGWInstall = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// S3Server is a running S3-compatible server on loopback, over plain HTTP.
type S3Server struct {
	Endpoint  string // 127.0.0.1:port
	AccessKey string // its root user's
	SecretKey string
}

// StartVersityGW runs versitygw, Versity's S3 gateway, on a free loopback
// port until the test ends, with its posix backend in a temporary
// directory. Versioning is on (--versioning-dir), so a bucket created with
// object lock behaves as on AWS: retention is enforced, and a delete
// without a version id only adds a delete marker. It skips (fails under
// BULWARK_TEST_REQUIRE_SERVICES=1) when the binary is missing.
func StartVersityGW(t testing.TB) S3Server {
	t.Helper()
	bin := findTool(VersityGWVar, "versitygw")
	if bin == "" {
		missing(t, "versitygw is not on PATH, in GOBIN or in GOPATH/bin ("+VersityGWInstall+", or set "+VersityGWVar+"): S3 target tests did not run")
		t.SkipNow()
	}
	dir := t.TempDir()
	root, versions := filepath.Join(dir, "buckets"), filepath.Join(dir, "versions")
	for _, d := range []string{root, versions} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	srv := S3Server{
		Endpoint:  "127.0.0.1:" + strconv.Itoa(FreePort(t)),
		AccessKey: "bulwark-test-root",
		SecretKey: "bulwark-test-root-secret-" + randomHex(8),
	}
	cmd := exec.Command(bin, "--port", srv.Endpoint, "--quiet", "posix", "--versioning-dir", versions, root)
	cmd.Dir = dir
	// The root credentials through the environment, not the command line
	// that any process can read.
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+srv.AccessKey, "ROOT_SECRET_ACCESS_KEY="+srv.SecretKey)
	out := startTool(t, "versitygw", cmd)
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Any answer means it is serving (403 to an unsigned request).
		res, err := client.Get("http://" + srv.Endpoint + "/")
		if err == nil {
			res.Body.Close()
			return srv
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not come up: %v\n%s", err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
