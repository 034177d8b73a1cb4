package audit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
)

// Actions of reading the log: every read of it is in it (PCI DSS 10.2.1.3).
const (
	ActionRead            = "audit.read"
	ActionReadCheckpoint  = "audit.read_checkpoint"
	ActionReadProof       = "audit.read_proof"
	ActionReadConsistency = "audit.read_consistency"
)

// Query selects records: exact actor, action and target, a time range
// [Since, Until), records after the sequence After, at most Limit.
type Query struct {
	Actor, Action, Target string
	Since, Until          time.Time
	After                 int64
	Limit                 int
}

// List bounds.
const (
	DefaultList = 50
	MaxList     = 100
	maxFilter   = 200
)

// ParseQuery reads the query parameters of a list of records; a value that
// is not valid is a validation_failed naming its field.
func ParseQuery(actor, action, target, since, until, limit, cursor string) (Query, error) {
	q := Query{Actor: actor, Action: action, Target: target, Limit: DefaultList}
	var v apperr.Validator
	for _, f := range []struct{ name, value string }{{"actor", actor}, {"action", action}, {"target", target}} {
		v.Check(len(f.value) <= maxFilter && !strings.ContainsAny(f.value, "\x00\r\n"), f.name, "at most 200 characters on one line")
	}
	var err error
	if since != "" {
		q.Since, err = time.Parse(time.RFC3339Nano, since)
		v.Check(err == nil, "since", "an RFC 3339 time, such as 2026-12-01T00:00:00Z")
	}
	if until != "" {
		q.Until, err = time.Parse(time.RFC3339Nano, until)
		v.Check(err == nil, "until", "an RFC 3339 time, such as 2026-12-02T00:00:00Z")
	}
	v.Check(q.Since.IsZero() || q.Until.IsZero() || q.Since.Before(q.Until), "until", "after since")
	if limit != "" {
		q.Limit, err = strconv.Atoi(limit)
		v.Check(err == nil && q.Limit >= 1 && q.Limit <= MaxList, "limit", "a number from 1 to 100")
	}
	if cursor != "" {
		q.After, err = strconv.ParseInt(cursor, 10, 64)
		if err != nil || q.After < 1 || strconv.FormatInt(q.After, 10) != cursor {
			return Query{}, apperr.New(apperr.CodeInvalidCursor, "the cursor is not one this server gave")
		}
	}
	return q, v.Err()
}

// String describes q for the record of the read.
func (q Query) String() string {
	var parts []string
	for _, f := range []struct{ k, v string }{{"actor", q.Actor}, {"action", q.Action}, {"target", q.Target}} {
		if f.v != "" {
			parts = append(parts, f.k+"="+f.v)
		}
	}
	if !q.Since.IsZero() {
		parts = append(parts, "since="+q.Since.UTC().Format(time.RFC3339))
	}
	if !q.Until.IsZero() {
		parts = append(parts, "until="+q.Until.UTC().Format(time.RFC3339))
	}
	if q.After > 0 {
		parts = append(parts, "after="+strconv.FormatInt(q.After, 10))
	}
	return strings.Join(append(parts, "limit="+strconv.Itoa(q.Limit)), " ")
}

// LogStore reads the log for Reader.
type LogStore interface {
	// AuditRecords returns the records q selects in sequence order, and
	// whether there are more.
	AuditRecords(ctx context.Context, q Query) ([]Record, bool, error)
	// AuditRecord returns the record seq (ErrNoRecord).
	AuditRecord(ctx context.Context, seq int64) (Record, error)
	AuditTree(ctx context.Context) (Tree, error)
	AuditNodes(ctx context.Context, ids []NodeID) ([][]byte, error)
	// LatestAuditCheckpoint and AuditCheckpoint return ErrNoCheckpoint
	// when there is none.
	LatestAuditCheckpoint(ctx context.Context) (Checkpoint, error)
	AuditCheckpoint(ctx context.Context, size uint64) (Checkpoint, error)
}

// ErrNoRecord and ErrNoCheckpoint are the stores' "not there".
var (
	ErrNoRecord     = errors.New("no such audit record")
	ErrNoCheckpoint = errors.New("no such audit checkpoint")
)

// Reader serves the log to staff with audit:read, recording every read.
type Reader struct {
	store LogStore
	trail *Trail
}

// NewReader returns a Reader of store that records reads in trail.
func NewReader(store LogStore, trail *Trail) *Reader { return &Reader{store: store, trail: trail} }

// Records returns a page of the records q selects.
func (r *Reader) Records(ctx context.Context, q Query) ([]Record, bool, error) {
	if _, err := access.Require(ctx, access.AuditRead); err != nil {
		return nil, false, err
	}
	if err := r.trail.Record(ctx, ActionRead, "", Success, q.String()); err != nil {
		return nil, false, err
	}
	return r.store.AuditRecords(ctx, q)
}

// Checkpoint returns the latest signed checkpoint.
func (r *Reader) Checkpoint(ctx context.Context) (Checkpoint, error) {
	if _, err := access.Require(ctx, access.AuditRead); err != nil {
		return Checkpoint{}, err
	}
	if err := r.trail.Record(ctx, ActionReadCheckpoint, "", Success, ""); err != nil {
		return Checkpoint{}, err
	}
	cp, err := r.store.LatestAuditCheckpoint(ctx)
	if errors.Is(err, ErrNoCheckpoint) {
		return Checkpoint{}, apperr.NotFound("audit checkpoint (none signed yet)")
	}
	return cp, err
}

// Inclusion is a record with the proof that it is in the tree of Size:
// Root is that tree's root, and Checkpoint the signed checkpoint of that
// size when there is one (an auditor checks the root against a checkpoint
// they hold).
type Inclusion struct {
	Record     Record
	Size       uint64
	Proof      [][]byte
	Root       []byte
	Checkpoint []byte
}

// Proof proves that record seq is in the tree of size (0: the latest
// checkpoint's). size must be one of the integrated tree; seq in it.
func (r *Reader) Proof(ctx context.Context, seq int64, size uint64) (Inclusion, error) {
	if _, err := access.Require(ctx, access.AuditRead); err != nil {
		return Inclusion{}, err
	}
	if err := r.trail.Record(ctx, ActionReadProof, strconv.FormatInt(seq, 10), Success, fmt.Sprintf("size=%d", size)); err != nil {
		return Inclusion{}, err
	}
	size, cp, err := r.size(ctx, size)
	if err != nil {
		return Inclusion{}, err
	}
	var v apperr.Validator
	v.Check(seq >= 1 && uint64(seq) <= size, "seq", fmt.Sprintf("a record of the tree of %d records", size))
	if err := v.Err(); err != nil {
		return Inclusion{}, err
	}
	rec, err := r.store.AuditRecord(ctx, seq)
	if errors.Is(err, ErrNoRecord) {
		return Inclusion{}, apperr.NotFound("audit record")
	}
	if err != nil {
		return Inclusion{}, err
	}
	p, err := InclusionProof(ctx, seq, size, r.store.AuditNodes)
	if err != nil {
		return Inclusion{}, err
	}
	root, err := RootAt(ctx, size, r.store.AuditNodes)
	if err != nil {
		return Inclusion{}, err
	}
	return Inclusion{Record: rec, Size: size, Proof: p, Root: root, Checkpoint: cp.Note}, nil
}

// Consistency is the proof that the tree of From is a prefix of the tree of
// To, with both roots and their checkpoints where signed.
type Consistency struct {
	From, To                     uint64
	Proof                        [][]byte
	FromRoot, ToRoot             []byte
	FromCheckpoint, ToCheckpoint []byte
}

// Consistency proves that the tree of from records is a prefix of the tree
// of to (0: the latest checkpoint's).
func (r *Reader) Consistency(ctx context.Context, from, to uint64) (Consistency, error) {
	if _, err := access.Require(ctx, access.AuditRead); err != nil {
		return Consistency{}, err
	}
	if err := r.trail.Record(ctx, ActionReadConsistency, "", Success, fmt.Sprintf("from=%d to=%d", from, to)); err != nil {
		return Consistency{}, err
	}
	to, toCP, err := r.size(ctx, to)
	if err != nil {
		return Consistency{}, err
	}
	var v apperr.Validator
	v.Check(from >= 1 && from <= to, "from", fmt.Sprintf("a size from 1 to %d", to))
	if err := v.Err(); err != nil {
		return Consistency{}, err
	}
	_, fromCP, err := r.size(ctx, from)
	if err != nil {
		return Consistency{}, err
	}
	p, err := ConsistencyProof(ctx, from, to, r.store.AuditNodes)
	if err != nil {
		return Consistency{}, err
	}
	c := Consistency{From: from, To: to, Proof: p, FromCheckpoint: fromCP.Note, ToCheckpoint: toCP.Note}
	if c.FromRoot, err = RootAt(ctx, from, r.store.AuditNodes); err != nil {
		return Consistency{}, err
	}
	if c.ToRoot, err = RootAt(ctx, to, r.store.AuditNodes); err != nil {
		return Consistency{}, err
	}
	return c, nil
}

// size resolves a tree size asked for: 0 is the latest checkpoint's; any
// other must be integrated. It returns the checkpoint of that size, if any.
func (r *Reader) size(ctx context.Context, size uint64) (uint64, Checkpoint, error) {
	if size == 0 {
		cp, err := r.store.LatestAuditCheckpoint(ctx)
		if errors.Is(err, ErrNoCheckpoint) {
			return 0, Checkpoint{}, apperr.NotFound("audit checkpoint (none signed yet)")
		}
		return cp.Size, cp, err
	}
	tree, err := r.store.AuditTree(ctx)
	if err != nil {
		return 0, Checkpoint{}, err
	}
	var v apperr.Validator
	v.Check(size <= tree.Size, "size", fmt.Sprintf("a size from 1 to %d (the records integrated so far)", tree.Size))
	if err := v.Err(); err != nil {
		return 0, Checkpoint{}, err
	}
	cp, err := r.store.AuditCheckpoint(ctx, size)
	if err != nil && !errors.Is(err, ErrNoCheckpoint) {
		return 0, Checkpoint{}, err
	}
	return size, cp, nil
}
