package password

import (
	"context"
	"runtime"
	"testing"
)

func TestHashesRunOnThreadsOfLowerPriority(t *testing.T) {
	t.Run("a lowered thread runs ten steps below the process", func(t *testing.T) {
		type niceness struct {
			before, after int
			err           error
		}
		got := make(chan niceness, 1)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
			var n niceness
			if n.before, n.err = threadNice(); n.err == nil {
				if n.err = lowerThreadPriority(); n.err == nil {
					n.after, n.err = threadNice()
				}
			}
			got <- n
		}()
		n := <-got
		if n.err != nil {
			t.Fatal(n.err)
		}
		if want := min(n.before+hashNiceSteps, 19); n.after != want {
			t.Fatalf("nice %d after lowering from %d, want %d", n.after, n.before, want)
		}
	})
	t.Run("lowered only while others wait for a slot, with the same key", func(t *testing.T) {
		h := NewHasher(Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}, 1, Unbounded)
		p, salt := h.params, []byte("sixteen byte salt")
		alone := h.derive("a passphrase", salt, p)
		h.waiting.Add(1) // as a caller queued for the slot would
		queued := h.derive("a passphrase", salt, p)
		h.waiting.Add(-1)
		if alone.lowered || !queued.lowered {
			t.Fatalf("lowered alone %t, with one waiting %t; want false, true", alone.lowered, queued.lowered)
		}
		if string(alone.key) != string(queued.key) || len(alone.key) != 32 {
			t.Fatalf("the two threads derived different keys: %x, %x", alone.key, queued.key)
		}
	})
	t.Run("the caller's thread keeps its priority", func(t *testing.T) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		before, err := threadNice()
		if err != nil {
			t.Fatal(err)
		}
		h := NewHasher(Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}, 1, Unbounded)
		enc, err := h.Hash(context.Background(), "a passphrase")
		if err != nil {
			t.Fatal(err)
		}
		if ok, _, err := h.Verify(context.Background(), "a passphrase", enc); err != nil || !ok {
			t.Fatalf("Verify = %t, %v", ok, err)
		}
		if after, err := threadNice(); err != nil || after != before {
			t.Fatalf("the caller's thread went from nice %d to %d (%v)", before, after, err)
		}
	})
}
