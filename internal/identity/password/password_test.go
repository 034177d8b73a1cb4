package password_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/identity/password"
)

// fast keeps tests quick where the cost does not matter.
func fast() password.Params {
	return password.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
}

// mustHash hashes pw with h or stops the test.
func mustHash(tb testing.TB, h *password.Hasher, pw string) string {
	tb.Helper()
	enc, err := h.Hash(context.Background(), pw)
	if err != nil {
		tb.Fatalf("Hash: %v", err)
	}
	return enc
}

func TestVerifyAcceptsOnlyTheHashedPassword(t *testing.T) {
	h := password.NewHasher(password.DefaultParams(), 2, password.Unbounded)
	enc := mustHash(t, h, "correct horse battery staple")
	tests := []struct {
		name   string
		pw     string
		wantOK bool
	}{
		{"same password verifies", "correct horse battery staple", true},
		{"one extra letter fails", "correct horse battery stapler", false},
		{"different case fails", "Correct horse battery staple", false},
		{"trailing space fails", "correct horse battery staple ", false},
		{"empty password fails", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(context.Background(), tt.pw, enc)
			if err != nil || ok != tt.wantOK || rehash {
				t.Fatalf("Verify = ok %v, rehash %v, err %v; want ok %v, no rehash, no error", ok, rehash, err, tt.wantOK)
			}
		})
	}
}

func TestHashIsSaltedAndCarriesOWASPParams(t *testing.T) {
	h := password.NewHasher(password.DefaultParams(), 2, password.Unbounded)
	first, second := mustHash(t, h, "same password twice"), mustHash(t, h, "same password twice")
	if first == second {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	for _, enc := range []string{first, second} {
		if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
			t.Fatalf("encoded %q does not carry the OWASP parameters", enc)
		}
	}
}

func TestVerifyFlagsHashesMadeWithOtherParams(t *testing.T) {
	current := password.NewHasher(password.DefaultParams(), 2, password.Unbounded)
	longerKey := password.DefaultParams()
	longerKey.KeyLength = 64
	tests := []struct {
		name       string
		params     password.Params
		wantRehash bool
	}{
		{"weaker params need a rehash", password.Params{Memory: 8192, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}, true},
		{"another key length needs a rehash", longerKey, true},
		{"current params need no rehash", password.DefaultParams(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := mustHash(t, password.NewHasher(tt.params, 1, password.Unbounded), "an older account's password")
			ok, rehash, err := current.Verify(context.Background(), "an older account's password", enc)
			if err != nil || !ok || rehash != tt.wantRehash {
				t.Fatalf("Verify = ok %v, rehash %v, err %v; want ok, rehash %v", ok, rehash, err, tt.wantRehash)
			}
		})
	}
}

func TestVerifyRefusesMalformedHashes(t *testing.T) {
	h := password.NewHasher(fast(), 1, password.Unbounded)
	good := mustHash(t, h, "whatever whatever")
	parts := strings.Split(good, "$") // "", "argon2id", "v=19", "m=64,t=1,p=1", salt, key
	tests := []struct{ name, enc string }{
		{"empty", ""},
		{"argon2i instead of argon2id", strings.Replace(good, "$argon2id$", "$argon2i$", 1)},
		{"bcrypt", "$2a$10$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234"},
		{"missing key", strings.Join(parts[:5], "$")},
		{"missing params", strings.Join([]string{"", parts[1], parts[2], parts[4], parts[5]}, "$")},
		{"extra field", good + "$"},
		{"no leading dollar", strings.TrimPrefix(good, "$")},
		{"bad base64 salt", strings.Replace(good, parts[4], "!!!!", 1)},
		{"bad base64 key", strings.Replace(good, parts[5], parts[5][:len(parts[5])-1]+"*", 1)},
		{"padded base64", good + "=="},
		{"wrong version", strings.Replace(good, "v=19", "v=16", 1)},
		{"zero memory", strings.Replace(good, "m=64", "m=0", 1)},
		{"zero iterations", strings.Replace(good, "t=1", "t=0", 1)},
		{"zero parallelism", strings.Replace(good, "p=1", "p=0", 1)},
		{"memory below 8 KiB per lane", strings.Replace(good, "m=64,t=1,p=1", "m=64,t=1,p=9", 1)},
		{"memory just over 1 GiB", strings.Replace(good, "m=64", "m=1048577", 1)},
		{"memory overflowing uint32", strings.Replace(good, "m=64", "m=4294967296", 1)},
		{"absurd iterations", strings.Replace(good, "t=1", "t=100000", 1)},
		{"parallelism overflowing uint8", strings.Replace(good, "p=1", "p=256", 1)},
		{"negative memory", strings.Replace(good, "m=64", "m=-64", 1)},
		{"plus sign", strings.Replace(good, "m=64", "m=+64", 1)},
		{"leading zero", strings.Replace(good, "m=64", "m=064", 1)},
		{"unknown extra param", strings.Replace(good, "p=1", "p=1,x=2", 1)},
		{"params out of order", strings.Replace(good, "m=64,t=1", "t=1,m=64", 1)},
		{"salt too short", strings.Replace(good, parts[4], "AAAA", 1)},
		{"key too short", strings.Replace(good, parts[5], "AAAA", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, _, err := h.Verify(context.Background(), "whatever whatever", tt.enc)
			if !errors.Is(err, password.ErrMalformedHash) || ok {
				t.Fatalf("Verify(%q) = ok %v, err %v; want ErrMalformedHash", tt.enc, ok, err)
			}
		})
	}
}

func TestNewHasherRefusesParamsVerifyWouldRefuse(t *testing.T) {
	with := func(change func(*password.Params)) password.Params {
		p := fast()
		change(&p)
		return p
	}
	tests := []struct {
		name   string
		params password.Params
	}{
		{"zero iterations", with(func(p *password.Params) { p.Iterations = 0 })},
		{"zero parallelism", with(func(p *password.Params) { p.Parallelism = 0 })},
		{"memory over 1 GiB", with(func(p *password.Params) { p.Memory = 1<<20 + 1 })},
		{"short salt", with(func(p *password.Params) { p.SaltLength = 4 })},
		{"short key", with(func(p *password.Params) { p.KeyLength = 8 })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatalf("NewHasher(%+v) did not panic", tt.params)
				}
			}()
			password.NewHasher(tt.params, 1, password.Unbounded)
		})
	}
}

func TestHashingGivesUpWhenThePoolIsFullAndContextEnds(t *testing.T) {
	h := password.NewHasher(fast(), 1, password.Unbounded)
	enc := mustHash(t, h, "a password to verify")
	release := h.Hold(t) // the only slot is taken
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		call func() error
	}{
		{"Hash", func() error { _, err := h.Hash(ctx, "must wait for a slot"); return err }},
		{"Verify", func() error { _, _, err := h.Verify(ctx, "a password to verify", enc); return err }},
		{"VerifyDummy", func() error { return h.VerifyDummy(ctx, "must wait for a slot") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, context.Canceled) {
				t.Fatalf("%s with a full pool and a cancelled context = %v, want context.Canceled", tt.name, err)
			}
		})
	}
	release()
	if _, err := h.Hash(context.Background(), "a slot is free again"); err != nil {
		t.Fatalf("Hash after the slot was released: %v", err)
	}
}

func TestVerifyDummyDoesTheWorkOfAVerify(t *testing.T) {
	h := password.NewHasher(fast(), 1, password.Unbounded)
	enc := mustHash(t, h, "a known account's password")
	before := h.Computed()
	if _, _, err := h.Verify(context.Background(), "a guess", enc); err != nil {
		t.Fatal(err)
	}
	verifyCost := h.Computed() - before
	before = h.Computed()
	if err := h.VerifyDummy(context.Background(), "a guess"); err != nil {
		t.Fatalf("VerifyDummy: %v", err)
	}
	if dummyCost := h.Computed() - before; dummyCost != verifyCost || dummyCost == 0 {
		t.Fatalf("VerifyDummy ran %d argon2 computations, Verify %d; want the same, non-zero", dummyCost, verifyCost)
	}
}

func TestCheckPolicy(t *testing.T) {
	tests := []struct {
		name   string
		pw     string
		wantOK bool
	}{
		{"11 characters are too short", "abcdefghijk", false},
		{"12 characters are enough", "abcdefghijkz", true},
		{"256 characters are allowed", strings.Repeat("z", 256), true},
		{"257 characters are too long", strings.Repeat("z", 257), false},
		{"12 multi-byte characters are enough", "ééééééééééé€", true},
		{"11 multi-byte characters (24 bytes) are too short", "ééééééééé€€", false},
		{"256 four-byte characters are allowed", strings.Repeat("🔒", 256), true},
		{"invalid UTF-8 is refused", "abcdefghijk\xff", false},
		{"NUL is refused", "abcdefghijk\x00l", false},
		{"no composition rules", "all lower case words", true},
		{"spaces count", "           x", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkPolicyResult(t, tt.pw, tt.wantOK)
		})
	}
}

func TestCheckPolicyRefusesCommonPasswords(t *testing.T) {
	for _, pw := range []string{"password1234", "PASSWORD1234", "PassWord1234", "qwertyuiop12", "  qwertyuiop12 ", "1qaz2wsx3edc"} {
		t.Run(pw, func(t *testing.T) {
			// Only meaningful if the length rule would let it through.
			if n := utf8.RuneCountInString(pw); n < password.MinLength {
				t.Fatalf("%q has %d characters; pick a longer example", pw, n)
			}
			if !password.IsCommon(pw) {
				t.Fatalf("IsCommon(%q) = false; pick an example that is on the list", pw)
			}
			checkPolicyResult(t, pw, false)
		})
	}
}

func TestIsCommon(t *testing.T) {
	tests := []struct {
		name string
		pw   string
		want bool
	}{
		{"listed", "password1234", true},
		{"listed, upper case", "PASSWORD1234", true},
		{"listed, surrounded by spaces", " password1234 ", true},
		{"not listed", "correct horse battery staple", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := password.IsCommon(tt.pw); got != tt.want {
				t.Fatalf("IsCommon(%q) = %v, want %v", tt.pw, got, tt.want)
			}
		})
	}
	if n := password.CommonCount(); n < 10_000 {
		t.Fatalf("the common-password list has %d entries, want at least 10,000", n)
	}
}

// checkPolicyResult checks CheckPolicy's verdict on pw, and that a refusal is a
// *PolicyError that does not echo the password.
func checkPolicyResult(tb testing.TB, pw string, wantOK bool) {
	tb.Helper()
	err := password.CheckPolicy(pw)
	if (err == nil) != wantOK {
		tb.Fatalf("CheckPolicy(%q) = %v, want ok=%v", pw, err, wantOK)
	}
	if err == nil {
		return
	}
	var pe *password.PolicyError
	if !errors.As(err, &pe) {
		tb.Fatalf("CheckPolicy(%q) = %T %v, want a *PolicyError", pw, err, err)
	}
	if pe.Reason == "" || (len(pw) >= 4 && strings.Contains(err.Error(), pw)) {
		tb.Fatalf("PolicyError %q is empty or echoes the password", pe.Reason)
	}
}

func FuzzCheckPolicy(f *testing.F) {
	for _, s := range []string{"", "password1234", "correct horse battery", "abcdefghijk\xff", "abcdefghijk\x00l", strings.Repeat("é", 256), strings.Repeat("é", 257)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pw string) {
		err := password.CheckPolicy(pw)
		if err != nil {
			var pe *password.PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("CheckPolicy(%q) = %T, want a *PolicyError", pw, err)
			}
			return
		}
		n := utf8.RuneCountInString(pw)
		if !utf8.ValidString(pw) || n < password.MinLength || n > password.MaxLength || strings.ContainsRune(pw, 0) || password.IsCommon(pw) {
			t.Fatalf("accepted %q (%d characters)", pw, n)
		}
	})
}

func FuzzVerifyMalformed(f *testing.F) {
	h := password.NewHasher(fast(), 1, password.Unbounded)
	good := mustHash(f, h, "seed seed seed")
	for _, s := range []string{
		good, "", "$", "$argon2id$$$$",
		strings.Replace(good, "m=64", "m=1048577", 1),
		strings.Replace(good, "p=1", "p=0", 1),
		"$argon2id$v=19$m=64,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, enc string) {
		// Well-formed hashes may legitimately cost up to 1 GiB; skip the costly
		// ones so the fuzzer spends its time on parsing.
		if p, err := password.DecodeParams(enc); err == nil && uint64(p.Memory)*uint64(p.Iterations) > 1<<12 {
			return
		}
		ok, _, err := h.Verify(context.Background(), "seed seed seed", enc)
		if err != nil && !errors.Is(err, password.ErrMalformedHash) {
			t.Fatalf("Verify(%q) error %v does not wrap ErrMalformedHash", enc, err)
		}
		if err != nil && ok {
			t.Fatalf("Verify(%q) = ok with error %v", enc, err)
		}
	})
}

func TestHasherRefusesPastItsQueueAtOnce(t *testing.T) {
	h := password.NewHasher(fast(), 1, 1) // one worker, one place in the queue
	release := h.Hold(t)                  // the worker is busy
	queued := make(chan error, 1)
	go func() {
		_, err := h.Hash(context.Background(), "the one that may wait")
		queued <- err
	}()
	for deadline := time.Now().Add(5 * time.Second); h.Waiting() != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second caller never started waiting")
		}
	}
	computed := h.Computed()

	t.Run("a caller past the queue is refused at once, as overloaded", func(t *testing.T) {
		start := time.Now()
		_, err := h.Hash(context.Background(), "one too many")
		if !errors.Is(err, password.ErrBusy) {
			t.Fatalf("Hash = %v, want ErrBusy", err)
		}
		if took := time.Since(start); took > time.Second {
			t.Fatalf("the refusal took %v: it waited", took)
		}
		var e *apperr.Error
		if !errors.As(err, &e) || e.Code != apperr.CodeOverloaded || e.RetryAfter <= 0 {
			t.Fatalf("ErrBusy = %#v, want code overloaded with a Retry-After", err)
		}
		if _, _, err := h.Verify(context.Background(), "one too many", mustHash(t, password.NewHasher(fast(), 1, password.Unbounded), "x")); !errors.Is(err, password.ErrBusy) {
			t.Fatalf("Verify = %v, want ErrBusy", err)
		}
		if h.Refused() != 2 || h.Computed() != computed {
			t.Fatalf("refused %d (want 2), computed %d more (want 0)", h.Refused(), h.Computed()-computed)
		}
	})
	t.Run("a server can ask first, and is told to refuse", func(t *testing.T) {
		if !h.RefuseEarly() || h.Refused() != 3 {
			t.Fatalf("RefuseEarly with the pool full = false or not counted (refused %d, want 3)", h.Refused())
		}
		if !h.RefuseSpareOnly() || h.Refused() != 4 {
			t.Fatalf("RefuseSpareOnly with the pool full = false or not counted (refused %d, want 4)", h.Refused())
		}
	})
	t.Run("the queued caller is served once the worker is free, and so is the next", func(t *testing.T) {
		release()
		if err := <-queued; err != nil {
			t.Fatalf("queued Hash = %v", err)
		}
		if h.RefuseEarly() {
			t.Fatal("RefuseEarly with the pool free = true")
		}
		if h.RefuseSpareOnly() {
			t.Fatal("RefuseSpareOnly with the pool idle = true")
		}
		mustHash(t, h, "after the burst")
	})
}

// TestRefuseSpareOnly: a caller that may take only spare capacity (an
// address under a delay response) is admitted while a slot is free and
// nobody waits, and refused as soon as the pool is busy — where any other
// caller would still be queued.
func TestRefuseSpareOnly(t *testing.T) {
	h := password.NewHasher(fast(), 2, 8)
	first := h.Hold(t)
	if h.RefuseSpareOnly() || h.RefuseEarly() {
		t.Fatal("refused with a slot free")
	}
	second := h.Hold(t)
	if !h.RefuseSpareOnly() {
		t.Fatal("admitted with every slot taken")
	}
	if h.RefuseEarly() {
		t.Fatal("an ordinary caller refused with the queue empty")
	}
	second()
	first()
	if h.RefuseSpareOnly() {
		t.Fatal("refused with the pool idle again")
	}
}

// TestSpareOnlyNeverQueues: a hash for a SpareOnly caller takes a free slot
// or none — it never waits in the queue, where it would take a place an
// ordinary caller (a customer behind the same NAT as a stuffing attack)
// then finds gone; an ordinary caller still waits.
func TestSpareOnlyNeverQueues(t *testing.T) {
	h := password.NewHasher(fast(), 1, 8)
	ctx, cancel := context.WithTimeout(password.SpareOnly(context.Background()), time.Second)
	defer cancel()
	if _, err := h.Hash(ctx, "a spare slot is taken"); err != nil {
		t.Fatalf("with the pool idle: %v", err)
	}
	release := h.Hold(t)
	if _, err := h.Hash(ctx, "no free slot"); !errors.Is(err, password.ErrBusy) {
		t.Fatalf("with every slot taken, a spare-only hash: %v, want ErrBusy at once", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := h.Hash(context.Background(), "an ordinary caller waits")
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	release()
	if err := <-done; err != nil {
		t.Fatalf("an ordinary caller: %v", err)
	}
}
