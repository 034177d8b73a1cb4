package httpapi

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/bulwark-shop/bulwark/internal/apperr"
)

// Request smuggling (RFC 9112 section 11.2): a request carrying both
// Content-Length and Transfer-Encoding is framed one way by a front proxy and
// another by the server, so the bytes the proxy sent as one request's body can
// reach the server as a second request. net/http frames such a request as
// chunked, deletes Content-Length from the header map and keeps the
// connection open: the handler cannot tell. FramingListener watches the raw
// bytes of each plain-HTTP connection for a header block holding both fields,
// and refuseAmbiguousFraming answers such a request 400 and closes the
// connection, as RFC 9112 section 6.1 asks. Any other request with a
// Transfer-Encoding is served and its connection closed after the answer, so
// nothing a proxy and the shop could frame differently is read behind it (on
// TLS, where the raw bytes are not seen, this alone is the defence).

// framingKey is the context key of a connection's *framingWatch.
type framingKey struct{}

// FramingConnContext is http.Server's ConnContext for connections from a
// FramingListener: it lets the handler ask the connection what it saw.
func FramingConnContext(ctx context.Context, c net.Conn) context.Context {
	if fc, ok := c.(*framingConn); ok {
		return context.WithValue(ctx, framingKey{}, &fc.watch)
	}
	return ctx
}

// FramingListener wraps l so that each connection's bytes are watched for a
// header block with both Content-Length and Transfer-Encoding.
func FramingListener(l net.Listener) net.Listener { return framingListener{l} }

type framingListener struct{ net.Listener }

func (l framingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &framingConn{Conn: c}, nil
}

type framingConn struct {
	net.Conn
	watch framingWatch
}

func (c *framingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.watch.scan(p[:n])
	return n, err
}

// framingWatch is a line scanner over a connection's bytes. It does not know
// where bodies start and end, so text in a body that looks like such a header
// block also sets it: the cost of that mistake is a 400 to a chunked request
// on the same connection, never a request let through.
type framingWatch struct {
	// line holds the start of the current line, lower-cased: enough to
	// recognise the two field names.
	line    [len("transfer-encoding:")]byte
	lineLen int
	cl, te  bool
	// ambiguous is set once a header block held both fields.
	ambiguous atomic.Bool
}

// scan is called by the connection's one reader (net/http's), never concurrently.
func (w *framingWatch) scan(b []byte) {
	for _, c := range b {
		if c == '\n' {
			w.endLine()
			continue
		}
		if c == '\r' {
			continue
		}
		if w.lineLen < len(w.line) {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			w.line[w.lineLen] = c
		}
		w.lineLen++
	}
}

func (w *framingWatch) endLine() {
	n := w.lineLen
	w.lineLen = 0
	if n == 0 { // the blank line that ends a header block
		if w.cl && w.te {
			w.ambiguous.Store(true)
		}
		w.cl, w.te = false, false
		return
	}
	l := string(w.line[:min(n, len(w.line))])
	switch {
	case len(l) >= len("content-length:") && l[:len("content-length:")] == "content-length:":
		w.cl = true
	case l == "transfer-encoding:":
		w.te = true
	}
}

// CodeAmbiguousFraming (400) refuses a request with both Content-Length and Transfer-Encoding.
const CodeAmbiguousFraming = "ambiguous_framing"

var errAmbiguousFraming = apperr.New(CodeAmbiguousFraming, "a request may not carry both Content-Length and Transfer-Encoding")

// refuseAmbiguousFraming runs first inside observe, before any body is read.
func refuseAmbiguousFraming(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TransferEncoding) == 0 || r.ProtoMajor != 1 {
			next.ServeHTTP(w, r)
			return
		}
		// net/http closes the connection after a response that says so.
		w.Header().Set("Connection", "close")
		if fw, ok := r.Context().Value(framingKey{}).(*framingWatch); ok && fw.ambiguous.Load() {
			writeProblem(w, r, errAmbiguousFraming)
			return
		}
		next.ServeHTTP(w, r)
	})
}
