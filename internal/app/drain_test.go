package app_test

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/app"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// TestGracefulDrain stops a real process with SIGTERM, as systemd and
// Kubernetes do: /readyz answers 503 draining within 100 ms, so a load
// balancer takes the instance out, while every other request is still
// served for the drain-delay and /healthz stays 200; a request already
// in flight (its body still arriving) when the listeners close is
// answered; the process exits 0 and the audit trail ends with the stop.
func TestGracefulDrain(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		const drainDelay = 2 * time.Second
		cfg := testConfig(db)
		p := startProcess(t, cfg, "--drain-delay", drainDelay.String())
		p.must(200, req{method: "GET", path: "/readyz"})

		// The slow request: its headers and half its body now, the rest
		// after the drain, when the server is shutting down.
		body := `{"email":"nobody@example.com","password":"` + strings.Repeat("x", 40) + `"}`
		conn, err := net.Dial("tcp", strings.TrimPrefix(p.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write([]byte("POST /api/v1/auth/login HTTP/1.1\r\nHost: " + strings.TrimPrefix(p.URL, "http://") +
			"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body[:20])); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond) // the server has begun reading it

		signalled := time.Now()
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		var unready time.Duration
		for {
			res, err := p.try(req{method: "GET", path: "/readyz"})
			if err != nil {
				t.Fatalf("/readyz during the drain: %v", err)
			}
			if res.Status == 503 {
				unready = time.Since(signalled)
				var rd struct{ Status, Code string }
				res.JSON(t, &rd)
				if rd.Status != "draining" || rd.Code != "not_ready" {
					t.Fatalf("/readyz while draining: %s", res.Body)
				}
				break
			}
			if time.Since(signalled) > 100*time.Millisecond {
				t.Fatalf("/readyz still %d %s 100 ms after SIGTERM", res.Status, res.Body)
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Logf("/readyz answered 503 draining %v after SIGTERM", unready.Round(time.Millisecond))

		// Still serving, alive, but each answer closes its connection.
		time.Sleep(drainDelay / 2)
		p.must(200, req{method: "GET", path: "/healthz"})
		served, err := http.Get(p.URL + "/api/v1/products")
		if err != nil {
			t.Fatalf("a request during the drain: %v", err)
		}
		served.Body.Close()
		if served.StatusCode != 200 || !served.Close {
			t.Fatalf("a request during the drain = %d (connection closed after it: %t), want 200 and closed", served.StatusCode, served.Close)
		}
		if elapsed := time.Since(signalled); elapsed >= drainDelay {
			t.Fatalf("the checks took %v, past the drain", elapsed)
		}

		// The listeners close after the drain; the slow request is still answered.
		time.Sleep(time.Until(signalled.Add(drainDelay + 500*time.Millisecond)))
		if c, err := net.DialTimeout("tcp", strings.TrimPrefix(p.URL, "http://"), time.Second); err == nil {
			c.Close()
			t.Fatal("a new connection was accepted after the drain")
		}
		if _, err := conn.Write([]byte(body[20:])); err != nil {
			t.Fatalf("the rest of the in-flight request: %v", err)
		}
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		slow, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("the in-flight request got no answer: %v\n%s", err, p.Logs.String())
		}
		slow.Body.Close()
		if slow.StatusCode != 401 {
			t.Fatalf("the in-flight login = %d, want 401", slow.StatusCode)
		}
		if !slow.Close {
			t.Fatal("an answer during shutdown kept its connection open")
		}

		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			t.Fatalf("the process did not exit after the drain\n%s", p.Logs.String())
		}
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("exit code %d after SIGTERM\n%s", code, p.Logs.String())
		}
		t.Logf("exited %v after SIGTERM", time.Since(signalled).Round(time.Millisecond))
		var last string
		if err := rawDB(t, cfg).QueryRow("SELECT action FROM audit_records ORDER BY seq DESC LIMIT 1").Scan(&last); err != nil || last != app.ActionServerStop {
			t.Fatalf("the last audit record is %q (%v), want %s", last, err, app.ActionServerStop)
		}
		for _, l := range strings.Split(p.Logs.String(), "\n") {
			var line struct{ Msg string }
			if json.Unmarshal([]byte(l), &line) == nil && strings.HasPrefix(line.Msg, "draining") {
				return
			}
		}
		t.Fatalf("no draining line in the log:\n%s", p.Logs.String())
	})
}
