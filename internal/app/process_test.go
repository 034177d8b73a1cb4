package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/edge"
	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	testenv.RemoveSoftHSM()
	os.Exit(code)
}

// bulwarkBinary builds cmd/bulwark once for the tests that need a real process
// (to kill it, or to run two).
func bulwarkBinary(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		// CI runs each end-to-end test in a process of its own (.ci/gotest):
		// it builds the binary once and names it here.
		if p := os.Getenv("BULWARK_TEST_BINARY"); p != "" {
			binary.path = p
			return
		}
		if binary.dir, binary.err = os.MkdirTemp("", "bulwark-bin-"); binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "bulwark")
		out, err := exec.Command("go", "build", "-o", binary.path, "github.com/bulwark-shop/bulwark/cmd/bulwark").CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// process is a `bulwark serve` in a process of its own.
type process struct {
	*server
	cmd         *exec.Cmd
	done        chan struct{}
	metricsAddr atomic.Value // string, when a metrics listener serves
}

// startProcess runs `bulwark serve` on cfg's databases and data directory and
// waits until it serves.
func startProcess(t *testing.T, cfg config.Config, extra ...string) *process {
	t.Helper()
	return startProcessWithEnv(t, cfg, nil, extra...)
}

// startProcessWithEnv is startProcess with more environment variables.
func startProcessWithEnv(t *testing.T, cfg config.Config, env []string, extra ...string) *process {
	t.Helper()
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--metrics-listen", "", "--data-dir", cfg.DataDir}, extra...)
	cmd := exec.Command(bulwarkBinary(t), args...)
	cmd.Env = append(append(os.Environ(), "BULWARK_DATABASE_URL="+cfg.DatabaseURL, "BULWARK_VAULT_DATABASE_URL="+cfg.VaultDatabaseURL), env...)
	// Limits stay on, out of the way of hundreds of checkouts from 127.0.0.1, as in testConfig.
	for _, class := range edge.Classes() {
		cmd.Env = append(cmd.Env, "BULWARK_RATE_LIMIT_"+strings.ToUpper(string(class))+"="+roomy.String())
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	logs := &testenv.SyncBuffer{}
	addr := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			logs.Write([]byte(line + "\n"))
			var l struct{ Msg, Listen string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "serving" {
				addr <- l.Listen
			}
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "serving metrics" {
				p.metricsAddr.Store(l.Listen)
			}
		}
		io.Copy(io.Discard, stderr)
		cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	select {
	case a := <-addr:
		p.server = &server{t: t, URL: "http://" + a, Config: cfg, Logs: logs, client: &http.Client{Timeout: 30 * time.Second}}
	case <-p.done:
		t.Fatalf("bulwark serve exited:\n%s", logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("bulwark serve did not start:\n%s", logs.String())
	}
	return p
}

// kill stops the process the hard way: SIGKILL, no shutdown.
func (p *process) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

// TestCrashLosesNothingAcknowledged runs checkouts against a real process,
// kills it with SIGKILL at a random point, restarts it, and does so again,
// three times; then it checks that every order that got a 201 is there, that
// stock and orders reconcile (abandoned reservations are released at start),
// and that the audit trail verifies. Eight clients at a time keep SQLite's
// group commit batching several checkouts into each commit, so a kill lands
// between a batch's writes and its commit as often as anywhere.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		cfg := testConfig(db)
		const initial = 1000
		proc := startProcess(t, cfg, "--pending-order-timeout", "2s")
		admin := proc.createAdmin("crash-admin@example.com")
		adminSecret := proc.secrets["crash-admin@example.com"]
		p := proc.createProduct(admin, "CRASH-1", initial)
		type job struct {
			who  shopper
			cart string
		}
		var jobs []job
		for i := range 4 {
			sh := proc.shopper(fmt.Sprintf("crash%d@example.com", i), "4242424242424242")
			for range 45 {
				jobs = append(jobs, job{sh, proc.cartWith(sh, 1, p.ID)})
			}
		}

		type ack struct{ token, orderID string }
		var (
			mu    sync.Mutex
			acked []ack
			sent  atomic.Int64
		)
		const rounds, perRound = 3, 60
		for round := range rounds {
			if round > 0 {
				proc = startProcess(t, cfg, "--pending-order-timeout", "2s")
			}
			base := proc.URL
			work := make(chan int)
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for i := range work {
						j := jobs[i]
						body := fmt.Sprintf(`{"cart_id":%q,"payment_method":%q,"cvc":"123","shipping_address":{"name":"A","line1":"B","city":"C","postal_code":"1","country":"DE"}}`, j.cart, j.who.method)
						r, _ := http.NewRequest("POST", base+"/api/v1/checkout", strings.NewReader(body))
						r.Header.Set("Content-Type", "application/json")
						r.Header.Set("Authorization", "Bearer "+j.who.token)
						r.Header.Set("Idempotency-Key", fmt.Sprintf("crash-%d", i))
						sent.Add(1)
						res, err := proc.client.Do(r)
						if err != nil {
							continue // the server died under this request: not acknowledged
						}
						b, _ := io.ReadAll(res.Body)
						res.Body.Close()
						if res.StatusCode == 201 {
							var o struct{ ID string }
							if json.Unmarshal(b, &o) == nil {
								mu.Lock()
								acked = append(acked, ack{j.who.token, o.ID})
								mu.Unlock()
							}
						}
					}
				})
			}
			// A random point in the round's second half: the server is
			// busy with eight checkouts at once by then.
			killAt := sent.Load() + perRound/2 + rand.Int64N(perRound/2-8)
			killed := false
			for i := round * perRound; i < (round+1)*perRound; i++ {
				if !killed && sent.Load() >= killAt {
					proc.kill(t)
					killed = true
				}
				work <- i
			}
			close(work)
			wg.Wait()
			if !killed {
				t.Fatalf("round %d: the load finished before the kill: nothing was tested", round)
			}
		}
		if len(acked) < 30 {
			t.Fatalf("only %d checkouts were acknowledged before the kills", len(acked))
		}

		last := startProcess(t, cfg, "--pending-order-timeout", "2s")
		for _, a := range acked {
			var o orderJSON
			last.must(200, req{method: "GET", path: "/api/v1/orders/" + a.orderID, token: a.token}).JSON(t, &o)
			if o.Status != "paid" {
				t.Fatalf("acknowledged order %s is %s after the crashes", a.orderID, o.Status)
			}
		}
		// Stock and orders reconcile once abandoned reservations are released.
		adminAgain := last.loginWithMFA("crash-admin@example.com", adminSecret)
		deadline := time.Now().Add(30 * time.Second)
		for {
			var orders []orderJSON
			for cursor := ""; ; {
				var page struct {
					Items      []orderJSON
					NextCursor string `json:"next_cursor"`
				}
				last.must(200, req{method: "GET", path: "/api/v1/admin/orders?limit=100&cursor=" + url.QueryEscape(cursor), token: adminAgain}).JSON(t, &page)
				orders = append(orders, page.Items...)
				if cursor = page.NextCursor; cursor == "" {
					break
				}
			}
			sold := int64(0)
			for _, o := range orders {
				for _, it := range o.Items {
					sold += int64(it.Quantity)
				}
			}
			stock := last.stock(p.ID)
			if stock+sold == initial && len(orders) >= len(acked) {
				if paid := countAuditRaw(t, cfg, "order.checkout", audit.Success); paid != len(orders) {
					t.Fatalf("%d successful checkout audit records for %d orders", paid, len(orders))
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("stock %d + sold %d != %d after restart (%d orders, %d acknowledged)", stock, sold, initial, len(orders), len(acked))
			}
			time.Sleep(200 * time.Millisecond)
		}
		if code, out, errOut := runCLI(t, cfg, "", "audit", "verify"); code != 0 {
			t.Fatalf("audit verify after the crashes: %s %s", out, errOut)
		}
		t.Logf("%d checkouts sent in %d rounds, %d acknowledged before the kills; %d abandoned reservations released at restart",
			sent.Load(), rounds, len(acked), countAuditRaw(t, cfg, "order.checkout", audit.Failure))
	})
}

// TestNoOversellAcrossInstances has two server processes on one PostgreSQL
// race 80 checkouts for the last 10 units.
func TestNoOversellAcrossInstances(t *testing.T) {
	dbs := testenv.Databases(t)
	if len(dbs) < 2 {
		t.Skip("needs PostgreSQL: " + testenv.DatabaseURLVar + " is not set")
	}
	cfg := testConfig(dbs[1])
	a := startProcess(t, cfg)
	b := startProcess(t, cfg) // the same data directory: both use the one vault keyset
	admin := a.createAdmin("multi-admin@example.com")
	p := a.createProduct(admin, "MULTI-10", 10)
	raceForLastUnits(t, a.server, p.ID, 10, func(i int) *server {
		if i%2 == 1 {
			return b.server
		}
		return a.server
	})
}

// countAuditRaw counts audit records of action and outcome in cfg's database.
func countAuditRaw(t *testing.T, cfg config.Config, action, outcome string) int {
	t.Helper()
	db, err := store.Open(context.Background(), store.Options{DatabaseURL: cfg.DatabaseURL, DataDir: cfg.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	if _, err := db.ScanAudit(context.Background(), func(r audit.Record) error {
		if r.Action == action && r.Outcome == outcome {
			n++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestHashWorkersAreProcessesThatDieWithTheServer: bulwark serve computes
// password hashes in worker processes of its own executable (bulwark
// hash-worker), which get none of the server's environment, and a server
// killed with -9 leaves none of them behind.
func TestHashWorkersAreProcessesThatDieWithTheServer(t *testing.T) {
	cfg := testConfig(testenv.Database{Engine: "sqlite", DataDir: t.TempDir()})
	proc := startProcess(t, cfg)
	// A failed sign-in costs a hash (a dummy one: the account does not exist).
	if got := proc.do(req{method: "POST", path: "/api/v1/auth/login",
		body: map[string]string{"email": "nobody@example.com", "password": "not the password, surely"}}); got.Status != 401 {
		t.Fatalf("login of an unknown account: %d %s", got.Status, got.Body)
	}
	workers := childrenOf(t, proc.cmd.Process.Pid)
	if len(workers) == 0 {
		t.Fatal("no child process after a sign-in: the hash was computed in the server")
	}
	for _, pid := range workers {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00"); len(args) != 2 || args[1] != "hash-worker" {
			t.Fatalf("child %d runs %q, want bulwark hash-worker", pid, args)
		}
		environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(environ), "BULWARK_") {
			t.Fatalf("hash worker %d got the server's settings in its environment: %q", pid, environ)
		}
	}
	proc.kill(t)
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range workers {
		for processRuns(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("hash worker %d still runs 10 s after its server was killed", pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// childrenOf returns the processes whose parent is pid, from /proc.
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	var kids []int
	for _, e := range entries {
		var child int
		if _, err := fmt.Sscanf(e.Name(), "%d", &child); err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // ended meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after its ")".
		var state string
		var ppid int
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 {
			if _, err := fmt.Sscanf(string(stat[i+1:]), " %s %d", &state, &ppid); err == nil && ppid == pid {
				kids = append(kids, child)
			}
		}
	}
	return kids
}

// processRuns reports whether pid is a process that has not ended (a zombie
// has ended: its parent, the test, has not reaped it yet).
func processRuns(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i > 0 && len(stat) > i+2 && stat[i+2] != 'Z'
}
