// Package threat is Bulwark's threat detection (issue 14): it takes the
// security signals every layer reports (failed sign-ins, 404s, WAF
// refusals...), runs the detectors of package detect over them, and keeps
// what they conclude as findings (package finding) that staff list, read,
// resolve and suppress.
//
// Reporting a signal never fails and never waits: Report queues it for a
// fixed number of workers and drops it, counted, when the queue is full; a
// signal whose processing fails (the counter's Redis or the database out) is
// logged and counted. Detection is a witness of the request, never a part
// of its answer.
package threat

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/finding"
	"github.com/bulwark-shop/bulwark/internal/id"
)

// Store keeps findings.
type Store interface {
	// ObserveFinding adds o to the open (active or suppressed) finding of
	// its type and subject, or raises a new active one when there is none
	// (raised true), in one transaction: observations at once from any
	// number of instances give one open finding with every one counted.
	ObserveFinding(ctx context.Context, o finding.Observation) (f finding.Finding, raised bool, err error)
	// Findings lists the findings q selects, newest first, and whether more follow.
	Findings(ctx context.Context, q finding.Query) ([]finding.Finding, bool, error)
	// Finding returns one finding: ErrNotFound.
	Finding(ctx context.Context, findingID string) (finding.Finding, error)
	// SetFindingStatus moves a finding to status to as finding.Next allows
	// (an error wrapping finding.ErrIllegalTransition otherwise), appending
	// rec when the status changes; setting the status it has changes
	// nothing and records nothing. ErrNotFound.
	SetFindingStatus(ctx context.Context, findingID string, to finding.Status, at time.Time, rec audit.Record) (finding.Finding, error)
}

// Audit actions of staff on findings.
const (
	ActionResolve  = "finding.resolve"
	ActionSuppress = "finding.suppress"
)

// CodeIllegalTransition is the refusal of a status change the lifecycle
// does not allow (shared with orders': the same meaning, one code).
const CodeIllegalTransition = "illegal_transition"

// Errors of the service.
var (
	ErrNotFound = apperr.NotFound("finding")
)

// MaxList bounds a page of findings; DefaultList is a page when none is asked.
const (
	MaxList     = 100
	DefaultList = 50
)

// Service is the staff side of findings: list, read, resolve, suppress.
type Service struct {
	store Store
	now   func() time.Time
}

// NewService returns the staff administration of findings.
func NewService(store Store, now func() time.Time) *Service {
	return &Service{store: store, now: now}
}

// ParseQuery reads the filters of a listing as staff type them: status,
// type, severity_min (0-100 or a level name: low, medium, high, critical)
// and subject ("kind:id", or an id alone). A value that is not one of
// these is a validation_failed naming its field.
func ParseQuery(status, typ, severityMin, subject string, limit int, after string) (finding.Query, error) {
	q := finding.Query{Status: finding.Status(status), Type: finding.Type(typ), Limit: limit, After: after}
	var v apperr.Validator
	switch q.Status {
	case "", finding.Active, finding.Resolved, finding.Suppressed:
	default:
		v.Check(false, "status", "active, resolved or suppressed")
	}
	v.Check(typ == "" || q.Type.Known(), "type", "a finding type, such as "+string(finding.AccountBruteForce))
	if severityMin != "" {
		n, ok := finding.LevelFloor(severityMin)
		if !ok {
			var err error
			n, err = parseSeverity(severityMin)
			v.Check(err == nil, "severity_min", "a number from 0 to 100, or low, medium, high or critical")
		}
		q.SeverityMin = n
	}
	if subject != "" {
		v.Check(len(subject) <= 200, "subject", "at most 200 characters")
		q.Subject.ID = subject
		if kind, rest, ok := strings.Cut(subject, ":"); ok {
			switch k := finding.SubjectKind(kind); k {
			case finding.IP, finding.Account, finding.Card, finding.Check, finding.Standard, finding.Location, finding.File, finding.Backup:
				q.Subject = finding.Subject{Kind: k, ID: rest}
			}
		}
	}
	v.Check(limit >= 1 && limit <= MaxList, "limit", "a number from 1 to 100")
	v.Check(after == "" || id.Valid(id.Finding, after), "cursor", "a cursor this server gave")
	return q, v.Err()
}

func parseSeverity(s string) (int, error) {
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || fmt.Sprint(n) != s || n < 0 || n > 100 {
		return 0, errors.New("not a severity")
	}
	return n, nil
}

// List returns a page of the findings q selects (findings:read).
func (s *Service) List(ctx context.Context, q finding.Query) ([]finding.Finding, bool, error) {
	if _, err := access.Require(ctx, access.FindingsRead); err != nil {
		return nil, false, err
	}
	return s.store.Findings(ctx, q)
}

// Get returns one finding (findings:read): ErrNotFound.
func (s *Service) Get(ctx context.Context, findingID string) (finding.Finding, error) {
	if _, err := access.Require(ctx, access.FindingsRead); err != nil {
		return finding.Finding{}, err
	}
	return get(ctx, s.store, findingID)
}

func get(ctx context.Context, store Store, findingID string) (finding.Finding, error) {
	if !id.Valid(id.Finding, findingID) {
		return finding.Finding{}, ErrNotFound
	}
	return store.Finding(ctx, findingID)
}

// Resolve marks a finding dealt with (findings:manage, with a recent
// login): a recurrence raises a new finding. Resolving a resolved finding
// changes nothing. ErrNotFound.
func (s *Service) Resolve(ctx context.Context, findingID string) (finding.Finding, error) {
	return s.set(ctx, findingID, finding.Resolved)
}

// Suppress marks an active finding known benign (findings:manage, with a
// recent login): recurrences are counted on it silently. A resolved
// finding cannot be suppressed (illegal_transition). ErrNotFound.
func (s *Service) Suppress(ctx context.Context, findingID string) (finding.Finding, error) {
	return s.set(ctx, findingID, finding.Suppressed)
}

func (s *Service) set(ctx context.Context, findingID string, to finding.Status) (finding.Finding, error) {
	now := s.now()
	if _, err := access.RequireRecent(ctx, access.FindingsManage, now); err != nil {
		return finding.Finding{}, err
	}
	return setStatus(ctx, s.store, findingID, to, now, "")
}

// setStatus is the one rule of a status change, for staff and operators
// alike: checked by finding.Next in the store's transaction, audited with
// the actor in ctx, and an illegal change is a conflict that names both
// statuses.
func setStatus(ctx context.Context, store Store, findingID string, to finding.Status, now time.Time, detail string) (finding.Finding, error) {
	if !id.Valid(id.Finding, findingID) {
		return finding.Finding{}, ErrNotFound
	}
	now = now.UTC().Truncate(time.Microsecond)
	action := ActionResolve
	if to == finding.Suppressed {
		action = ActionSuppress
	}
	rec := audit.New(ctx, now, action, findingID, audit.Success, strings.TrimSpace("status="+string(to)+" "+detail))
	f, err := store.SetFindingStatus(ctx, findingID, to, now, rec)
	if errors.Is(err, finding.ErrIllegalTransition) {
		return f, apperr.New(CodeIllegalTransition, "a %s finding cannot be %s", f.Status, to)
	}
	return f, err
}

// Operator is the findings administration of the command line (bulwark
// findings ...): whoever runs it holds the database already, so it asks
// for no principal; what it changes follows the Service's rules and is
// audited with the system as actor and "from the command line".
type Operator struct {
	store Store
	now   func() time.Time
}

// NewOperator returns the command line's findings administration.
func NewOperator(store Store, now func() time.Time) *Operator {
	return &Operator{store: store, now: now}
}

// List returns a page of the findings q selects.
func (o *Operator) List(ctx context.Context, q finding.Query) ([]finding.Finding, bool, error) {
	return o.store.Findings(ctx, q)
}

// Get returns one finding: ErrNotFound.
func (o *Operator) Get(ctx context.Context, findingID string) (finding.Finding, error) {
	return get(ctx, o.store, findingID)
}

// SetStatus resolves or suppresses a finding as Service does.
func (o *Operator) SetStatus(ctx context.Context, findingID string, to finding.Status) (finding.Finding, error) {
	return setStatus(ctx, o.store, findingID, to, o.now(), "from the command line")
}
