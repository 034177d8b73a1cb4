package leader_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"io"
	"log/slog"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to end sessions

	"github.com/bulwark-shop/bulwark/internal/leader"
	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

const retry = 200 * time.Millisecond

// instance is one elector on a database pool of its own, as an instance
// of the shop would have, with a job that counts its runs.
type instance struct {
	name    string
	elector *leader.Elector
	running atomic.Int32
	stop    context.CancelFunc
	done    chan struct{}
}

func start(t *testing.T, locker leader.Locker, name, lock string) *instance {
	t.Helper()
	in := &instance{name: name, done: make(chan struct{})}
	in.elector = leader.New(leader.Options{Locker: locker, Lock: lock, Retry: retry, Log: slog.New(slog.NewTextHandler(io.Discard, nil))},
		leader.Job{Name: "test", Run: func(ctx context.Context) {
			in.running.Add(1)
			defer in.running.Add(-1)
			<-ctx.Done()
		}})
	ctx, cancel := context.WithCancel(context.Background())
	in.stop = func() { cancel(); <-in.done }
	go func() { defer close(in.done); in.elector.Run(ctx) }()
	t.Cleanup(in.stop)
	return in
}

// postgres opens a pool on the test PostgreSQL with its own
// application_name (so a test can end its sessions), or skips.
func postgres(t *testing.T, app string) *store.DB {
	t.Helper()
	base := os.Getenv(testenv.DatabaseURLVar)
	if base == "" {
		if os.Getenv(testenv.RequireServicesVar) == "1" {
			t.Fatal(testenv.DatabaseURLVar + " is not set (required by " + testenv.RequireServicesVar + ")")
		}
		t.Skip(testenv.DatabaseURLVar + " is not set: PostgreSQL tests did not run")
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	db, err := store.Open(context.Background(), store.Options{DatabaseURL: u.String()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func random(t *testing.T) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// leaders waits until exactly one of ins leads with its job running, and
// returns it; it fails the test if two ever run the job at once.
func leaders(t *testing.T, within time.Duration, ins ...*instance) *instance {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var lead []*instance
		running := 0
		for _, in := range ins {
			if in.elector.Leads() {
				lead = append(lead, in)
			}
			running += int(in.running.Load())
		}
		if len(lead) > 1 || running > 1 {
			t.Fatalf("%d instances lead, %d run the job", len(lead), running)
		}
		if len(lead) == 1 && running == 1 {
			return lead[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no instance leads after %v", within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stable checks that leader keeps leading, alone, for d.
func stable(t *testing.T, d time.Duration, leader *instance, ins ...*instance) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		for _, in := range ins {
			if in.elector.Leads() != (in == leader) {
				t.Fatalf("%s leads: %t, %s should lead alone", in.name, in.elector.Leads(), leader.name)
			}
		}
	}
}

func TestElectionOnPostgreSQL(t *testing.T) {
	t.Run("one of three leads, and another when it stops", func(t *testing.T) {
		lock := "test/" + random(t)
		a := start(t, postgres(t, "leader-a"), "a", lock)
		b := start(t, postgres(t, "leader-b"), "b", lock)
		c := start(t, postgres(t, "leader-c"), "c", lock)
		first := leaders(t, 5*time.Second, a, b, c)
		stable(t, 5*retry, first, a, b, c)
		stopped := time.Now()
		first.stop()
		if first.running.Load() != 0 || first.elector.Leads() {
			t.Fatal("a stopped elector still runs its job")
		}
		var rest []*instance
		for _, in := range []*instance{a, b, c} {
			if in != first {
				rest = append(rest, in)
			}
		}
		second := leaders(t, 10*time.Second, rest...)
		t.Logf("%s led; %s leads %v after it stopped", first.name, second.name, time.Since(stopped).Round(time.Millisecond))
	})

	t.Run("a leader whose session dies stops its job, and another leads", func(t *testing.T) {
		lock := "test/" + random(t)
		names := map[string]string{"a": "leader-kill-a-" + random(t), "b": "leader-kill-b-" + random(t)}
		a := start(t, postgres(t, names["a"]), "a", lock)
		b := start(t, postgres(t, names["b"]), "b", lock)
		first := leaders(t, 5*time.Second, a, b)
		other := b
		if first == b {
			other = a
		}
		// The leader's sessions end under it, as when its database
		// connection breaks: PostgreSQL frees its lock at once.
		killed := time.Now()
		if n := terminate(t, names[first.name]); n == 0 {
			t.Fatal("no session of the leader to end")
		}
		// For a moment both may lead (the old leader has not yet checked
		// its session: the package's documented limit); within a few
		// checks only the other does.
		for deadline := time.Now().Add(10 * time.Second); !(other.elector.Leads() && other.running.Load() == 1 &&
			!first.elector.Leads() && first.running.Load() == 0); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("10 s after %s's session ended: %s leads %t, %s leads %t", first.name, first.name, first.elector.Leads(), other.name, other.elector.Leads())
			}
		}
		t.Logf("%s's session ended; %s leads alone %v later", first.name, other.name, time.Since(killed).Round(time.Millisecond))
		stable(t, 5*retry, other, a, b)
	})

	t.Run("an elector that stops releases the lock", func(t *testing.T) {
		lock := "test/" + random(t)
		db := postgres(t, "leader-release")
		a := start(t, db, "a", lock)
		leaders(t, 5*time.Second, a)
		a.stop()
		l, err := db.TryLock(context.Background(), lock)
		if err != nil || l == nil {
			t.Fatalf("the lock after Run returned: %v, %v", l, err)
		}
		l.Release()
	})
}

// terminate ends every session named app and returns how many it ended.
func terminate(t *testing.T, app string) int {
	t.Helper()
	raw, err := sql.Open("pgx", os.Getenv(testenv.DatabaseURLVar))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var n int
	if err := raw.QueryRow("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSQLiteAlwaysLeads: one process serves a SQLite shop, so it leads at once.
func TestSQLiteAlwaysLeads(t *testing.T) {
	db, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a := start(t, db, "a", "test")
	leaders(t, time.Second, a)
}
