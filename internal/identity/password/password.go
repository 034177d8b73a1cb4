// Package password owns password hashing and the password policy.
//
// Hashes are argon2id (golang.org/x/crypto/argon2) in the PHC string format, so
// each hash carries its own cost parameters and they can be raised later: Verify
// reports when a hash was made with other parameters, and the caller rehashes at
// the next login. Hashing runs in a bounded pool with a short queue: a flood of
// logins can neither exhaust memory (each hash takes Params.Memory KiB) nor take
// more CPUs than the pool has, and what does not fit in the queue is refused at
// once with ErrBusy rather than left to wait behind the flood.
//
// The policy follows NIST SP 800-63B: length only (12 to 256 characters), no
// composition rules, and not on a list of common passwords. The list is the
// 49,233 passwords of the npm package @zxcvbn-ts/language-common 4.1.3
// (src/passwords.json, MIT licence, see common-passwords.LICENSE), lower-cased.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/bulwark-shop/bulwark/internal/apperr"

	_ "embed"
)

// Params are argon2id cost parameters. They are written into every hash (PHC
// string format "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>"), so they can be
// raised later without invalidating stored hashes.
type Params struct {
	Memory      uint32 // KiB
	Iterations  uint32
	Parallelism uint8
	SaltLength  uint32
	KeyLength   uint32
}

// DefaultParams returns the OWASP Password Storage Cheat Sheet's argon2id
// configuration: 19 MiB, 2 iterations, 1 lane, a 16-byte salt and a 32-byte key.
func DefaultParams() Params {
	return Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}
}

// Bounds on parameters, checked on every stored hash before any work is done,
// so a corrupted or planted hash cannot make Verify allocate gigabytes or spin
// for minutes.
const (
	maxMemory     = 1 << 20 // KiB: 1 GiB
	maxIterations = 100
	minSaltLength = 8 // RFC 9106 minimum
	maxSaltLength = 128
	minKeyLength  = 16
	maxKeyLength  = 128
)

// checkParams reports whether p is within the bounds above and what argon2
// accepts (it panics on t=0 or p=0, and silently raises m below 8 KiB per lane,
// which would make the encoded m a lie).
func checkParams(p Params) error {
	switch {
	case p.Memory == 0 || p.Iterations == 0 || p.Parallelism == 0:
		return errors.New("memory, iterations and parallelism must be positive")
	case p.Memory > maxMemory || p.Iterations > maxIterations:
		return fmt.Errorf("cost above m=%d,t=%d", maxMemory, maxIterations)
	case p.Memory < 8*uint32(p.Parallelism):
		return errors.New("memory below 8 KiB per lane")
	case p.SaltLength < minSaltLength || p.SaltLength > maxSaltLength:
		return fmt.Errorf("salt length outside [%d, %d]", minSaltLength, maxSaltLength)
	case p.KeyLength < minKeyLength || p.KeyLength > maxKeyLength:
		return fmt.Errorf("key length outside [%d, %d]", minKeyLength, maxKeyLength)
	}
	return nil
}

// ErrMalformedHash is returned for a stored hash that is not an argon2id PHC string Bulwark can verify.
var ErrMalformedHash = errors.New("malformed password hash")

// Hasher hashes and verifies passwords with argon2id. Each hash takes
// Params.Memory KiB and one CPU for tens of milliseconds, so at most a fixed
// number run at once and at most a fixed number wait.
type Hasher struct {
	params Params
	slots  chan struct{} // semaphore: one token per running hash
	queue  int64         // how many may wait for a slot; Unbounded: any number
	// waiting counts the callers waiting for a slot now.
	waiting atomic.Int64
	dummy   string // a real hash, verified against for unknown accounts
	// computed counts argon2 computations, for the metrics and for tests that
	// check an unknown account costs the same hashing as a known one.
	computed atomic.Uint64
	// refused counts the calls refused with ErrBusy, for the metrics.
	refused atomic.Uint64
	// procs, when set, compute the keys in processes of their own.
	procs *Processes
}

// Unbounded, as NewHasher's queue, lets any number of callers wait for a slot
// (until their context ends): for the command line and tests, where there is
// no flood to shed.
const Unbounded = -1

// ErrBusy is returned when every hashing slot is taken and the queue is full.
// It is an *apperr.Error (503 overloaded with Retry-After), so the client is
// told to come back rather than that its password is wrong; no attempt is
// counted or audited, and it costs the caller no hashing.
var ErrBusy = &apperr.Error{Code: apperr.CodeOverloaded,
	Message: "the server is busy checking passwords; retry after the time in Retry-After", RetryAfter: time.Second}

// DefaultConcurrency is half the CPUs Go may use, at least one: a login flood
// then leaves the other half to checkout and reads, whatever the flood's size.
func DefaultConcurrency() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// NewHasher returns a hasher with params that runs at most concurrency hashes
// at once (DefaultConcurrency when concurrency <= 0) and lets at most queue
// more wait for a slot (Unbounded: any number). It panics if p is out of the
// bounds Verify accepts, since its hashes could then never be verified.
func NewHasher(p Params, concurrency, queue int) *Hasher {
	if err := checkParams(p); err != nil {
		panic(fmt.Sprintf("password.NewHasher: %v", err))
	}
	if concurrency <= 0 {
		concurrency = DefaultConcurrency()
	}
	h := &Hasher{params: p, slots: make(chan struct{}, concurrency), queue: int64(queue)}
	// Made now rather than on first use, so that even the first login for an
	// unknown account costs exactly one computation, like any other.
	h.dummy = encode(h.derive("dummy password for unknown accounts", randomSalt(p.SaltLength), p))
	return h
}

type derived struct {
	params Params
	salt   []byte
	key    []byte
	// lowered: the key was computed on a thread of lower priority, as
	// others waited for a slot.
	lowered bool
}

func randomSalt(n uint32) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return b
}

// hashNiceSteps is how much lower than the process's the priority of the
// threads that compute hashes is: ten steps, so that on a busy machine the
// kernel gives such a thread about a tenth of the CPU of a thread at the
// process's own priority (weight 110 against 1024), and on an idle one all
// of it.
const hashNiceSteps = 10

// derive computes the key: in a worker process when the hasher has them
// (UseProcesses; bulwark serve), else in this process. While others wait
// for a hashing slot (the pool is saturated: a login flood, or more sign-ins
// than it can take), it does so on an OS thread of its own at a lower
// priority (computeKey): a hash is tens of milliseconds of CPU, and a
// flood's hashes would otherwise take turns on the CPUs with checkouts as
// equals. With no one waiting, it runs at the process's priority, so that a
// busy shop's own requests (a sale) do not starve its sign-ins.
func (h *Hasher) derive(password string, salt []byte, p Params) derived {
	h.computed.Add(1)
	d := derived{params: p, salt: salt, lowered: h.waiting.Load() > 0}
	if h.procs != nil {
		d.key = h.procs.key(password, salt, p, d.lowered)
	} else {
		d.key = computeKey([]byte(password), salt, p, d.lowered)
	}
	return d
}

// computeKey runs argon2id, lowered on an OS thread of lower priority
// (lowerThreadPriority, on Linux). The lowered goroutine never unlocks its
// thread, so the thread ends with it and no other goroutine ever runs at
// that priority.
func computeKey(password, salt []byte, p Params, lowered bool) []byte {
	if !lowered {
		return argon2.IDKey(password, salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength)
	}
	key := make(chan []byte, 1)
	go func() {
		runtime.LockOSThread()
		_ = lowerThreadPriority() // where it cannot be lowered, the hash runs at the process's priority
		key <- argon2.IDKey(password, salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength)
	}()
	return <-key
}

// UseProcesses makes the hasher compute its keys in p's worker processes,
// one per hashing slot (NewProcesses with the hasher's Concurrency). It is
// for a process's wiring, before the hasher is used.
func (h *Hasher) UseProcesses(p *Processes) { h.procs = p }

// Concurrency is how many hashes may run at once.
func (h *Hasher) Concurrency() int { return cap(h.slots) }

func encode(d derived) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		d.params.Memory, d.params.Iterations, d.params.Parallelism, b64.EncodeToString(d.salt), b64.EncodeToString(d.key))
}

// Computed returns how many argon2 computations the hasher has run.
func (h *Hasher) Computed() uint64 { return h.computed.Load() }

// Refused returns how many calls were refused with ErrBusy.
func (h *Hasher) Refused() uint64 { return h.refused.Load() }

// RefuseEarly reports whether a caller would be refused now, every slot being
// taken and the queue full, and counts it as refused if so. A server asks it
// before any other work on a request that needs a hash (a login, say), so
// that a flood past the pool's capacity is turned away for the price of the
// answer, not of the firewall, the decoding and the account lookup first.
func (h *Hasher) RefuseEarly() bool {
	if h.queue == Unbounded || len(h.slots) < cap(h.slots) || h.waiting.Load() < h.queue {
		return false
	}
	h.refused.Add(1)
	return true
}

// RefuseSpareOnly reports whether a caller that may take only spare
// capacity would be refused now — every slot taken, or anyone waiting —
// and counts it as refused if so. The edge asks it for requests from an
// address under a delay response (credential stuffing): they never take a
// place another caller would have had, yet nothing is refused while the
// pool is idle.
func (h *Hasher) RefuseSpareOnly() bool {
	if len(h.slots) < cap(h.slots) && h.waiting.Load() == 0 {
		return false
	}
	h.refused.Add(1)
	return true
}

// spareOnlyKey marks a context whose hashes take only spare capacity.
type spareOnlyKey struct{}

// SpareOnly returns ctx marked so that the hashes computed for it take only
// a free slot, never a place in the queue: the edge marks the requests of an
// address under a delay response (credential stuffing). Its early check
// (RefuseSpareOnly) is not enough alone: many such requests can pass it at
// the same moment and would otherwise fill the queue a moment later, where
// a customer's sign-in then finds no room.
func SpareOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, spareOnlyKey{}, true)
}

// acquire takes a free hashing slot, or waits for one when fewer than the
// queue's length already wait, or else returns ErrBusy at once; a SpareOnly
// caller never waits. It also stops waiting when ctx ends.
func (h *Hasher) acquire(ctx context.Context) (release func(), err error) {
	// A request that has already given up must not take a slot, even a free one:
	// select picks at random among ready cases.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("wait for a password hashing slot: %w", err)
	}
	release = func() { <-h.slots }
	select {
	case h.slots <- struct{}{}:
		return release, nil
	default:
	}
	if ctx.Value(spareOnlyKey{}) != nil {
		h.refused.Add(1)
		return nil, ErrBusy
	}
	if n := h.waiting.Add(1); h.queue != Unbounded && n > h.queue {
		h.waiting.Add(-1)
		h.refused.Add(1)
		return nil, ErrBusy
	}
	defer h.waiting.Add(-1)
	select {
	case h.slots <- struct{}{}:
		return release, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for a password hashing slot: %w", ctx.Err())
	}
}

// Hash returns the PHC-encoded argon2id hash of password with a random salt.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	release, err := h.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	return encode(h.derive(password, randomSalt(h.params.SaltLength), h.params)), nil
}

// Verify reports whether password matches encoded, comparing in constant time,
// and whether encoded was made with parameters other than the hasher's, so the
// caller can store a fresh hash. A malformed hash returns an error wrapping
// ErrMalformedHash.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error) {
	stored, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	release, err := h.acquire(ctx)
	if err != nil {
		return false, false, err
	}
	defer release()
	got := h.derive(password, stored.salt, stored.params)
	ok = subtle.ConstantTimeCompare(got.key, stored.key) == 1
	p := stored.params
	needsRehash = p.Memory != h.params.Memory || p.Iterations != h.params.Iterations ||
		p.Parallelism != h.params.Parallelism || uint32(len(stored.salt)) != h.params.SaltLength || p.KeyLength != h.params.KeyLength
	return ok, needsRehash, nil
}

// VerifyDummy does the work of a Verify against a real hash and discards the
// result, so a login for an account that does not exist costs what one for an
// account that does.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	_, _, err := h.Verify(ctx, password, h.dummy)
	return err
}

// decode parses "$argon2id$v=19$m=M,t=T,p=P$salt$key" and checks its cost
// before anyone spends it. The fmt round trip refuses what we never write
// (signs, spaces, leading zeros, extra fields).
func decode(encoded string) (derived, error) {
	malformed := func(why string) (derived, error) {
		return derived{}, fmt.Errorf("%w: %s", ErrMalformedHash, why)
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return malformed("want 5 $-separated fields")
	}
	if parts[1] != "argon2id" {
		return malformed("not argon2id")
	}
	if parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return malformed("unsupported argon2 version")
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || fmt.Sprintf("m=%d,t=%d,p=%d", m, t, p) != parts[3] {
		return malformed("bad parameters")
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil {
		return malformed("bad salt encoding")
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil {
		return malformed("bad key encoding")
	}
	params := Params{Memory: m, Iterations: t, Parallelism: p, SaltLength: uint32(len(salt)), KeyLength: uint32(len(key))}
	if err := checkParams(params); err != nil {
		return malformed(err.Error())
	}
	return derived{params: params, salt: salt, key: key}, nil
}

// Length limits, in characters (Unicode code points).
const (
	MinLength = 12
	MaxLength = 256
)

// PolicyError says why a password was refused, in words safe to show the user;
// it never holds the password.
type PolicyError struct{ Reason string }

func (e *PolicyError) Error() string { return "password refused: " + e.Reason }

//go:embed common-passwords.txt
var commonList string

// commonSet is built on first use and never changed afterwards.
var commonSet = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, 50_000)
	for _, w := range strings.Split(commonList, "\n") {
		if w != "" {
			set[w] = struct{}{}
		}
	}
	return set
})

// IsCommon reports whether password is on the embedded list, ignoring case and
// surrounding spaces.
func IsCommon(password string) bool {
	_, found := commonSet()[strings.ToLower(strings.TrimSpace(password))]
	return found
}

// CheckPolicy returns nil when password may be used, or a *PolicyError.
func CheckPolicy(password string) error {
	switch n := utf8.RuneCountInString(password); {
	case !utf8.ValidString(password):
		return &PolicyError{Reason: "the password is not valid UTF-8 text"}
	case strings.ContainsRune(password, 0):
		return &PolicyError{Reason: "the password must not contain a NUL character"}
	case n < MinLength:
		return &PolicyError{Reason: fmt.Sprintf("use at least %d characters; a few unrelated words make a strong password", MinLength)}
	case n > MaxLength:
		return &PolicyError{Reason: fmt.Sprintf("use at most %d characters", MaxLength)}
	case IsCommon(password):
		return &PolicyError{Reason: "this password is on a list of commonly used passwords; choose another"}
	}
	return nil
}
