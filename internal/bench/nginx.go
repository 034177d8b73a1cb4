package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/bulwark-shop/bulwark/internal/config"
)

// Debian's packages for the standard WAF: nginx, its ModSecurity v3 connector
// and the OWASP Core Rule Set. They are installed only when this mode runs
// (never in CI).
var (
	nginxPackages = []string{"nginx", "libnginx-mod-http-modsecurity", "modsecurity-crs"}
	modsecModule  = "/usr/lib/nginx/modules/ngx_http_modsecurity_module.so"
	debianCRS     = crsRules{Setup: "/etc/modsecurity/crs/crs-setup.conf", Rules: "/usr/share/modsecurity-crs/rules"}
	unicodeMap    = "/etc/nginx/unicode.mapping"
)

// crsModule is the Core Rule Set module Bulwark's WAF embeds. When it is in
// the Go module cache, nginx+ModSecurity loads the same rules (copied to a
// temporary directory at run time, never committed) if libmodsecurity accepts
// them; otherwise Debian's CRS is used, and the report names which.
const crsModule = "github.com/corazawaf/coraza-coreruleset/v4@v4.25.0"

type crsRules struct{ Setup, Rules string }

// version reads the CRS version the rules announce in SecComponentSignature.
func (c crsRules) version() string {
	b, err := os.ReadFile(filepath.Join(c.Rules, "REQUEST-901-INITIALIZATION.conf"))
	if err != nil {
		return "unknown"
	}
	if m := regexp.MustCompile(`(?m)^SecComponentSignature "OWASP_CRS/(\d+\.\d+\.\d+)"`).FindSubmatch(b); m != nil {
		return string(m[1])
	}
	return "unknown"
}

// NginxCost measures the edge-comparison mix (checkouts, product reads) on
// SQLite three ways: Bulwark alone with its edge as shipped (its own WAF
// included once merged); Bulwark with its WAF off (wafOff), the reference;
// and nginx with ModSecurity and the Core Rule Set at paranoia level 1 in
// front of that WAF-less Bulwark. Each WAF's cost is its ratio to the
// reference.
func NginxCost(ctx context.Context, o Options) ([]Result, error) {
	if err := needNginx(ctx, o); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "bulwark-nginx-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	crs, err := pickCRS(ctx, o, dir)
	if err != nil {
		return nil, err
	}
	behindProxy := func(c *config.Config) {
		wafOff(c)
		c.TrustedProxies = "127.0.0.1/32" // nginx passes the client in X-Forwarded-For
	}
	var all []Result
	for _, v := range []struct {
		name   string
		adjust func(*config.Config)
		front  func(string) (string, func(), error)
	}{
		{"bulwark, its edge as shipped", nil, nil},
		{"bulwark, its WAF off", wafOff, nil},
		{"nginx+modsecurity CRS " + crs.version() + " -> bulwark, its WAF off", behindProxy,
			func(upstream string) (string, func(), error) { return startNginx(ctx, dir, crs, upstream) }},
	} {
		rs, err := mix(ctx, o, v.name, v.adjust, v.front, func(base string) {
			fmt.Fprintf(o.Out, "%s: a SQL injection probe is %s\n", v.name, probeWAF(base))
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", v.name, err)
		}
		for _, r := range rs {
			fmt.Fprintln(o.Out, r)
		}
		all = append(all, rs...)
	}
	// all: [shipped checkout, shipped read, ref checkout, ref read, nginx checkout, nginx read]
	for i, what := range []string{"checkout", "product by id"} {
		ref := all[2+i]
		fmt.Fprintf(o.Out, "  %s throughput vs. bulwark with its WAF off: bulwark as shipped %.2f, nginx+modsecurity %.2f; p99 %.2f vs %.2f\n", what,
			all[i].PerSecond()/ref.PerSecond(), all[4+i].PerSecond()/ref.PerSecond(),
			float64(all[i].P99)/float64(ref.P99), float64(all[4+i].P99)/float64(ref.P99))
	}
	fmt.Fprintf(o.Out, "  Core Rule Set: nginx+modsecurity %s (%s); bulwark: the version its WAF embeds\n", crs.version(), crs.Rules)
	return all, nil
}

// probeWAF sends one request every Core Rule Set blocks at paranoia level 1
// (942100, SQL injection found by libinjection) and says what became of it, so
// a run shows which WAF, if any, was in the path.
func probeWAF(base string) string {
	res, err := http.Get(base + "/api/v1/products?q=1%27%20OR%20%271%27%3D%271%27--")
	if err != nil {
		return "not answered: " + err.Error()
	}
	res.Body.Close()
	if res.StatusCode == http.StatusForbidden {
		return "blocked (403)"
	}
	return fmt.Sprintf("let through (%d)", res.StatusCode)
}

// needNginx installs Debian's packages when nginx or the ModSecurity module
// or the Core Rule Set is missing.
func needNginx(ctx context.Context, o Options) error {
	_, errNginx := exec.LookPath("nginx")
	_, errModule := os.Stat(modsecModule)
	_, errCRS := os.Stat(debianCRS.Rules)
	if errNginx == nil && errModule == nil && errCRS == nil {
		return nil
	}
	fmt.Fprintf(o.Out, "installing %s with apt-get...\n", strings.Join(nginxPackages, " "))
	cmd := exec.CommandContext(ctx, "apt-get", append([]string{"install", "-y", "--no-install-recommends"}, nginxPackages...)...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get install %s: %w\n%s", strings.Join(nginxPackages, " "), err, out)
	}
	return nil
}

// pickCRS returns the Core Rule Set Bulwark's WAF embeds, copied into dir,
// when the Go module cache holds it and libmodsecurity loads it; else Debian's.
func pickCRS(ctx context.Context, o Options, dir string) (crsRules, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMODCACHE").Output()
	if err != nil {
		return debianCRS, nil
	}
	src := filepath.Join(strings.TrimSpace(string(out)), crsModule, "rules")
	if _, err := os.Stat(src); err != nil {
		fmt.Fprintf(o.Out, "CRS: %s is not in the module cache; using Debian's\n", crsModule)
		return debianCRS, nil
	}
	v4 := crsRules{Setup: filepath.Join(dir, "crs4", "crs-setup.conf"), Rules: filepath.Join(dir, "crs4", "rules")}
	if err := os.MkdirAll(v4.Rules, 0o700); err != nil {
		return crsRules{}, err
	}
	if err := copyFile(filepath.Join(src, "@crs-setup.conf.example"), v4.Setup); err != nil {
		return crsRules{}, err
	}
	files, err := os.ReadDir(filepath.Join(src, "@owasp_crs"))
	if err != nil {
		return crsRules{}, err
	}
	for _, f := range files {
		if err := copyFile(filepath.Join(src, "@owasp_crs", f.Name()), filepath.Join(v4.Rules, f.Name())); err != nil {
			return crsRules{}, err
		}
	}
	conf, err := writeNginxConf(dir, v4, "127.0.0.1:1", "127.0.0.1:1")
	if err != nil {
		return crsRules{}, err
	}
	if out, err := exec.CommandContext(ctx, "nginx", "-t", "-q", "-p", dir, "-c", conf).CombinedOutput(); err != nil {
		fmt.Fprintf(o.Out, "CRS: libmodsecurity does not load CRS %s from %s, using Debian's CRS %s: %s\n",
			v4.version(), crsModule, debianCRS.version(), firstLine(out))
		return debianCRS, nil
	}
	return v4, nil
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o600)
}

// writeNginxConf writes nginx.conf and modsecurity.conf into dir: nginx on
// listen (loopback) proxying to upstream, with ModSecurity blocking on the
// Core Rule Set at its default paranoia level 1, request bodies (JSON parsed)
// inspected up to Bulwark's default body limit, response bodies not, as in
// Bulwark's WAF.
func writeNginxConf(dir string, crs crsRules, listen, upstream string) (string, error) {
	modsec := fmt.Sprintf(`SecRuleEngine On
SecRequestBodyAccess On
SecRule REQUEST_HEADERS:Content-Type "^application/json" "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRequestBodyLimit 1048576
SecRequestBodyNoFilesLimit 1048576
SecRequestBodyLimitAction Reject
SecRequestBodyJsonDepthLimit 512
SecRule REQBODY_ERROR "!@eq 0" "id:200002,phase:2,t:none,log,deny,status:400"
SecPcreMatchLimit 1000
SecPcreMatchLimitRecursion 1000
SecResponseBodyAccess Off
SecAuditEngine Off
SecTmpDir %[1]s
SecDataDir %[1]s
SecArgumentSeparator &
SecCookieFormat 0
SecUnicodeMapFile %[2]s 20127
Include %[3]s
Include %[4]s/*.conf
`, dir, unicodeMap, crs.Setup, crs.Rules)
	if err := os.WriteFile(filepath.Join(dir, "modsecurity.conf"), []byte(modsec), 0o600); err != nil {
		return "", err
	}
	nginx := fmt.Sprintf(`load_module %[1]s;
daemon off;
worker_processes auto;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path %[2]s/body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
	client_max_body_size 1m;
	upstream bulwark { server %[4]s; keepalive 64; }
	server {
		listen %[3]s;
		modsecurity on;
		modsecurity_rules_file %[2]s/modsecurity.conf;
		location / {
			proxy_pass http://bulwark;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host $host;
			proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
		}
	}
}
`, modsecModule, dir, listen, upstream)
	conf := filepath.Join(dir, "nginx.conf")
	return conf, os.WriteFile(conf, []byte(nginx), 0o600)
}

// startNginx runs nginx on a free loopback port in front of upstream
// ("http://host:port") and returns its URL and a function that stops it.
func startNginx(ctx context.Context, dir string, crs crsRules, upstream string) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	conf, err := writeNginxConf(dir, crs, addr, strings.TrimPrefix(upstream, "http://"))
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command("nginx", "-p", dir, "-c", conf)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its workers stop with it
	var errOut strings.Builder
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start nginx: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // fast shutdown of master and workers
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr, stop, nil
		}
		select {
		case err := <-exited:
			return "", nil, fmt.Errorf("nginx exited: %v: %s", err, errOut.String())
		case <-ctx.Done():
			stop()
			return "", nil, ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, errors.New("nginx did not listen within 10 s: " + errOut.String())
		}
	}
}
