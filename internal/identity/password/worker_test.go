package password_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/bulwark-shop/bulwark/internal/identity/password"
)

// workerEnv makes this test binary a hash worker (TestMain), as bulwark
// hash-worker is one.
const workerEnv = "BULWARK_PASSWORD_TEST_WORKER"

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) == "1" {
		if err := password.ServeWorker(os.Stdin, os.Stdout); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// workerCommand starts this test binary as a hash worker.
func workerCommand() *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{workerEnv + "=1", "GOMAXPROCS=1"}
	cmd.Stderr = os.Stderr
	return cmd
}

// withWorkers returns a hasher of p computing in worker processes, and the
// processes, closed when the test ends.
func withWorkers(t *testing.T, p password.Params, n int, command func() *exec.Cmd, log *slog.Logger) (*password.Hasher, *password.Processes) {
	t.Helper()
	h := password.NewHasher(p, n, password.Unbounded)
	procs := password.NewProcesses(h.Concurrency(), command, log)
	t.Cleanup(func() { procs.Close() })
	h.UseProcesses(procs)
	return h, procs
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// A worker computes the same keys as the server: hashes made either way
// verify either way, and a wrong password is refused either way.
func TestWorkerProcessesHashAsTheServerDoes(t *testing.T) {
	ctx := context.Background()
	inServer := password.NewHasher(fast(), 1, password.Unbounded)
	inWorker, procs := withWorkers(t, fast(), 1, workerCommand, quiet())
	const pw = "correct horse battery staple"
	for _, c := range []struct {
		name         string
		hash, verify *password.Hasher
	}{{"hashed in a worker, verified in the server", inWorker, inServer},
		{"hashed in the server, verified in a worker", inServer, inWorker},
		{"both in a worker", inWorker, inWorker}} {
		t.Run(c.name, func(t *testing.T) {
			enc := mustHash(t, c.hash, pw)
			if ok, _, err := c.verify.Verify(ctx, pw, enc); err != nil || !ok {
				t.Fatalf("Verify(right password) = %v, %v", ok, err)
			}
			if ok, _, err := c.verify.Verify(ctx, pw+"!", enc); err != nil || ok {
				t.Fatalf("Verify(wrong password) = %v, %v", ok, err)
			}
		})
	}
	if got := procs.Started(); got != 1 {
		t.Fatalf("%d workers started for one slot's sequential hashes, want 1 reused", got)
	}
}

// The point of the workers: a hash's memory is allocated in the worker, not
// in the server, so the server's collector does not run for it. Measured
// with the runtime's own count of bytes allocated on the heap.
func TestAHashInAWorkerIsNotTheServersGarbage(t *testing.T) {
	p := password.Params{Memory: 8 * 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32} // 8 MiB
	const hashes = 4
	allocated := func(h *password.Hasher) uint64 {
		mustHash(t, h, "warm up: the worker starts") // the worker's start is not a hash's cost
		s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
		metrics.Read(s)
		before := s[0].Value.Uint64()
		for range hashes {
			mustHash(t, h, "a password of fair length")
		}
		metrics.Read(s)
		return s[0].Value.Uint64() - before
	}
	inWorker, _ := withWorkers(t, p, 1, workerCommand, quiet())
	inServer := password.NewHasher(p, 1, password.Unbounded)
	worker, server := allocated(inWorker), allocated(inServer)
	if server < hashes*8<<20 {
		t.Fatalf("hashing in the server allocated %d bytes for %d hashes of 8 MiB: the measure is wrong", server, hashes)
	}
	if worker > 1<<20 {
		t.Fatalf("hashing in a worker allocated %d bytes in the server for %d hashes of 8 MiB, want under 1 MiB", worker, hashes)
	}
}

// A worker killed (out of memory, say) costs no sign-in: the hash it had is
// computed in the server, and the next one starts a new worker.
func TestAKilledWorkerIsReplaced(t *testing.T) {
	ctx := context.Background()
	h, procs := withWorkers(t, fast(), 1, workerCommand, quiet())
	enc := mustHash(t, h, "the first password")
	pids := procs.Pids()
	if len(pids) != 1 {
		t.Fatalf("workers running after a hash: %v, want one", pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if ok, _, err := h.Verify(ctx, "the first password", enc); err != nil || !ok {
			t.Fatalf("Verify %d after the worker was killed = %v, %v", i, ok, err)
		}
	}
	if got := procs.Started(); got != 2 {
		t.Fatalf("%d workers started, want 2: the killed one and its replacement", got)
	}
	if now := procs.Pids(); len(now) != 1 || now[0] == pids[0] {
		t.Fatalf("workers running: %v, want one other than the killed %d", now, pids[0])
	}
}

// Where no worker can be started (a platform that forbids it), the hashes
// are computed in the server, and the failure is logged once, not at every
// sign-in.
func TestNoWorkerHashesInTheServer(t *testing.T) {
	var log bytes.Buffer
	h, procs := withWorkers(t, fast(), 1, func() *exec.Cmd { return exec.Command("/nonexistent/bulwark", "hash-worker") },
		slog.New(slog.NewTextHandler(&log, nil)))
	for range 3 {
		enc := mustHash(t, h, "a password of fair length")
		if ok, _, err := h.Verify(context.Background(), "a password of fair length", enc); err != nil || !ok {
			t.Fatalf("Verify = %v, %v", ok, err)
		}
	}
	if procs.Started() != 0 {
		t.Fatalf("%d workers started from a missing executable", procs.Started())
	}
	if n := strings.Count(log.String(), "cannot start a password hash worker"); n != 1 {
		t.Fatalf("the failure was logged %d times, want once:\n%s", n, log.String())
	}
}

// Workers end when the server closes them, and when their input ends (the
// server killed with -9 closes it too): none is left behind.
func TestWorkersEndWithTheirInput(t *testing.T) {
	h, procs := withWorkers(t, fast(), 2, workerCommand, quiet())
	done := make(chan struct{})
	for range 2 { // two at once: both slots' workers start
		go func() {
			defer func() { done <- struct{}{} }()
			h.Hash(context.Background(), "a password of fair length")
		}()
	}
	<-done
	<-done
	pids := procs.Pids()
	if len(pids) == 0 {
		t.Fatal("no worker running after two hashes")
	}
	procs.Close()
	for _, pid := range pids {
		// Close waited for each (reaped): the id is free, or another's.
		if err := syscall.Kill(pid, 0); err == nil {
			if b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); bytes.Contains(b, []byte(os.Args[0])) {
				t.Fatalf("worker %d still runs after Close", pid)
			}
		}
	}
	// After Close, hashes are still answered, in the server.
	if _, err := h.Hash(context.Background(), "a password of fair length"); err != nil {
		t.Fatal(err)
	}
}

// A worker refuses a broken request (it exits; the server starts another)
// and parameters a stored hash could not have, without computing.
func TestWorkerRefusesWhatItCannotTrust(t *testing.T) {
	var out bytes.Buffer
	if err := password.ServeWorker(bytes.NewReader(nil), &out); err != nil || out.Len() != 0 {
		t.Fatalf("no input: %v, %q; want a clean end", err, out.Bytes())
	}
	good := password.EncodeRequest("pw", make([]byte, 16), fast(), false)
	for cut := 1; cut < len(good); cut++ {
		out.Reset()
		if err := password.ServeWorker(bytes.NewReader(good[:cut]), &out); !errors.Is(err, io.ErrUnexpectedEOF) || out.Len() != 0 {
			t.Fatalf("request cut at %d of %d bytes: %v, %q; want an unexpected end and no answer", cut, len(good), err, out.Bytes())
		}
	}
	huge := fast()
	huge.Memory = 1<<20 + 1 // past the 1 GiB bound
	out.Reset()
	if err := password.ServeWorker(bytes.NewReader(password.EncodeRequest("pw", make([]byte, 16), huge, false)), &out); err != nil || !bytes.Equal(out.Bytes(), []byte{1}) {
		t.Fatalf("m past the bound: %v, %q; want the refusal byte alone", err, out.Bytes())
	}
}

// FuzzWorkerRequest: whatever a worker reads, it either refuses it or reads
// exactly what a server would have written for it; and for cheap valid
// parameters, it answers argon2id's key.
func FuzzWorkerRequest(f *testing.F) {
	f.Add(password.EncodeRequest("correct horse", make([]byte, 16), fast(), false))
	f.Add(password.EncodeRequest("", []byte("salt salt"), fast(), true))
	f.Add([]byte{2, 0, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		pw, salt, p, lowered, err := password.DecodeRequest(b)
		if err != nil {
			return
		}
		again := password.EncodeRequest(pw, salt, p, lowered)
		if !bytes.HasPrefix(b, again) {
			t.Fatalf("read %q, %x, %+v, %v from %x, which is not how it is written: %x", pw, salt, p, lowered, b, again)
		}
		if p.Memory > 1024 || p.Iterations > 4 || p.Parallelism > 4 || p.KeyLength > 256 {
			return // valid perhaps, but too slow to fuzz
		}
		var out bytes.Buffer
		if err := password.ServeWorker(bytes.NewReader(again), &out); err != nil {
			t.Fatalf("serving a request that decodes: %v", err)
		}
		if out.Len() == 0 || out.Bytes()[0] == 1 {
			return // refused parameters
		}
		want := argon2.IDKey([]byte(pw), salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength)
		if !bytes.Equal(out.Bytes()[1:], want) {
			t.Fatalf("worker's key %x, argon2id's %x", out.Bytes()[1:], want)
		}
	})
}
