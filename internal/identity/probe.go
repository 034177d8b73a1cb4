package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/id"
)

// ProbeUserPrefix starts the id of every probe account. "0" never follows
// id.User in an id the shop makes (its alphabet has no 0), so no account a
// person made, and none an admin names, can pass for one.
const ProbeUserPrefix = id.User + "0"

// IsProbeUser reports whether userID names a probe account (ProbeStaffGate).
func IsProbeUser(userID string) bool { return strings.HasPrefix(userID, ProbeUserPrefix) }

// ActionProbeAccount is the audit action of a probe account's creation and
// deletion.
const ActionProbeAccount = "posture.probe_account"

// probeLeftover is how old a probe account must be before another run
// deletes it as left over (a process killed mid-probe): longer than any
// probe runs, so two instances' runs never delete each other's.
const probeLeftover = 10 * time.Minute

// ProbeStore is what ProbeStaffGate needs beyond Store.
type ProbeStore interface {
	// DeleteProbeUsers deletes the probe account userID and every probe
	// account created before before, with their sessions, appending rec
	// when any went; it never touches an account whose id lacks
	// ProbeUserPrefix.
	DeleteProbeUsers(ctx context.Context, userID string, before time.Time, rec audit.Record) (int, error)
}

// ProbeStaffGate tries the staff gate from outside, as posture's live
// probe: it makes a transient staff account (role support, no password, no
// second factor), starts a session for it and hands its token to try, which
// calls staff routes with it and must see them refused
// (mfa_enrollment_required); then it deletes the account. Every step is
// audited. The account cannot sign in (no password, an undeliverable
// address) and holds no staff permission (access.Require), so even a probe
// interrupted before its clean-up leaves nothing usable; the next run
// deletes it.
func (s *Service) ProbeStaffGate(ctx context.Context, try func(ctx context.Context, token string) error) (err error) {
	ps, ok := s.store.(ProbeStore)
	if !ok {
		return errors.New("probe the staff gate: the store cannot delete probe accounts")
	}
	now := s.now().UTC()
	u := User{ID: id.New(ProbeUserPrefix), Name: "posture probe", Roles: []access.Role{access.Customer, access.Support},
		PasswordHash: NoPassword, CreatedAt: now}
	u.Email = "posture-probe-" + strings.TrimPrefix(u.ID, ProbeUserPrefix) + "@bulwark.invalid"
	rec := audit.New(ctx, now, ActionProbeAccount, u.ID, audit.Success, "created: roles="+joinRoles(u.Roles)+", no password, no second factor")
	if err := s.store.CreateUser(ctx, u, rec); err != nil {
		return fmt.Errorf("create probe account: %w", err)
	}
	defer func() {
		done := s.now().UTC()
		rec := audit.New(ctx, done, ActionProbeAccount, u.ID, audit.Success, "deleted")
		if _, derr := ps.DeleteProbeUsers(context.WithoutCancel(ctx), u.ID, done.Add(-probeLeftover), rec); derr != nil && err == nil {
			err = fmt.Errorf("delete probe account: %w", derr)
		}
	}()
	res, err := s.startSession(ctx, u, "method=posture-probe factors=0 staff without MFA: enrolment only")
	if err != nil {
		return err
	}
	return try(ctx, res.Token)
}
