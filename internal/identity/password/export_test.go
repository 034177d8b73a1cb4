package password

import (
	"context"
	"testing"
)

// Hold takes a hashing slot until release is called, so tests can fill the pool
// deterministically.
func (h *Hasher) Hold(tb testing.TB) (release func()) {
	tb.Helper()
	release, err := h.acquire(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return release
}

// CommonCount is the number of distinct passwords on the embedded list.
func CommonCount() int { return len(commonSet()) }

// DecodeParams returns the parameters of an encoded hash, so the fuzzer can skip
// well-formed hashes whose (legitimate) cost would slow it down.
func DecodeParams(encoded string) (Params, error) {
	d, err := decode(encoded)
	return d.params, err
}

// Waiting returns how many callers wait for a hashing slot now.
func (h *Hasher) Waiting() int64 { return h.waiting.Load() }
