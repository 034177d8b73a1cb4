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
//   - one email's failures from all addresses are capped at 100 a day; as
//     strangers can reach this cap for any email, the login lets an account's
//     owner through it on proof of both factors, and caps wrong second
//     factors at 10 a day per account instead (SecondFactorFailed);
//   - one client address failing across many emails (credential stuffing) is
//     throttled after 50 failures in 15 minutes.
//
// Unknown emails are counted exactly like known ones, so a lock reveals nothing
// about whether an account exists. The shop keeps counters and locks in its
// database (store.LoginThrottle), so a lock survives a restart of Redis or of
// the shop and every instance shares it; Memory and Redis are Stores too.
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

// EmailKey is the digest an email is counted under, never the email itself,
// so Redis and memory never hold addresses in the clear: the lockout's
// counters, and threat detection's count of distinct unknown emails tried
// from one address.
func EmailKey(email string) string {
	sum := sha256.Sum256([]byte(email))
	return hex.EncodeToString(sum[:12])
}

func pairKey(email, ip string) string { return "pair:" + EmailKey(email) + ":" + ip }
func staffKey(email string) string    { return "staff:" + EmailKey(email) }
func dailyKey(email string) string    { return "day:" + EmailKey(email) }
func addressKey(ip string) string     { return "addr:" + ip }

// Check returns how long a login for email from ip must wait, or 0 when it may go ahead.
func (l *Limiter) Check(ctx context.Context, email, ip string) (time.Duration, error) {
	hard, daily, err := l.CheckParts(ctx, email, ip)
	return max(hard, daily), err
}

// CheckParts is Check in two parts: hard, the locks of this address (for
// this email, or for every email), which nothing lifts early; and daily, the
// email's lock from every address. Strangers can set the daily lock off for
// any email, so a caller may let the account's owner through it on proof of
// both factors (the second factor's failures have a cap of their own,
// SecondFactorFailed, which only a holder of the first factor can reach).
func (l *Limiter) CheckParts(ctx context.Context, email, ip string) (hard, daily time.Duration, err error) {
	for _, k := range []string{pairKey(email, ip), addressKey(ip)} {
		d, err := l.store.Locked(ctx, "lock:"+k)
		if err != nil {
			return 0, 0, fmt.Errorf("check login lock: %w", err)
		}
		hard = max(hard, d)
	}
	if daily, err = l.store.Locked(ctx, "lock:"+dailyKey(email)); err != nil {
		return 0, 0, fmt.Errorf("check login lock: %w", err)
	}
	return hard, daily, nil
}

// SecondFactorFailures caps wrong second factors per account from every
// address: only someone who got past the first factor can count here, so
// this lock is no stranger's to set off.
const SecondFactorFailures = 10

func secondFactorKey(email string) string { return "mfa:" + EmailKey(email) }

// SecondFactorLocked returns how long email's second factor stays locked.
func (l *Limiter) SecondFactorLocked(ctx context.Context, email string) (time.Duration, error) {
	d, err := l.store.Locked(ctx, "lock:"+secondFactorKey(email))
	if err != nil {
		return 0, fmt.Errorf("check second-factor lock: %w", err)
	}
	return d, nil
}

// SecondFactorFailed counts a wrong second factor for email; it reports
// whether the account's second factor is now locked for a day.
func (l *Limiter) SecondFactorFailed(ctx context.Context, email string) (bool, error) {
	k := secondFactorKey(email)
	n, err := l.store.Incr(ctx, "count:"+k, Day)
	if err != nil {
		return false, fmt.Errorf("count wrong second factor: %w", err)
	}
	if n < SecondFactorFailures {
		return false, nil
	}
	if err := l.store.Lock(ctx, "lock:"+k, Day); err != nil {
		return false, fmt.Errorf("lock second factor: %w", err)
	}
	if err := l.store.Reset(ctx, "count:"+k); err != nil {
		return false, fmt.Errorf("reset: %w", err)
	}
	return true, nil
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
