package bench

import (
	"os"
	"os/exec"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/identity/password"
)

// workerEnv makes this test binary a password hash worker (TestMain), as
// bulwark hash-worker is one, so that a run-through can start its shop's
// hash workers as bulwark-bench does.
const workerEnv = "BULWARK_BENCH_TEST_WORKER"

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) == "1" {
		if err := password.ServeWorker(os.Stdin, os.Stdout); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testHashWorker starts this test binary as a hash worker.
func testHashWorker() *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{workerEnv + "=1", "GOMAXPROCS=1"}
	cmd.Stderr = os.Stderr
	return cmd
}
