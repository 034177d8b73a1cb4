package app_test

import (
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// electedJobs are the jobs that run on the elected instance only.
var electedJobs = []string{"retention", "reencryption", "audit-checkpoints", "discovery", "backups", "erasure-ledger"}

// leading reads the process's bulwark_leader gauges: how many of the
// elected jobs it runs (all or none), or -1 before its metrics listener
// answers.
func leading(t *testing.T, p *process) int {
	t.Helper()
	addr, _ := p.metricsAddr.Load().(string)
	if addr == "" {
		return -1
	}
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	n, seen := 0, 0
	for _, line := range strings.Split(string(b), "\n") {
		for _, job := range electedJobs {
			switch line {
			case `bulwark_leader{job="` + job + `"} 1`:
				n++
				seen++
			case `bulwark_leader{job="` + job + `"} 0`:
				seen++
			}
		}
	}
	if seen != len(electedJobs) {
		t.Fatalf("%d of the %d bulwark_leader gauges in /metrics", seen, len(electedJobs))
	}
	if n != 0 && n != len(electedJobs) {
		t.Fatalf("the instance leads %d of %d jobs: all or none", n, len(electedJobs))
	}
	return n
}

// soleLeader waits until exactly one of ps leads, and returns it. Two
// leading at once fails the test.
func soleLeader(t *testing.T, within time.Duration, ps ...*process) *process {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var lead []*process
		ready := 0
		for _, p := range ps {
			switch leading(t, p) {
			case len(electedJobs):
				lead = append(lead, p)
				ready++
			case 0:
				ready++
			}
		}
		if len(lead) > 1 {
			t.Fatalf("%d instances lead at once", len(lead))
		}
		if len(lead) == 1 && ready == len(ps) {
			return lead[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no single leader after %v", within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestElectedJobsAcrossInstances runs instances of the shop on one
// PostgreSQL database: exactly one leads (bulwark_leader, the log) and runs
// the scheduled jobs that must run once; when it is killed (SIGKILL: no
// goodbye, its database session just ends) another leads within 10 s; an
// instance that joins follows; a leader stopped with SIGTERM hands over at
// once.
func TestElectedJobsAcrossInstances(t *testing.T) {
	dbs := testenv.Databases(t)
	if len(dbs) < 2 {
		t.Skip("needs PostgreSQL: " + testenv.DatabaseURLVar + " is not set")
	}
	cfg := testConfig(dbs[1])
	flags := []string{"--metrics-listen", "127.0.0.1:0", "--drain-delay", "0"}
	a := startProcess(t, cfg, flags...)
	b := startProcess(t, cfg, flags...)
	first := soleLeader(t, 10*time.Second, a, b)
	other := b
	if first == b {
		other = a
	}
	// The gauge reads 0 from the start, before the follower's first try of
	// the lock logs that it follows: wait for the line rather than race it.
	says := func() bool {
		return strings.Contains(first.Logs.String(), `"msg":"leading: this instance runs the scheduled jobs"`) &&
			strings.Contains(other.Logs.String(), `"msg":"another instance leads: its scheduled jobs run there"`)
	}
	for deadline := time.Now().Add(10 * time.Second); !says() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if !says() {
		t.Fatalf("the log does not say who leads:\nleader:\n%s\nfollower:\n%s", first.Logs.String(), other.Logs.String())
	}
	// The follower keeps following while the leader lives.
	for range 3 {
		time.Sleep(time.Second)
		if soleLeader(t, time.Second, a, b) != first {
			t.Fatal("leadership moved while its holder lived")
		}
	}

	killed := time.Now()
	first.kill(t)
	if soleLeader(t, 10*time.Second, other) != other {
		t.Fatal("unreachable")
	}
	t.Logf("the leader was killed; the other instance leads %v later", time.Since(killed).Round(time.Millisecond))

	c := startProcess(t, cfg, flags...)
	time.Sleep(3 * time.Second)
	if soleLeader(t, 10*time.Second, other, c) != other {
		t.Fatal("an instance that joined took leadership from a live leader")
	}
	stopped := time.Now()
	if err := other.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-other.done
	soleLeader(t, 10*time.Second, c)
	t.Logf("the leader stopped (SIGTERM); the joined instance leads %v after the signal", time.Since(stopped).Round(time.Millisecond))
}

// TestSQLiteInstanceLeads: a SQLite shop is one process, which leads from
// its start.
func TestSQLiteInstanceLeads(t *testing.T) {
	s := startServer(t, testenv.Databases(t)[0])
	waitFor(t, "the SQLite instance to lead", s.App.Leads)
	if n := s.metricSum("bulwark_leader"); n != float64(len(electedJobs)) {
		t.Fatalf("bulwark_leader sums to %v, want %d", n, len(electedJobs))
	}
}
