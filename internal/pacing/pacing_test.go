package pacing_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/pacing"
)

// queue counts the loop's looks at a queue that is empty.
type queue struct {
	mu    sync.Mutex
	looks int
}

func (q *queue) once(context.Context) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.looks++
	return 0, nil
}

func (q *queue) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.looks
}

// TestLoopGivesWayToCheckouts: while Busy (checkouts running), the loop does
// not touch the queue, for at most MaxDelay; then it works anyway, and once
// the checkouts stop it goes on at its usual pace.
func TestLoopGivesWayToCheckouts(t *testing.T) {
	q := &queue{}
	var busy sync.Mutex
	isBusy, asked := true, 0
	l := pacing.Loop{Once: q.once, Batch: 8, Poll: 10 * time.Millisecond, MaxDelay: 400 * time.Millisecond,
		Busy: func() bool { busy.Lock(); defer busy.Unlock(); asked++; return isBusy }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	go l.Run(ctx)
	time.Sleep(200 * time.Millisecond)
	if n := q.count(); n != 0 && time.Since(start) < 400*time.Millisecond {
		t.Fatalf("the queue was read %d times while checkouts ran", n)
	}
	// Held back, it looks again every 50 ms or so, not in a busy loop.
	busy.Lock()
	looks := asked
	busy.Unlock()
	if looks > 40 {
		t.Fatalf("Busy was asked %d times in 200 ms of waiting", looks)
	}
	// Past MaxDelay the queue moves, busy or not.
	deadline := time.Now().Add(5 * time.Second)
	for q.count() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the queue held back past MaxDelay")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if waited := time.Since(start); waited < 400*time.Millisecond {
		t.Fatalf("the queue was read after %v of checkouts, before MaxDelay", waited)
	}
	busy.Lock()
	isBusy = false
	busy.Unlock()
	before := q.count()
	time.Sleep(200 * time.Millisecond)
	if n := q.count() - before; n < 5 {
		t.Fatalf("%d polls in 200 ms at a 10 ms poll once the checkouts stopped", n)
	}
}

// TestLoopGivesABurstItsWholeDelay: a burst of checkouts that begins long
// after the queue was last found empty (its poll is long) still has the
// queue held back for all of MaxDelay from its start, not for what is left
// of MaxDelay since that look.
func TestLoopGivesABurstItsWholeDelay(t *testing.T) {
	q := &queue{}
	var mu sync.Mutex
	var busySince time.Time
	l := pacing.Loop{Once: q.once, Batch: 8, Poll: 300 * time.Millisecond, MaxDelay: 400 * time.Millisecond,
		Busy: func() bool { mu.Lock(); defer mu.Unlock(); return !busySince.IsZero() }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.Run(ctx)
	// The first look happens at once; the burst begins 250 ms later, 50 ms
	// before the next poll is due.
	time.Sleep(250 * time.Millisecond)
	if n := q.count(); n != 1 {
		t.Fatalf("%d looks before the burst, want 1", n)
	}
	mu.Lock()
	busySince = time.Now()
	mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for q.count() == 1 {
		if time.Now().After(deadline) {
			t.Fatal("the queue held back past MaxDelay")
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	waited := time.Since(busySince)
	mu.Unlock()
	// Counted from the last look, the queue would have moved 150 ms into
	// the burst.
	if waited < 390*time.Millisecond {
		t.Fatalf("the queue was read %v into the burst, before MaxDelay", waited)
	}
}

// TestLoopDrainsFullBatches: a full batch is followed by another at once,
// not after a poll; a short one waits for the next poll.
func TestLoopDrainsFullBatches(t *testing.T) {
	var mu sync.Mutex
	left, calls := 50, 0
	l := pacing.Loop{Batch: 10, Poll: time.Hour, Once: func(context.Context) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		n := min(left, 10)
		left -= n
		return n, nil
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.Run(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		done, c := left == 0 && calls == 6, calls
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) || c > 6 {
			t.Fatalf("%d calls, %d left: want the 50 items drained in 5 full batches and one empty look", c, left)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if calls != 6 {
		t.Fatalf("%d calls: the loop did not wait for the poll after a short batch", calls)
	}
}

// TestEveryTellsFailuresSparingly: the call repeats every period while it
// fails, and the failures are told once, not once a call.
func TestEveryTellsFailuresSparingly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var calls, told atomic.Int64
	pacing.Every(ctx, 10*time.Millisecond, time.Second, func(context.Context) error {
		calls.Add(1)
		return errors.New("database out")
	}, func(error) { told.Add(1) })
	if calls.Load() < 5 || told.Load() != 1 {
		t.Fatalf("%d calls, %d failures told (want many calls, one told)", calls.Load(), told.Load())
	}
}
