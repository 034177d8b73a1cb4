package testenv

import (
	"encoding/csv"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// HAProxyBinary is where the tests look for haproxy first (Debian's place),
// then on PATH.
const HAProxyBinary = "/usr/sbin/haproxy"

// HAProxy is a load balancer of the test's own in front of instances of
// the shop, as a big shop runs them: plain HTTP on loopback, round robin,
// each instance checked on GET /readyz (HTTP/1.1 with a Host) every 500 ms
// and taken out after 2 failed checks (back after 2 good ones), a request
// whose connection to an instance fails retried twice, the last time on
// another instance.
type HAProxy struct {
	// URL is where clients send their requests.
	URL  string
	sock string
	out  *SyncBuffer
}

// StartHAProxy starts haproxy in front of servers (host:port each, named
// s0, s1, … in this order) until the test ends, and waits until it serves.
// It skips the test when haproxy is not installed (fails under
// BULWARK_TEST_REQUIRE_SERVICES=1).
func StartHAProxy(t testing.TB, servers []string) *HAProxy {
	t.Helper()
	bin := RequireHAProxy(t)
	dir := t.TempDir()
	h := &HAProxy{URL: fmt.Sprintf("http://127.0.0.1:%d", FreePort(t)), sock: filepath.Join(dir, "admin.sock"), out: &SyncBuffer{}}
	var lines []string
	for i, s := range servers {
		lines = append(lines, fmt.Sprintf("    server s%d %s check inter 500ms fall 2 rise 2", i, s))
	}
	conf := fmt.Sprintf(`global
    maxconn 512
    stats socket %s mode 600 level admin

defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout check 1s
    retries 2
    option redispatch

frontend shop
    bind %s
    default_backend instances

backend instances
    balance roundrobin
    # HTTP/1.1 with a Host: the WAF (CRS rule 920280) refuses a request
    # without one with 403, and a bare "option httpchk GET /readyz" sends
    # HTTP/1.0 without a Host, which takes every instance out.
    option httpchk GET /readyz HTTP/1.1
    http-check send hdr Host localhost
    http-check expect status 200
%s
`, h.sock, strings.TrimPrefix(h.URL, "http://"), strings.Join(lines, "\n"))
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-q", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s\n%s", err, out, conf)
	}
	cmd := exec.Command(bin, "-db", "-f", path)
	cmd.Stdout, cmd.Stderr = h.out, h.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start haproxy: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("haproxy output:\n%s", h.out.String())
		}
	})
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := client.Get(h.URL + "/healthz")
		if err == nil {
			res.Body.Close()
			if _, err := h.stats(); err == nil {
				return h
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy did not come up: %v\n%s", err, h.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// RequireHAProxy returns the haproxy binary, or skips the test when it is
// not installed (fails under BULWARK_TEST_REQUIRE_SERVICES=1): a test calls
// it before starting what HAProxy is to balance.
func RequireHAProxy(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(HAProxyBinary); err == nil {
		return HAProxyBinary
	}
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		missing(t, "haproxy is not installed: the load-balancer drill did not run")
		t.SkipNow()
	}
	return bin
}

// States returns the state HAProxy gives each server (s0, s1, …): UP, DOWN,
// or a transition such as "UP 1/2", read from its stats socket.
func (h *HAProxy) States(t testing.TB) map[string]string {
	t.Helper()
	stats := h.Stats(t)
	states := map[string]string{}
	for name, row := range stats {
		if name != "BACKEND" && name != "FRONTEND" {
			states[name] = row["status"]
		}
	}
	return states
}

// Stats returns HAProxy's statistics of the instances: per server (s0, s1,
// …, and BACKEND for them all) its "show stat" columns by name (status,
// wretr for retries, wredis for redispatches, eresp, hrsp_5xx, …).
func (h *HAProxy) Stats(t testing.TB) map[string]map[string]string {
	t.Helper()
	s, err := h.stats()
	if err != nil {
		t.Fatalf("haproxy stats: %v", err)
	}
	return s
}

func (h *HAProxy) stats() (map[string]map[string]string, error) {
	c, err := net.DialTimeout("unix", h.sock, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, "show stat\n"); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(c)
	if err != nil {
		return nil, err
	}
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(strings.TrimSpace(string(b)), "# ")))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) < 2 {
		return nil, fmt.Errorf("show stat: %v %q", err, b)
	}
	stats := map[string]map[string]string{}
	for _, row := range rows[1:] {
		byName := map[string]string{}
		for i, name := range rows[0] {
			if i < len(row) {
				byName[name] = row[i]
			}
		}
		if byName["pxname"] == "instances" {
			stats[byName["svname"]] = byName
		}
	}
	return stats, nil
}
