package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/detect"
	"github.com/bulwark-shop/bulwark/internal/edge"
	"github.com/bulwark-shop/bulwark/internal/reqinfo"
	"github.com/bulwark-shop/bulwark/internal/waf"
)

// ActionWAFBlock is the audit action of a request (or response) the web
// application firewall refused; the target is the client address.
const ActionWAFBlock = "edge.waf_block"

// Audit records of refusals are sampled: an attacker's scan sends thousands
// of hostile requests a minute, and each audit record is a chained database
// write, a leaf of the signed log. Every refusal is logged and counted; the
// audit trail gets at most one record of a kind per address per
// auditPerAddress period and auditTotal records of a kind a minute in all
// on each instance, so a scan from many addresses cannot flood it either.
var (
	auditPerAddress = edge.Limit{Count: 1, Period: time.Minute, Burst: 1}
	auditTotal      = edge.Limit{Count: 60, Period: time.Minute, Burst: 60}
)

// SampledAudit samples the audit records of refusals: the firewall's blocks
// (ActionWAFBlock) and requests refused for want of credentials or
// permission (ActionRefused).
type SampledAudit struct {
	trail   edge.Auditor
	sampler *edge.Limiter
}

// NewSampledAudit returns the sampler in front of trail, keeping its counts
// in memory: each instance audits its own share.
func NewSampledAudit(trail edge.Auditor, now func() time.Time) *SampledAudit {
	return &SampledAudit{trail: trail, sampler: edge.NewLimiter(edge.NewMemory(0), now)}
}

// record writes one audit record of action about the client ip unless the
// address or the instance has had its share of that action this minute, or
// s is nil (no audit trail). It reports whether it wrote.
func (s *SampledAudit) record(ctx context.Context, action, ip, outcome, detail string) (bool, error) {
	if s == nil {
		return false, nil
	}
	for _, k := range []struct {
		key string
		lim edge.Limit
	}{{action + ":" + reqinfo.AddressKey(ip), auditPerAddress}, {action + ":all", auditTotal}} {
		d, err := s.sampler.Allow(ctx, k.key, k.lim)
		if err != nil || !d.Allowed {
			return false, err
		}
	}
	return true, s.trail.Record(ctx, action, ip, outcome, detail)
}

// errWAFMalformed refuses a JSON body the firewall's parser rejects: it cannot
// be inspected field by field, so it goes no further, and it is the client's
// mistake more often than an attack.
var errWAFMalformed = apperr.New(apperr.CodeInvalidJSON, "the body is not well-formed JSON")

// errWAFUninspectable refuses a request whose body the firewall could not read.
var errWAFUninspectable = apperr.New(apperr.CodeInvalidJSON, "the body could not be read")

// firewall runs the web application firewall on every request: after the
// address lists (a blocked address costs no rule evaluation) and before
// routing, authentication and handlers. It fails closed: a request the
// firewall could not inspect in full is refused, in either mode.
func (a *API) firewall(next http.Handler) http.Handler {
	if a.WAF == nil {
		return next
	}
	mode := string(a.WAF.Mode())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		check, v, err := a.WAF.Request(r, reqinfo.From(r.Context()).IP)
		if err != nil {
			a.wafFailed(w, r, mode, err)
			return
		}
		defer check.Close()
		if a.wafRefuses(w, r, mode, "request", v) {
			return
		}
		if !check.InspectsResponses() {
			next.ServeHTTP(w, r)
			return
		}
		// The answer is held back until the response rules have seen it, with
		// headers of its own, so a refused answer leaks none of them (a
		// session cookie, say).
		buf := &bufferedResponse{header: w.Header().Clone()}
		next.ServeHTTP(buf, r)
		if buf.status == 0 {
			buf.status = http.StatusOK
		}
		v, err = check.Response(buf.status, buf.header, buf.body.Bytes())
		if err != nil {
			a.wafFailed(w, r, mode, err)
			return
		}
		if a.wafRefuses(w, r, mode, "response", v) {
			return
		}
		clear(w.Header())
		maps.Copy(w.Header(), buf.header)
		w.WriteHeader(buf.status)
		_, _ = w.Write(buf.body.Bytes())
	})
}

// wafFailed refuses a request the firewall could not inspect: a body over the
// limit is the client's 413, an unreadable body its 400; an error of the rule
// engine is logged and refused as a block.
func (a *API) wafFailed(w http.ResponseWriter, r *http.Request, mode string, err error) {
	a.Metrics.waf.WithLabelValues(mode, "error").Inc()
	switch {
	case errors.Is(err, waf.ErrBodyTooLarge):
		writeProblem(w, r, apperr.New(apperr.CodePayloadTooLarge, "the body is larger than %d bytes", a.MaxBodyBytes))
	case errors.Is(err, waf.ErrBodyUnreadable):
		writeProblem(w, r, errWAFUninspectable)
	default:
		a.Log.ErrorContext(r.Context(), "waf: inspection failed; request refused", "request_id", reqinfo.From(r.Context()).RequestID, "err", err)
		writeProblem(w, r, errBlocked)
	}
}

// wafRefuses logs, counts and audits a hostile verdict and, when it refuses,
// answers 403 request_blocked (never the rules: they stay in the log). It
// reports whether the request was answered.
func (a *API) wafRefuses(w http.ResponseWriter, r *http.Request, mode, phase string, v waf.Verdict) bool {
	if !v.Hostile {
		a.Metrics.waf.WithLabelValues(mode, "pass").Inc()
		return false
	}
	outcome := "blocked"
	if !v.Refuse {
		outcome = "detected"
	}
	a.Metrics.waf.WithLabelValues(mode, outcome).Inc()
	// Detection mode reports too: its findings show what blocking would stop.
	a.signal(r, detect.WAFBlocked, map[string]string{"rules": v.RuleList(), "outcome": outcome, "phase": phase})
	info := reqinfo.From(r.Context())
	a.Log.WarnContext(r.Context(), "waf: hostile "+phase, "request_id", info.RequestID, "ip", info.IP,
		"method", r.Method, "path", r.URL.Path, "outcome", outcome, "rules", v.RuleList(), "score", v.Score)
	if !v.Refuse {
		// Detection mode changes nothing, so it leaves the audit trail alone;
		// the log line and the metric are its record.
		return false
	}
	detail := fmt.Sprintf("%s %s; rules %s; score %d", phase, outcome, v.RuleList(), v.Score)
	if _, err := a.WAFAudit.record(r.Context(), ActionWAFBlock, info.IP, outcome, detail); err != nil {
		// The block stands; only its sampled audit record is missing, and the
		// log line above holds the same facts.
		a.Log.ErrorContext(r.Context(), "waf: audit the block", "request_id", info.RequestID, "err", err)
	}
	if v.Malformed {
		writeProblem(w, r, errWAFMalformed)
		return true
	}
	writeProblem(w, r, errBlocked)
	return true
}

// bufferedResponse holds a handler's answer for response inspection.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
