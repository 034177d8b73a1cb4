package password

import (
	"bufio"
	"bytes"
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

// Pids returns the process ids of the workers running now.
func (p *Processes) Pids() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var pids []int
	for wk := range p.all {
		pids = append(pids, wk.cmd.Process.Pid)
	}
	return pids
}

// EncodeRequest is a hash request as the server writes it to a worker.
func EncodeRequest(password string, salt []byte, p Params, lowered bool) []byte {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	_ = writeRequest(w, password, salt, p, lowered)
	return b.Bytes()
}

// DecodeRequest reads one request as a worker does: its parts, or an error.
func DecodeRequest(b []byte) (password string, salt []byte, p Params, lowered bool, err error) {
	q, err := readRequest(bufio.NewReader(bytes.NewReader(b)))
	return string(q.password), q.salt, q.params, q.lowered, err
}
