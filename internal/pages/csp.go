package pages

import (
	"encoding/json"
	"net/http"
	"strings"
)

// pagePolicy is the pages' Content-Security-Policy: scripts and styles from
// this origin only (the binary's own assets), no inline script, no inline
// style attribute, no eval, no plugin, no framing, forms posting only here,
// and every violation reported to cspReportPath. Charts are inline SVG drawn
// by the server, so images need no other source.
const pagePolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; " +
	"frame-ancestors 'none'; report-uri " + cspReportPath

// cspReportPath receives the browsers' violation reports.
const (
	cspReportPath    = "/csp-report"
	cspReportPattern = "POST " + cspReportPath
)

// setPageHeaders replaces the API's document policy (default-src 'none',
// which allows no page at all) with the pages' own, and lets pages of this
// origin use passkeys (WebAuthn), which the API's Permissions-Policy turns
// off; the other isolation headers stay as observe set them.
func setPageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", pagePolicy)
	if pp := h.Get("Permissions-Policy"); pp != "" {
		h.Set("Permissions-Policy", strings.Replace(pp, "publickey-credentials-get=()",
			"publickey-credentials-create=(self), publickey-credentials-get=(self)", 1))
	}
}

// cspDirectives are the directives a report is counted under; any other is
// "other", so that a forged report cannot make new metric series.
var cspDirectives = map[string]bool{
	"default-src": true, "script-src": true, "script-src-elem": true, "script-src-attr": true,
	"style-src": true, "style-src-elem": true, "style-src-attr": true, "img-src": true,
	"font-src": true, "connect-src": true, "form-action": true, "base-uri": true,
	"frame-ancestors": true,
}

// cspReport takes a browser's violation report — the report-uri form
// (application/csp-report) or the Reporting API's (application/reports+json)
// — counts it by directive, and logs where it happened. Anyone can post
// one, so a report is only ever a count and a log line, bounded like every
// body (a few KiB) and rate-limited by the edge.
func (p *page) cspReport() error {
	var legacy struct {
		Report struct {
			Effective string `json:"effective-directive"`
			Violated  string `json:"violated-directive"`
			Blocked   string `json:"blocked-uri"`
			Document  string `json:"document-uri"`
		} `json:"csp-report"`
	}
	var modern []struct {
		Type string `json:"type"`
		Body struct {
			Effective string `json:"effectiveDirective"`
			Blocked   string `json:"blockedURL"`
			Document  string `json:"documentURL"`
		} `json:"body"`
	}
	dec := json.NewDecoder(p.r.Body)
	type found struct{ directive, blocked, document string }
	var reports []found
	if strings.HasPrefix(p.r.Header.Get("Content-Type"), "application/reports+json") {
		if err := dec.Decode(&modern); err != nil {
			return errBadReport
		}
		for _, m := range modern {
			if m.Type == "csp-violation" {
				reports = append(reports, found{m.Body.Effective, m.Body.Blocked, m.Body.Document})
			}
		}
	} else {
		if err := dec.Decode(&legacy); err != nil {
			return errBadReport
		}
		d := legacy.Report.Effective
		if d == "" {
			d, _, _ = strings.Cut(legacy.Report.Violated, " ")
		}
		reports = append(reports, found{d, legacy.Report.Blocked, legacy.Report.Document})
	}
	for _, f := range reports {
		d := f.directive
		if !cspDirectives[d] {
			d = "other"
		}
		p.s.csp.WithLabelValues(d).Inc()
		p.s.opts.Log.WarnContext(p.r.Context(), "csp violation reported", "directive", d,
			"blocked", clip(f.blocked), "document", clip(f.document))
	}
	p.w.WriteHeader(http.StatusNoContent)
	return nil
}

var errBadReport = &apiError{Status: http.StatusBadRequest, Code: "malformed_report", Detail: "The report could not be read."}

// clip bounds what a report puts in the log.
func clip(s string) string {
	const limit = 200
	if len(s) > limit {
		return s[:limit] + "…"
	}
	return s
}
