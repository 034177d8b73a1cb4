package password

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"sync"
	"time"
)

// Hashes in processes of their own.
//
// argon2.IDKey allocates its Params.Memory (19 MiB) afresh on every call and
// takes no buffer, so in the process that serves requests each hash is 19 MiB
// of garbage: during a login flood about ten collections a second, each
// stopping the world twice — and a stop waits for every thread running Go
// code to reach a safe point, a hash's thread of lower priority included,
// which the kernel runs last on a busy machine. In a process of its own (the
// same executable, started with a command of its own, such as bulwark
// hash-worker), a hash's garbage is that process's, and the server collects
// at its requests' pace. The worker reads a request on its standard input and
// writes the key on its standard output, one hash at a time; it ends when its
// input does, so a server killed with -9 leaves none behind.

// maxWorkerPassword bounds a request's password: the server's request bodies
// are far smaller, so a longer one is a broken frame, not a password.
const maxWorkerPassword = 1 << 20

// A request: lowered (1 byte: run below the process's priority), memory,
// iterations (4 bytes each), parallelism (1), key length (4), the salt's
// length (4) and the salt, the password's length (4) and the password; all
// numbers big-endian. The answer: a status byte (0: the key follows, of the
// key length asked; 1: the parameters were refused, nothing follows).
func writeRequest(w *bufio.Writer, password string, salt []byte, p Params, lowered bool) error {
	var head [22]byte
	if lowered {
		head[0] = 1
	}
	binary.BigEndian.PutUint32(head[1:], p.Memory)
	binary.BigEndian.PutUint32(head[5:], p.Iterations)
	head[9] = p.Parallelism
	binary.BigEndian.PutUint32(head[10:], p.KeyLength)
	binary.BigEndian.PutUint32(head[14:], uint32(len(salt)))
	w.Write(head[:18])
	w.Write(salt)
	binary.BigEndian.PutUint32(head[18:], uint32(len(password)))
	w.Write(head[18:22])
	w.WriteString(password)
	return w.Flush()
}

// workerRequest is a request as the worker read it.
type workerRequest struct {
	params   Params
	salt     []byte
	password []byte
	lowered  bool
}

// readRequest reads one request. io.EOF before its first byte means the
// server is gone; anything else that does not parse is an error. The
// parameters are checked as a stored hash's are, before any work.
func readRequest(r *bufio.Reader) (workerRequest, error) {
	var head [18]byte
	if _, err := io.ReadFull(r, head[:1]); err != nil {
		return workerRequest{}, err // io.EOF: no request began
	}
	if _, err := io.ReadFull(r, head[1:]); err != nil {
		return workerRequest{}, fmt.Errorf("read a hash request: %w", noEOF(err))
	}
	if head[0] > 1 {
		return workerRequest{}, errors.New("read a hash request: bad priority flag")
	}
	q := workerRequest{lowered: head[0] == 1, params: Params{
		Memory: binary.BigEndian.Uint32(head[1:]), Iterations: binary.BigEndian.Uint32(head[5:]),
		Parallelism: head[9], KeyLength: binary.BigEndian.Uint32(head[10:]), SaltLength: binary.BigEndian.Uint32(head[14:]),
	}}
	if q.params.SaltLength > maxSaltLength {
		return workerRequest{}, errors.New("read a hash request: salt too long")
	}
	q.salt = make([]byte, q.params.SaltLength)
	if _, err := io.ReadFull(r, q.salt); err != nil {
		return workerRequest{}, fmt.Errorf("read a hash request's salt: %w", noEOF(err))
	}
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return workerRequest{}, fmt.Errorf("read a hash request: %w", noEOF(err))
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > maxWorkerPassword {
		return workerRequest{}, errors.New("read a hash request: password too long")
	}
	q.password = make([]byte, size)
	if _, err := io.ReadFull(r, q.password); err != nil {
		return workerRequest{}, fmt.Errorf("read a hash request's password: %w", noEOF(err))
	}
	return q, nil
}

// noEOF turns an end of input inside a request into an unexpected one.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ServeWorker is a hash worker's whole life: it computes a key for each
// request read from in and writes it to out, until in ends (nil) or a
// request does not parse (an error: the caller exits, and the server starts
// another worker).
func ServeWorker(in io.Reader, out io.Writer) error {
	r, w := bufio.NewReader(in), bufio.NewWriter(out)
	for {
		q, err := readRequest(r)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if checkParams(q.params) != nil {
			w.WriteByte(1)
		} else {
			w.WriteByte(0)
			w.Write(computeKey(q.password, q.salt, q.params, q.lowered))
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("answer a hash request: %w", err)
		}
	}
}

// Processes are a Hasher's worker processes, one per hashing slot. A
// worker that fails (killed, or its pipe broken) is dropped; the hash it
// was computing is computed in the server instead, so the sign-in is
// answered, and the next hash on that slot starts a new worker.
type Processes struct {
	command func() *exec.Cmd
	log     *slog.Logger
	idle    chan *worker // workers no hash uses now; nil: none started on that slot yet
	mu      sync.Mutex
	all     map[*worker]struct{} // every worker running, for Close
	closed  bool
	// broken: a worker could not be started; every hash is then computed
	// in the server, logged once rather than at every sign-in.
	broken bool
	// started counts workers started, for the metrics and tests.
	started int
}

type worker struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	w   *bufio.Writer
	out *bufio.Reader
}

// NewProcesses returns worker processes for n hashing slots, started when
// first needed with command, which must run ServeWorker on the command's
// standard input and output (bulwark hash-worker). Failures to start or to
// hash are logged to log.
func NewProcesses(n int, command func() *exec.Cmd, log *slog.Logger) *Processes {
	p := &Processes{command: command, log: log, idle: make(chan *worker, n), all: map[*worker]struct{}{}}
	for range n {
		p.idle <- nil
	}
	return p
}

// start starts one worker. When it cannot (no executable, no fork), the
// hasher hashes in the server from then on, logged once.
func (p *Processes) start() (*worker, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.broken {
		return nil, errNoWorker
	}
	wk, err := startWorker(p.command())
	if err != nil {
		p.broken = true
		p.log.Error("cannot start a password hash worker; hashing in the server from now on", "err", err)
		return nil, errNoWorker
	}
	p.all[wk] = struct{}{}
	p.started++
	return wk, nil
}

// errNoWorker: the hash is computed in the server (workers closed, or one
// could not be started).
var errNoWorker = errors.New("no hash worker")

func startWorker(cmd *exec.Cmd) (*worker, error) {
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start a hash worker: %w", err)
	}
	return &worker{cmd: cmd, in: in, w: bufio.NewWriter(in), out: bufio.NewReader(out)}, nil
}

// stop ends a worker: its input closed, then killed if it has not ended a
// moment later. A worker stopped already (by Close) is left alone; stop
// reports whether it was running.
func (p *Processes) stop(wk *worker) (running bool) {
	p.mu.Lock()
	_, running = p.all[wk]
	delete(p.all, wk)
	p.mu.Unlock()
	if !running {
		return false
	}
	wk.in.Close()
	done := make(chan struct{})
	go func() {
		wk.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
		wk.cmd.Process.Kill()
		<-done
	}
	return true
}

// Started returns how many workers were started so far.
func (p *Processes) Started() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.started
}

// Close ends every worker. Hashes asked for afterwards are computed in the
// server.
func (p *Processes) Close() error {
	p.mu.Lock()
	p.closed = true
	all := make([]*worker, 0, len(p.all))
	for wk := range p.all {
		all = append(all, wk)
	}
	p.mu.Unlock()
	for _, wk := range all {
		p.stop(wk)
	}
	return nil
}

// key computes a key in a worker, or in the server when no worker can: the
// caller holds a hashing slot, so a worker (or the slot's empty place) is
// always idle.
func (p *Processes) key(password string, salt []byte, params Params, lowered bool) []byte {
	wk := <-p.idle
	defer func() { p.idle <- wk }()
	if len(password) <= maxWorkerPassword {
		var err error
		if wk == nil {
			wk, err = p.start()
		}
		if err == nil {
			var key []byte
			if key, err = wk.key(password, salt, params, lowered); err == nil {
				return key
			}
			if p.stop(wk) { // not stopped by Close meanwhile: it failed
				p.log.Error("a password hash worker failed; this hash is computed in the server, the next in a new worker", "err", err)
			}
			wk = nil
		}
	}
	return computeKey([]byte(password), salt, params, lowered)
}

func (wk *worker) key(password string, salt []byte, p Params, lowered bool) ([]byte, error) {
	if err := writeRequest(wk.w, password, salt, p, lowered); err != nil {
		return nil, fmt.Errorf("send a hash request: %w", err)
	}
	status, err := wk.out.ReadByte()
	if err != nil {
		return nil, fmt.Errorf("read a hash: %w", noEOF(err))
	}
	if status != 0 {
		return nil, fmt.Errorf("the hash worker refused the parameters %+v", p)
	}
	key := make([]byte, p.KeyLength)
	if _, err := io.ReadFull(wk.out, key); err != nil {
		return nil, fmt.Errorf("read a hash: %w", noEOF(err))
	}
	return key, nil
}
