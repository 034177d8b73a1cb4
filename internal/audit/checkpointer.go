package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TreeStore is the storage of the trail's Merkle tree and checkpoints.
type TreeStore interface {
	// IntegrateAudit appends up to limit records after the tree to it, in
	// one transaction, and returns the tree with how many it took.
	IntegrateAudit(ctx context.Context, limit int) (Tree, int, error)
	// AuditBacklog is how many records are not integrated yet, and
	// AuditTree the tree as it is: both read only.
	AuditBacklog(ctx context.Context) (int64, error)
	AuditTree(ctx context.Context) (Tree, error)
	AuditNodes(ctx context.Context, ids []NodeID) ([][]byte, error)
	SaveAuditCheckpoint(ctx context.Context, cp Checkpoint) error
	// LatestAuditCheckpoint returns the largest checkpoint kept, or
	// ErrNoCheckpoint.
	LatestAuditCheckpoint(ctx context.Context) (Checkpoint, error)
}

// IntegrateBatch bounds the records one integration transaction takes, so
// that it holds the database's write lock briefly however long the
// backlog (a first start on a long trail works through it batch by batch).
const IntegrateBatch = 2000

// Checkpointer integrates new records into the tree and signs checkpoints:
// every Every when records were added, every Records records, and at Stop.
// Each checkpoint goes to a new file in Dir before it is kept in the
// database, so the copy out of the database's reach is never behind.
type Checkpointer struct {
	Store   TreeStore
	Notary  *Notary
	Dir     string
	Every   time.Duration
	Records int
	// Tick is how often it looks for new records (default 1 s).
	Tick time.Duration
	Now  func() time.Time
	// Failed is told of a step that failed (the server tells a database
	// outage to its health tracker, which logs it once, and logs the rest).
	Failed func(error)

	mu       sync.Mutex // one step at a time (the loop, Stop, a command)
	last     Checkpoint
	dirRead  bool
	lastFail string

	size, signed, signedAt prometheus.Gauge
	failures               prometheus.Counter
}

// Register adds the checkpointer's metrics to reg.
func (c *Checkpointer) Register(reg prometheus.Registerer) {
	c.size = prometheus.NewGauge(prometheus.GaugeOpts{Name: "bulwark_audit_tree_size", Help: "Audit records integrated into the audit log's Merkle tree."})
	c.signed = prometheus.NewGauge(prometheus.GaugeOpts{Name: "bulwark_audit_checkpoint_size", Help: "Size of the latest signed audit checkpoint."})
	c.signedAt = prometheus.NewGauge(prometheus.GaugeOpts{Name: "bulwark_audit_checkpoint_timestamp_seconds", Help: "When the latest audit checkpoint was signed (Unix time)."})
	c.failures = prometheus.NewCounter(prometheus.CounterOpts{Name: "bulwark_audit_checkpoint_failures_total", Help: "Integrations or checkpoints that failed: a record that does not follow the chain, the database or the checkpoint directory out of reach."})
	reg.MustRegister(c.size, c.signed, c.signedAt, c.failures)
}

// Run steps every Tick until ctx ends, then once more (Stop's work).
func (c *Checkpointer) Run(ctx context.Context) {
	tick := c.Tick
	if tick <= 0 {
		tick = time.Second
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := c.Step(ctx, false); err != nil && ctx.Err() == nil {
				c.fail(err)
			} else if err == nil {
				c.lastFail = ""
			}
		}
	}
}

func (c *Checkpointer) fail(err error) {
	if c.failures != nil {
		c.failures.Inc()
	}
	// The same failure every second is told once until it changes.
	if msg := err.Error(); msg != c.lastFail && c.Failed != nil {
		c.lastFail = msg
		c.Failed(err)
	}
}

// Stop integrates what is left and signs a checkpoint of it: the last
// thing a stopping server does with its database.
func (c *Checkpointer) Stop(ctx context.Context) error {
	_, err := c.Step(ctx, true)
	return err
}

// Step integrates every record committed so far and signs a checkpoint if
// one is due (or force is set and the tree grew since the last). It
// returns the latest checkpoint.
func (c *Checkpointer) Step(ctx context.Context, force bool) (Checkpoint, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.dirRead {
		// The directory's checkpoints count first: the database's copies
		// can be deleted by whoever rewrites the log, the files not. A log
		// that does not extend the largest of them is never signed again.
		cps, err := c.Notary.ReadCheckpoints(c.Dir)
		if err != nil {
			return c.last, err
		}
		if len(cps) > 0 {
			c.last = cps[len(cps)-1]
		}
		c.dirRead = true
	}
	// The latest checkpoint kept is read each time: another instance may
	// have signed one since.
	last, err := c.Store.LatestAuditCheckpoint(ctx)
	switch {
	case err == nil:
		if last.Size > c.last.Size {
			c.last = last
		}
	case errors.Is(err, ErrNoCheckpoint):
	default:
		return c.last, err
	}
	tree, err := c.integrate(ctx)
	if err != nil {
		return c.last, err
	}
	if c.size != nil {
		c.size.Set(float64(tree.Size))
		if c.last.Size > 0 {
			c.signed.Set(float64(c.last.Size))
			c.signedAt.Set(float64(c.last.At.Unix()))
		}
	}
	if tree.Size < c.last.Size {
		return c.last, &BrokenError{Seq: int64(tree.Size) + 1, Reason: fmt.Sprintf("the tree has %d records but checkpoint %d was signed: records were removed", tree.Size, c.last.Size)}
	}
	due := tree.Size > c.last.Size && (force || tree.Size-c.last.Size >= uint64(max(c.Records, 1)) || c.Now().Sub(c.last.At) >= c.Every)
	if !due {
		return c.last, nil
	}
	cp, err := c.sign(ctx, tree)
	if err != nil {
		return c.last, err
	}
	c.last = cp
	if c.signed != nil {
		c.signed.Set(float64(cp.Size))
		c.signedAt.Set(float64(cp.At.Unix()))
	}
	return cp, nil
}

// integrate integrates every record committed so far and returns the tree.
// With nothing to integrate it only reads: an idle shop writes nothing.
func (c *Checkpointer) integrate(ctx context.Context) (Tree, error) {
	backlog, err := c.Store.AuditBacklog(ctx)
	if err != nil {
		return Tree{}, fmt.Errorf("integrate the audit trail: %w", err)
	}
	if backlog == 0 {
		return c.Store.AuditTree(ctx)
	}
	for {
		t, took, err := c.Store.IntegrateAudit(ctx, IntegrateBatch)
		if err != nil {
			return Tree{}, fmt.Errorf("integrate the audit trail: %w", err)
		}
		if took < IntegrateBatch {
			return t, nil
		}
	}
}

// sign signs tree's checkpoint, writes it to the directory and keeps it.
// The root signed is the one integration computed from the records, after
// checking that it extends the previous checkpoint: a checkpoint is never
// signed over a log that does not contain the last one.
func (c *Checkpointer) sign(ctx context.Context, tree Tree) (Checkpoint, error) {
	if c.last.Size > 0 {
		p, err := ConsistencyProof(ctx, c.last.Size, tree.Size, c.Store.AuditNodes)
		if err != nil {
			return Checkpoint{}, err
		}
		if err := VerifyConsistency(c.last.Size, tree.Size, p, c.last.Root, tree.Root); err != nil {
			return Checkpoint{}, &BrokenError{Seq: int64(c.last.Size), Reason: fmt.Sprintf("the tree of %d records does not extend the checkpoint of %d: %v", tree.Size, c.last.Size, err)}
		}
	}
	note, err := c.Notary.Sign(tree.Size, tree.Root)
	if err != nil {
		return Checkpoint{}, err
	}
	cp := Checkpoint{Size: tree.Size, Root: bytes.Clone(tree.Root), Note: note, At: c.Now().UTC().Truncate(time.Microsecond)}
	if err := WriteCheckpoint(c.Dir, cp.Size, note); err != nil {
		return Checkpoint{}, err
	}
	if err := c.Store.SaveAuditCheckpoint(ctx, cp); err != nil {
		return Checkpoint{}, err
	}
	return cp, nil
}
