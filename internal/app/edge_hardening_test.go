package app_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// TestRequestSmugglingCLTE sends a request with both Content-Length and
// Transfer-Encoding: chunked whose chunked body ends early, with a second
// request behind it: a front proxy that frames by Content-Length would pass
// both bytes as one request, and a server that frames by chunked encoding
// would answer the smuggled second one. The shop must refuse the first with
// 400 and close the connection, so the second is never read (RFC 9112 6.1).
func TestRequestSmugglingCLTE(t *testing.T) {
	s := startServer(t, testenv.Database{Engine: "sqlite", DataDir: t.TempDir()})
	host := strings.TrimPrefix(s.URL, "http://")
	smuggled := "GET /api/v1/products HTTP/1.1\r\nHost: " + host + "\r\n\r\n"
	body := "0\r\n\r\n" + smuggled
	send := func(t *testing.T, raw string) []*http.Response {
		t.Helper()
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		var out []*http.Response
		for {
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				// io.EOF: the server closed the connection; a timeout would
				// mean it kept the connection open waiting for more.
				if err != io.EOF && err != io.ErrUnexpectedEOF {
					t.Fatalf("after %d responses: %v (the connection was left open)", len(out), err)
				}
				return out
			}
			_, _ = io.ReadAll(res.Body)
			res.Body.Close()
			out = append(out, res)
		}
	}

	for _, tc := range []struct{ name, headers string }{
		{"Content-Length before Transfer-Encoding", "Content-Length: %d\r\nTransfer-Encoding: chunked\r\n"},
		{"Transfer-Encoding before Content-Length", "Transfer-Encoding: chunked\r\nContent-Length: %d\r\n"},
		{"lower-case names", "transfer-encoding: chunked\r\ncontent-length: %d\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := strings.Replace(tc.headers, "%d", strconv.Itoa(len(body)), 1)
			raw := "POST /api/v1/carts HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/json\r\n" + h + "\r\n" + body
			got := send(t, raw)
			if len(got) != 1 {
				t.Fatalf("%d responses, want 1 (the smuggled request was answered)", len(got))
			}
			if got[0].StatusCode != 400 || !got[0].Close {
				t.Errorf("= %d, Connection close %v; want 400 and close", got[0].StatusCode, got[0].Close)
			}
		})
	}

	t.Run("a chunked request alone is served, and its connection closed after it", func(t *testing.T) {
		raw := "GET /api/v1/products HTTP/1.1\r\nHost: " + host + "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled
		got := send(t, raw)
		if len(got) != 1 || !got[0].Close {
			t.Fatalf("%d responses (close %v), want 1 and the connection closed", len(got), len(got) > 0 && got[0].Close)
		}
	})

	t.Run("Content-Length alone keeps the connection for the next request", func(t *testing.T) {
		raw := "GET /api/v1/products HTTP/1.1\r\nHost: " + host + "\r\n\r\n" + strings.Replace(smuggled, "\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1)
		if got := send(t, raw); len(got) != 2 || got[0].StatusCode != 200 || got[1].StatusCode != 200 {
			t.Fatalf("%d responses, want two 200s", len(got))
		}
	})
}
