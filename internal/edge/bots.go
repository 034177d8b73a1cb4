package edge

import (
	"context"
	"fmt"
	"time"
)

// TrapPath is the bot trap: robots.txt forbids it and a storefront links to it
// where no person can see or follow the link (see docs/SECURITY.md), so only a
// crawler that ignores robots.txt, or a scanner walking the API, ever asks for
// it.
const TrapPath = "/api/v1/private/export"

// RobotsTxt is the robots.txt the API serves: well-behaved crawlers keep out of
// the trap (and have no business in the API at all).
const RobotsTxt = "User-agent: *\nDisallow: " + TrapPath + "\nDisallow: /api/\n"

// ActionBotTrap is the audit action of a sprung trap; the target is the address.
const ActionBotTrap = "edge.bot_trap"

// Auditor records security events; *audit.Trail is one.
type Auditor interface {
	Record(ctx context.Context, action, target, outcome, detail string) error
}

// Trap blocks the clients that spring the bot trap.
type Trap struct {
	guard  *Guard
	period time.Duration
	audit  Auditor
}

// NewTrap returns a trap that blocks through guard for period and records each
// catch in audit.
func NewTrap(guard *Guard, period time.Duration, audit Auditor) *Trap {
	return &Trap{guard: guard, period: period, audit: audit}
}

// Spring blocks the client at addr for the trap's period and records
// edge.bot_trap. It returns the error of the block or of the audit record.
func (t *Trap) Spring(ctx context.Context, addr string) error {
	if err := t.guard.Block(ctx, addr, t.period); err != nil {
		return fmt.Errorf("bot trap: %w", err)
	}
	if err := t.audit.Record(ctx, ActionBotTrap, addr, "success", "client address blocked for "+t.period.String()); err != nil {
		return fmt.Errorf("bot trap: %w", err)
	}
	return nil
}

// Honeypot reports whether a registration is a bot's: the form field behind
// value is hidden from people (a storefront renders it off-screen, labelled
// "leave this empty"), so only a form-filling bot gives it a value.
func Honeypot(value string) bool { return value != "" }
