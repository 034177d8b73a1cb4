// Package throttle limits login attempts so that an attacker can neither guess
// passwords nor lock customers out (OWASP ASVS V6, PCI DSS 8.3.4, NIST SP
// 800-63B 5.2.2):
//
//   - 10 consecutive failures for one email from one client address lock that
//     pair for 30 minutes; the same email from elsewhere still works, so an
//     attacker cannot lock a customer out;
//   - a staff account failing 10 times in a row, from any addresses, raises an
//     alert (StaffAlert) and locks nothing: a lock that strangers can set off
//     would let anyone keep every staff member out, and one that only staff
//     emails get would tell strangers which emails are staff. Staff are kept
//     safe by the second factor they always need instead, and their logins are
//     limited exactly like everyone's;
//   - one email's failures from all addresses are capped at 100 a day;
//   - one client address failing across many emails (credential stuffing) is
//     throttled after 50 failures in 15 minutes.
//
// Unknown emails are counted exactly like known ones, so a lock reveals nothing
// about whether an account exists. Counters live in memory, or in Redis when
// several instances must share them.
package throttle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// Limits of the policy.
const (
	PairFailures    = 10
	PairLock        = 30 * time.Minute
	StaffFailures   = 10
	StaffWindow     = 24 * time.Hour
	DailyFailures   = 100
	Day             = 24 * time.Hour
	AddressFailures = 50
	AddressWindow   = 15 * time.Minute
)

// Store keeps counters and locks that expire.
type Store interface {
	// Incr adds one to key and returns the new count; the count expires window
	// after its first increment.
	Incr(ctx context.Context, key string, window time.Duration) (int64, error)
	Reset(ctx context.Context, key string) error
	// Lock sets key locked for d.
	Lock(ctx context.Context, key string, d time.Duration) error
	// Locked returns how long key stays locked, or 0.
	Locked(ctx context.Context, key string) (time.Duration, error)
}

// Limiter applies the policy.
type Limiter struct{ store Store }

// New returns a limiter over store.
func New(store Store) *Limiter { return &Limiter{store: store} }

// Keys hash the email, so Redis and memory never hold addresses in the clear.
func emailKey(email string) string {
	sum := sha256.Sum256([]byte(email))
	return hex.EncodeToString(sum[:12])
}

func pairKey(email, ip string) string { return "pair:" + emailKey(email) + ":" + ip }
func staffKey(email string) string    { return "staff:" + emailKey(email) }
func dailyKey(email string) string    { return "day:" + emailKey(email) }
func addressKey(ip string) string     { return "addr:" + ip }

// Check returns how long a login for email from ip must wait, or 0 when it may go ahead.
func (l *Limiter) Check(ctx context.Context, email, ip string) (time.Duration, error) {
	var wait time.Duration
	for _, k := range []string{pairKey(email, ip), dailyKey(email), addressKey(ip)} {
		d, err := l.store.Locked(ctx, "lock:"+k)
		if err != nil {
			return 0, fmt.Errorf("check login lock: %w", err)
		}
		wait = max(wait, d)
	}
	return wait, nil
}

// Lockout names what a failure locked, for the audit trail.
type Lockout string

// StaffAlert is what Failed returns when a staff account reached
// StaffFailures consecutive failures: an alert for people, not a lock.
const StaffAlert Lockout = "staff account failing from every address (alert only, nothing locked)"

// Failed counts a failed login for email from ip; staff says whether email is a
// staff account. It returns what became locked, if anything.
func (l *Limiter) Failed(ctx context.Context, email, ip string, staff bool) ([]Lockout, error) {
	type rule struct {
		key    string
		limit  int64
		window time.Duration
		lock   time.Duration // 0: count and alert, lock nothing
		name   Lockout
	}
	rules := []rule{
		{pairKey(email, ip), PairFailures, PairLock, PairLock, "email from this address"},
		{dailyKey(email), DailyFailures, Day, Day, "email from every address for the day"},
		{addressKey(ip), AddressFailures, AddressWindow, AddressWindow, "address for every email"},
	}
	if staff {
		rules = append(rules, rule{staffKey(email), StaffFailures, StaffWindow, 0, StaffAlert})
	}
	var locked []Lockout
	for _, r := range rules {
		n, err := l.store.Incr(ctx, "count:"+r.key, r.window)
		if err != nil {
			return locked, fmt.Errorf("count failed login: %w", err)
		}
		if n >= r.limit {
			if r.lock > 0 {
				if err := l.store.Lock(ctx, "lock:"+r.key, r.lock); err != nil {
					return locked, fmt.Errorf("lock: %w", err)
				}
			}
			if err := l.store.Reset(ctx, "count:"+r.key); err != nil {
				return locked, fmt.Errorf("reset: %w", err)
			}
			locked = append(locked, r.name)
		}
	}
	return locked, nil
}

// Succeeded clears the consecutive-failure counts of email (the daily cap and
// the address's count stay: they are not about consecutive failures).
func (l *Limiter) Succeeded(ctx context.Context, email, ip string) error {
	for _, k := range []string{pairKey(email, ip), staffKey(email)} {
		if err := l.store.Reset(ctx, "count:"+k); err != nil {
			return fmt.Errorf("reset login count: %w", err)
		}
	}
	return nil
}
