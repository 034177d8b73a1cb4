package throttle_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bulwark-shop/bulwark/internal/testenv"
	"github.com/bulwark-shop/bulwark/internal/throttle"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// stores returns each Store with a way to move its time, where it has one.
func stores(t *testing.T) map[string]throttle.Store {
	t.Helper()
	out := map[string]throttle.Store{"memory": throttle.NewMemory((&clock{now: time.Now()}).Now, 0)}
	if os.Getenv(testenv.RedisURLVar) == "" && os.Getenv(testenv.RequireServicesVar) != "1" {
		t.Log(testenv.RedisURLVar + " is not set: the Redis store was not tested")
		return out
	}
	url := testenv.RedisURL(t)
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	var b [6]byte
	_, _ = rand.Read(b[:])
	out["redis"] = throttle.NewRedis(c, "test:"+hex.EncodeToString(b[:])+":")
	return out
}

func fail(t *testing.T, l *throttle.Limiter, email, ip string, staff bool, n int) {
	t.Helper()
	for range n {
		if _, err := l.Failed(context.Background(), email, ip, staff); err != nil {
			t.Fatal(err)
		}
	}
}

func wait(t *testing.T, l *throttle.Limiter, email, ip string) time.Duration {
	t.Helper()
	d, err := l.Check(context.Background(), email, ip)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestPolicy(t *testing.T) {
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			l := throttle.New(st)
			t.Run("ten failures lock the email from that address only", func(t *testing.T) {
				fail(t, l, "a@example.com", "10.0.0.1", false, 9)
				if d := wait(t, l, "a@example.com", "10.0.0.1"); d != 0 {
					t.Fatalf("locked after 9 failures: %v", d)
				}
				fail(t, l, "a@example.com", "10.0.0.1", false, 1)
				if d := wait(t, l, "a@example.com", "10.0.0.1"); d < 29*time.Minute || d > 30*time.Minute {
					t.Fatalf("wait after 10 failures = %v, want 30 minutes", d)
				}
				if d := wait(t, l, "a@example.com", "10.0.0.2"); d != 0 {
					t.Fatalf("a customer is locked out from another address: %v", d)
				}
			})
			t.Run("a success clears the consecutive count", func(t *testing.T) {
				fail(t, l, "b@example.com", "10.0.0.1", false, 9)
				if err := l.Succeeded(context.Background(), "b@example.com", "10.0.0.1"); err != nil {
					t.Fatal(err)
				}
				fail(t, l, "b@example.com", "10.0.0.1", false, 9)
				if d := wait(t, l, "b@example.com", "10.0.0.1"); d != 0 {
					t.Fatalf("locked although the failures were not consecutive: %v", d)
				}
			})
			t.Run("a staff account failing from every address raises an alert and locks nothing", func(t *testing.T) {
				alerts := 0
				for i := range 10 {
					locked, err := l.Failed(context.Background(), "staff@example.com", "10.1.0."+string(rune('0'+i)), true)
					if err != nil {
						t.Fatal(err)
					}
					for _, lk := range locked {
						if lk != throttle.StaffAlert {
							t.Fatalf("a staff failure locked %q", lk)
						}
						alerts++
					}
				}
				if alerts != 1 {
					t.Fatalf("%d alerts after 10 failures, want 1", alerts)
				}
				// Neither a stranger's new address nor the addresses that failed are locked:
				// strangers can neither lock staff out nor tell staff apart.
				for _, ip := range []string{"10.9.9.9", "10.1.0.0", "10.1.0.9"} {
					if d := wait(t, l, "staff@example.com", ip); d != 0 {
						t.Fatalf("staff wait from %s = %v, want none", ip, d)
					}
				}
			})
			t.Run("one email is capped at 100 failures a day from all addresses", func(t *testing.T) {
				for i := range 100 {
					fail(t, l, "target@example.com", "10.2."+string(rune('a'+i/26))+"."+string(rune('a'+i%26)), false, 1)
				}
				if d := wait(t, l, "target@example.com", "10.3.0.1"); d < 23*time.Hour {
					t.Fatalf("wait after 100 failures in a day = %v", d)
				}
			})
			t.Run("one address failing across many emails is throttled", func(t *testing.T) {
				for i := range 50 {
					fail(t, l, "victim"+string(rune('a'+i%26))+string(rune('a'+i/26))+"@example.com", "10.4.0.1", false, 1)
				}
				if d := wait(t, l, "fresh@example.com", "10.4.0.1"); d < 14*time.Minute {
					t.Fatalf("stuffing address wait = %v, want 15 minutes", d)
				}
			})
		})
	}
}

func TestMemoryLocksExpire(t *testing.T) {
	c := &clock{now: time.Now()}
	l := throttle.New(throttle.NewMemory(c.Now, 0))
	fail(t, l, "a@example.com", "10.0.0.1", false, 10)
	c.Advance(29 * time.Minute)
	if wait(t, l, "a@example.com", "10.0.0.1") == 0 {
		t.Fatal("unlocked before 30 minutes")
	}
	c.Advance(time.Minute)
	if d := wait(t, l, "a@example.com", "10.0.0.1"); d != 0 {
		t.Fatalf("still locked after 30 minutes: %v", d)
	}
}

// TestCount: Count reads a counter without adding to it, 0 for none, on
// every store.
func TestCount(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			c, ok := s.(interface {
				Count(context.Context, string) (int64, error)
			})
			if !ok {
				t.Fatalf("%s has no Count", name)
			}
			if n, err := c.Count(ctx, "count:none"); n != 0 || err != nil {
				t.Fatalf("Count of nothing = %d, %v", n, err)
			}
			for range 3 {
				if _, err := s.Incr(ctx, "count:k", time.Minute); err != nil {
					t.Fatal(err)
				}
			}
			for range 2 { // reading changes nothing
				if n, err := c.Count(ctx, "count:k"); n != 3 || err != nil {
					t.Fatalf("Count = %d, %v; want 3", n, err)
				}
			}
		})
	}
}

// TestMemorySweeps: what has expired does not stay. Keys made one a
// millisecond with a one-second window leave about a thousand live at any
// time; after 20,000 the store holds not much more than those (each
// insert sweeps a few entries, never all of them).
func TestMemorySweeps(t *testing.T) {
	ctx := context.Background()
	c := &clock{now: time.Now()}
	m := throttle.NewMemory(c.Now, 0)
	for i := range 20000 {
		if _, err := m.Incr(ctx, "sweep:"+strconv.Itoa(i), time.Second); err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Millisecond)
	}
	if n := m.Len(); n < 1000 || n > 1500 {
		t.Fatalf("%d entries held for 1,000 live", n)
	}
}

// TestMemoryCapacity: a flood of fresh keys that all stay live does not grow
// the store past its capacity; what it drops to stay there is counted.
func TestMemoryCapacity(t *testing.T) {
	ctx := context.Background()
	m := throttle.NewMemory((&clock{now: time.Now()}).Now, 1000)
	for i := range 10_000 {
		if _, err := m.Incr(ctx, "flood:"+strconv.Itoa(i), 24*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if n, ev := m.Len(), m.Evicted(); n != 1000 || ev != 9000 {
		t.Fatalf("after 10,000 live keys: %d held, %d evicted; want 1,000 and 9,000", n, ev)
	}
}

// TestMemoryFloodKeepsCounts is the attack on the capacity: an attacker who
// can make fresh keys (a new address or card per request) floods the store
// to make it forget the counter that would catch them (card testing from
// one address, say) and a lock. The store drops the least counted of a
// sample first, so the flood evicts its own keys and both stay.
func TestMemoryFloodKeepsCounts(t *testing.T) {
	ctx := context.Background()
	c := &clock{now: time.Now()}
	m := throttle.NewMemory(c.Now, 1000)
	for range 3 {
		if _, err := m.Incr(ctx, "fraud:cards-day:203.0.113.9", 24*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Lock(ctx, "lock:addr:203.0.113.9", time.Hour); err != nil {
		t.Fatal(err)
	}
	for i := range 100_000 {
		if _, err := m.Incr(ctx, "fraud:card-seen:198.51.100.1:cfp_"+strconv.Itoa(i), 24*time.Hour); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 0 {
			c.Advance(time.Second) // the flood's keys live on; the counter ages with them
		}
	}
	if n, err := m.Count(ctx, "fraud:cards-day:203.0.113.9"); err != nil || n != 3 {
		t.Fatalf("after the flood the counter is at %d (%v), want 3", n, err)
	}
	if d, err := m.Locked(ctx, "lock:addr:203.0.113.9"); err != nil || d <= 0 {
		t.Fatalf("after the flood the lock has %s left (%v), want some", d, err)
	}
	if n := m.Len(); n > 1000 {
		t.Fatalf("%d entries held, capacity 1,000", n)
	}
}

// TestMemoryCapacityBytes measures what a full store holds in memory, with
// keys as long as fraud scoring's longest (an IPv6 address and a card
// fingerprint): the bound MemoryCapacity promises.
func TestMemoryCapacityBytes(t *testing.T) {
	ctx := context.Background()
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	m := throttle.NewMemory((&clock{now: time.Now()}).Now, 0)
	for i := range throttle.MemoryCapacity + 10_000 {
		k := "fraud:card-seen:2001:db8:85a3:1234:5678:8a2e:370:" + strconv.Itoa(i) + ":cfp_0123456789abcdef0123456789abcdef"
		if _, err := m.Incr(ctx, k, 24*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	held := heap() - before
	runtime.KeepAlive(m)
	t.Logf("%d entries in %.1f MiB, %d B each", m.Len(), float64(held)/(1<<20), held/uint64(m.Len()))
	if m.Len() != throttle.MemoryCapacity || held > 24<<20 {
		t.Fatalf("%d entries in %d bytes; want %d in at most 24 MiB", m.Len(), held, throttle.MemoryCapacity)
	}
}
