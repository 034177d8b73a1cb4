// Package pacing runs the background queues (webhook deliveries, order mail)
// beside the requests that must not wait for them: each looks for work every
// poll, goes on at once while it finds full batches, and holds back while the
// process is busy with checkouts — for a bounded time, so that under load
// that never lets up the queue still moves (issue 13: webhook delivery must
// not slow checkout).
package pacing

import (
	"context"
	"time"
)

// DefaultMaxDelay is how long, at most, a queue waits for a busy process's
// checkouts: a burst of checkouts runs without the queue's work beside it,
// which follows in its wake; under load that never lets up the queue moves
// at least every DefaultMaxDelay.
const DefaultMaxDelay = 5 * time.Second

// busyCheck is how often a loop that is holding back looks again whether the
// checkouts have stopped.
const busyCheck = 50 * time.Millisecond

// Loop is one queue's pacing.
type Loop struct {
	// Once does one batch of work and returns how many items it took; a
	// full batch (Batch) means more may be waiting.
	Once  func(ctx context.Context) (int, error)
	Batch int
	// Poll is how often the queue is looked at when it was last found short
	// of a full batch.
	Poll time.Duration
	// Busy reports whether work that must not wait for the queue is in
	// progress (the process's checkouts); nil is never busy.
	Busy func() bool
	// MaxDelay bounds how long Busy holds the queue back: from the later of
	// when it was last found short of a full batch and when the burst of
	// checkouts began (DefaultMaxDelay when 0).
	MaxDelay time.Duration
	// Failed is told of a batch that failed (the database out, say).
	Failed func(err error)
}

// Run runs l until ctx ends.
//
// The pacing is by the process's clock (time.Now), not a shop clock: it
// shares out this machine's CPU, and has nothing to do with when work is due.
func (l Loop) Run(ctx context.Context) {
	maxDelay := l.MaxDelay
	if maxDelay <= 0 {
		maxDelay = DefaultMaxDelay
	}
	// emptied is when the queue was last known to hold nothing older: when
	// it was last found short of a batch, or when a burst of checkouts
	// began after that (what the burst makes is newer). Held back, the
	// queue's oldest work waits at most maxDelay, or maxDelay + Poll for
	// work made between the last look and the burst.
	emptied := time.Now()
	short, idle := true, true // the last look found a short batch; the process was not busy at the last ask
	yield := func() bool {
		if l.Busy == nil || !l.Busy() {
			idle = true
			return false
		}
		if idle && short {
			// A burst begins: it gets maxDelay to itself, whenever the
			// last poll was, not what is left of it since.
			emptied = time.Now()
		}
		idle = false
		return time.Since(emptied) < maxDelay
	}
	next := time.Now()
	for {
		// A full batch means more may be waiting: go on at once, unless
		// checkouts have started meanwhile.
		for !yield() && !time.Now().Before(next) {
			n, err := l.Once(ctx)
			if err != nil && ctx.Err() == nil && l.Failed != nil {
				l.Failed(err)
			}
			short = err == nil && n < l.Batch
			if short {
				emptied = time.Now()
			}
			if err != nil || n < l.Batch || ctx.Err() != nil {
				next = time.Now().Add(l.Poll)
				break
			}
		}
		wait := time.Until(next)
		if yield() && (wait <= 0 || wait > busyCheck) {
			// Due (or soon), but held back: look again shortly, not at once.
			wait = busyCheck
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(wait, time.Millisecond)):
		}
	}
}

// FailureLogEvery bounds how often Every tells of failures.
const FailureLogEvery = time.Minute

// Every calls fn every d until ctx ends, each call within timeout, and
// tells failed of a failing call at most once a FailureLogEvery: the
// in-memory copies each instance refreshes (response blocks, fraud rules)
// keep their last state while the database is out, and say so without
// flooding the log.
func Every(ctx context.Context, d, timeout time.Duration, fn func(context.Context) error, failed func(error)) {
	t := time.NewTicker(d)
	defer t.Stop()
	var lastTold time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			cctx, cancel := context.WithTimeout(ctx, timeout)
			err := fn(cctx)
			cancel()
			if err != nil && failed != nil && time.Since(lastTold) > FailureLogEvery {
				lastTold = time.Now()
				failed(err)
			}
		}
	}
}
