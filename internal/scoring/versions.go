package scoring

import (
	"context"
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
)

// Kinds of versioned scoring configuration: a rule set, or a trained model.
const (
	KindRules = "rules"
	KindModel = "model"
)

// States of a version: enforced, run in shadow (scored and logged, never
// enforced), or kept but not running. At most one version of a kind is
// enforced and one in shadow.
const (
	StateEnforce  = Enforce
	StateShadow   = Shadow
	StateInactive = "inactive"
)

// Version is one stored version of the shop's rules or model. Body is the
// rule set's JSON, or the signed model file.
type Version struct {
	Kind      string
	Version   string
	State     string
	Body      []byte
	CreatedAt time.Time
	CreatedBy string
	ChangedAt time.Time
}

// Errors of the versions' store.
var (
	// ErrVersionTaken: a version name is given once; another body under a
	// taken name is refused (the same body again changes nothing).
	ErrVersionTaken = apperr.New(apperr.CodeConflict, "this version exists with other contents: give the new one a new version")
	ErrNoVersion    = apperr.NotFound("version")
)

// Versions keeps the versions (the store).
type Versions interface {
	// PutVersion stores v (its State says whether it runs at once; the
	// version that held that state becomes inactive), audited with rec.
	PutVersion(ctx context.Context, v Version, rec audit.Record) error
	// ActivateVersion gives kind's version state (enforce, shadow or
	// inactive), audited with rec; ErrNoVersion for an unknown one.
	ActivateVersion(ctx context.Context, kind, version, state string, at time.Time, rec audit.Record) error
	// RunningVersions returns the versions enforced or in shadow, with
	// their bodies.
	RunningVersions(ctx context.Context) ([]Version, error)
	// ListVersions returns kind's versions, newest first, without bodies.
	ListVersions(ctx context.Context, kind string) ([]Version, error)
}
