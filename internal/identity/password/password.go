// Package password owns password hashing and the password policy.
//
// Hashes are argon2id (golang.org/x/crypto/argon2) in the PHC string format, so
// each hash carries its own cost parameters and they can be raised later: Verify
// reports when a hash was made with other parameters, and the caller rehashes at
// the next login. Hashing runs in a bounded pool, so a flood of logins queues
// rather than exhausting memory (each hash takes Params.Memory KiB).
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
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	_ "embed"
)

// Params are argon2id cost parameters.
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

// Bounds on parameters read from a stored hash, so a corrupted or planted hash
// cannot make Verify allocate gigabytes or spin for minutes.
const (
	maxMemory     = 1 << 20 // KiB: 1 GiB
	maxIterations = 100
	maxKeyLength  = 128
	maxSaltLength = 128
)

// ErrMalformedHash is returned for a stored hash that is not an argon2id PHC string Bulwark can verify.
var ErrMalformedHash = errors.New("malformed password hash")

// Hasher hashes and verifies passwords.
type Hasher struct {
	params Params
	slots  chan struct{}
	dummy  string
	// computed counts argon2 computations, for the metrics and for tests that
	// check an unknown account costs the same hashing as a known one.
	computed atomic.Uint64
}

// NewHasher returns a hasher with params that runs at most concurrency hashes
// at once (GOMAXPROCS when concurrency <= 0).
func NewHasher(p Params, concurrency int) *Hasher {
	if concurrency <= 0 {
		concurrency = runtime.GOMAXPROCS(0)
	}
	h := &Hasher{params: p, slots: make(chan struct{}, concurrency)}
	// Made now rather than on first use, so that even the first login for an
	// unknown account costs exactly one computation, like any other.
	h.dummy = h.encode(h.derive("dummy password for unknown accounts", randomSalt(p.SaltLength), p))
	return h
}

type derived struct {
	params Params
	salt   []byte
	key    []byte
}

func randomSalt(n uint32) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return b
}

func (h *Hasher) derive(password string, salt []byte, p Params) derived {
	h.computed.Add(1)
	return derived{params: p, salt: salt, key: argon2.IDKey([]byte(password), salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength)}
}

func (h *Hasher) encode(d derived) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		d.params.Memory, d.params.Iterations, d.params.Parallelism, b64.EncodeToString(d.salt), b64.EncodeToString(d.key))
}

// Computed returns how many argon2 computations the hasher has run.
func (h *Hasher) Computed() uint64 { return h.computed.Load() }

// acquire waits for a hashing slot, or for ctx to end.
func (h *Hasher) acquire(ctx context.Context) (release func(), err error) {
	select {
	case h.slots <- struct{}{}:
		return func() { <-h.slots }, nil
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
	return h.encode(h.derive(password, randomSalt(h.params.SaltLength), h.params)), nil
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

// decode parses "$argon2id$v=19$m=M,t=T,p=P$salt$key".
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
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || fmt.Sprintf("v=%d", version) != parts[2] || version != argon2.Version {
		return malformed("unsupported version")
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || fmt.Sprintf("m=%d,t=%d,p=%d", m, t, p) != parts[3] {
		return malformed("bad parameters")
	}
	if m == 0 || t == 0 || p == 0 || m > maxMemory || t > maxIterations || m < 8*uint32(p) {
		return malformed("parameters out of range")
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > maxSaltLength {
		return malformed("bad salt")
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > maxKeyLength {
		return malformed("bad key")
	}
	return derived{params: Params{Memory: m, Iterations: t, Parallelism: p, SaltLength: uint32(len(salt)), KeyLength: uint32(len(key))}, salt: salt, key: key}, nil
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

var commonSet = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, 50_000)
	for _, w := range strings.Split(commonList, "\n") {
		if w != "" {
			set[w] = struct{}{}
		}
	}
	return set
})

// CommonCount is the number of passwords on the embedded list.
func CommonCount() int { return len(commonSet()) }

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
