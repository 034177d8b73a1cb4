// Package audit owns Bulwark's audit trail: one record for every security-relevant
// action, chained by SHA-256 so that a changed, deleted or inserted record is found
// by Verify. Records are only ever appended; there is no update or delete path.
//
// Storage appends a record in the same transaction as the change it describes
// (see the Append parameters of the stores), so a change and its record commit or
// fail together. Events with nothing else to write (a failed login) go through
// Trail.Record.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/reqinfo"
)

// Actions recorded in the trail.
const (
	ActionRegister      = "user.register"
	ActionLogin         = "user.login"
	ActionLogout        = "user.logout"
	ActionRolesChange   = "user.roles_change"
	ActionAdminCreate   = "user.admin_create"
	ActionProductCreate = "product.create"
	ActionProductUpdate = "product.update"
	ActionStockAdjust   = "product.stock_adjust"
)

// Outcomes of an action.
const (
	Success = "success"
	Failure = "failure"
)

// ActorSystem names actions taken from the command line or by the server itself.
const ActorSystem = "system"

// ActorAnonymous names actions by callers who are not signed in.
const ActorAnonymous = "anonymous"

// GenesisHash is the "previous hash" of the first record.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Record is one entry of the trail. Seq, PrevHash and Hash are set on append.
type Record struct {
	Seq       int64
	Time      time.Time
	Actor     string
	Action    string
	Target    string
	Outcome   string
	IP        string
	RequestID string
	Detail    string
	PrevHash  string
	Hash      string
}

// New returns a record of action on target, taking the actor, client address and
// request id from ctx. Detail is free text for the reviewer and must never hold a
// secret.
func New(ctx context.Context, now time.Time, action, target, outcome, detail string) Record {
	info := reqinfo.From(ctx)
	actor := ActorAnonymous
	if p := access.PrincipalFrom(ctx); p != nil {
		actor = p.UserID
	} else if info.RequestID == "" {
		actor = ActorSystem
	}
	return Record{
		Time:      now.UTC().Truncate(time.Microsecond),
		Actor:     actor,
		Action:    action,
		Target:    target,
		Outcome:   outcome,
		IP:        info.IP,
		RequestID: info.RequestID,
		Detail:    detail,
	}
}

// hashInput is the canonical form that is hashed: every field but Hash, in a
// fixed order, with time as Unix microseconds so both engines give the same bytes.
type hashInput struct {
	Seq       int64  `json:"seq"`
	Time      int64  `json:"time"`
	Actor     string `json:"actor"`
	Action    string `json:"action"`
	Target    string `json:"target"`
	Outcome   string `json:"outcome"`
	IP        string `json:"ip"`
	RequestID string `json:"request_id"`
	Detail    string `json:"detail"`
	PrevHash  string `json:"prev_hash"`
}

// ComputeHash returns the hex SHA-256 of r's canonical form.
func ComputeHash(r Record) string {
	b, err := json.Marshal(hashInput{
		Seq: r.Seq, Time: r.Time.UnixMicro(), Actor: r.Actor, Action: r.Action, Target: r.Target,
		Outcome: r.Outcome, IP: r.IP, RequestID: r.RequestID, Detail: r.Detail, PrevHash: r.PrevHash,
	})
	if err != nil {
		panic(fmt.Sprintf("audit: marshal of plain strings failed: %v", err)) // cannot happen
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Seal sets r's position in the chain after a record with sequence prevSeq and
// hash prevHash, and its own hash.
func Seal(r Record, prevSeq int64, prevHash string) Record {
	r.Seq = prevSeq + 1
	r.PrevHash = prevHash
	r.Hash = ComputeHash(r)
	return r
}

// Head is the chain's last position as storage keeps it apart from the records,
// so that deleting records from the end is found too.
type Head struct {
	Seq  int64
	Hash string
}

// BrokenError names the first record where the chain does not hold.
type BrokenError struct {
	Seq    int64
	Reason string
}

func (e *BrokenError) Error() string {
	return fmt.Sprintf("audit record %d: %s", e.Seq, e.Reason)
}

// Verifier checks records one at a time, in sequence order.
type Verifier struct {
	prevSeq  int64
	prevHash string
	count    int64
}

// NewVerifier returns a verifier expecting the first record of the chain.
func NewVerifier() *Verifier { return &Verifier{prevHash: GenesisHash} }

// Next checks r against the record before it. It returns a *BrokenError for a
// gap or reordering (a record deleted or inserted), a wrong link, or a hash that
// does not match the content (a record changed).
func (v *Verifier) Next(r Record) error {
	switch {
	case r.Seq != v.prevSeq+1:
		return &BrokenError{Seq: r.Seq, Reason: fmt.Sprintf("expected sequence %d: a record was deleted or inserted", v.prevSeq+1)}
	case r.PrevHash != v.prevHash:
		return &BrokenError{Seq: r.Seq, Reason: "link to the previous record does not match: a record was changed, deleted or inserted"}
	case ComputeHash(r) != r.Hash:
		return &BrokenError{Seq: r.Seq, Reason: "content does not match its hash: the record was changed"}
	}
	v.prevSeq, v.prevHash = r.Seq, r.Hash
	v.count++
	return nil
}

// Finish checks that the last record seen is the head storage recorded, which
// finds records deleted from the end of the chain. It returns the count verified.
func (v *Verifier) Finish(h Head) (int64, error) {
	switch {
	case h.Seq > v.prevSeq:
		return v.count, &BrokenError{Seq: v.prevSeq + 1, Reason: fmt.Sprintf("chain ends at %d but its head says %d: records were deleted from the end", v.prevSeq, h.Seq)}
	case h.Seq < v.prevSeq:
		return v.count, &BrokenError{Seq: h.Seq + 1, Reason: fmt.Sprintf("chain goes on to %d past its head at %d: records were added behind the trail's back", v.prevSeq, h.Seq)}
	case h.Seq > 0 && h.Hash != v.prevHash:
		return v.count, &BrokenError{Seq: h.Seq, Reason: "the last record is not the one the head recorded: it was replaced"}
	}
	return v.count, nil
}

// Store appends standalone records and reads the chain for verification.
type Store interface {
	AppendAudit(ctx context.Context, r Record) error
	// ScanAudit calls fn for every record in sequence order, then returns the head.
	ScanAudit(ctx context.Context, fn func(Record) error) (Head, error)
}

// Trail records standalone events and verifies the chain.
type Trail struct {
	store Store
	now   func() time.Time
}

// NewTrail returns a Trail over store.
func NewTrail(store Store, now func() time.Time) *Trail { return &Trail{store: store, now: now} }

// Record appends a standalone event built from ctx (see New).
func (t *Trail) Record(ctx context.Context, action, target, outcome, detail string) error {
	if err := t.store.AppendAudit(ctx, New(ctx, t.now(), action, target, outcome, detail)); err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// Verify walks the whole chain and returns how many records it checked, or the
// first break as a *BrokenError.
func (t *Trail) Verify(ctx context.Context) (int64, error) {
	v := NewVerifier()
	head, err := t.store.ScanAudit(ctx, v.Next)
	if err != nil {
		return v.count, err
	}
	return v.Finish(head)
}
