// Package waf owns Bulwark's web application firewall: Coraza v3 running the
// OWASP Core Rule Set v4 (both embedded in the binary, pinned in go.mod), its
// configuration from settings, and the decision on each request. It knows
// net/http's request type and nothing of Bulwark's routes beyond the
// exclusions it is given.
//
// It guarantees that a request is either inspected in full (headers, and the
// body up to the body limit, which is handed on unchanged; of a JSON body
// valid against its schema, every part that can carry text, see BodyModel)
// or refused: an
// error of the rule engine, a body it cannot read and a body over the limit
// are all refusals (fail closed), in blocking and in detection mode alike.
package waf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/types"
)

// CRSVersion is the Core Rule Set version embedded (github.com/corazawaf/coraza-coreruleset/v4).
const CRSVersion = "4.25.0"

// Mode is what the firewall does with a request its rules find hostile.
type Mode string

// The modes of the waf setting.
const (
	// Block refuses the request (the default).
	Block Mode = "block"
	// Detect logs and counts it but lets it through, for tuning exclusions.
	Detect Mode = "detect"
	// Off runs no rules at all.
	Off Mode = "off"
)

// ParseMode parses the waf setting.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Block, Detect, Off:
		return m, nil
	}
	return "", fmt.Errorf("want block, detect or off, not %q", s)
}

// Config is the firewall's configuration, from settings.
type Config struct {
	Mode Mode
	// Paranoia is the Core Rule Set's paranoia level, 1 to 4: higher levels
	// run more rules and find more attacks, at the cost of false positives.
	Paranoia int
	// InboundThreshold and OutboundThreshold are the anomaly scores at which
	// a request, or a response, is refused (a critical match scores 5).
	InboundThreshold, OutboundThreshold int
	// ResponseInspection runs the response rules (data leakage) on answers.
	ResponseInspection bool
	// BodyLimit is the largest request body inspected and accepted, the API's.
	BodyLimit int64
	// Exclusions switch rules off for named routes or fields.
	Exclusions []Exclusion
	// Bodies, when set, is the positive model of JSON request bodies: a body
	// valid against its route's schema is inspected in its free text only.
	// Nil inspects every body whole.
	Bodies *BodyModel
	// OwnHosts are the IP-literal Host values that name this shop itself (its
	// listen address, see OwnHosts): a request with one of them as its Host is
	// not scored by rule 920350 (Host is a numeric IP address).
	OwnHosts []string
}

// ownHostShape is what an entry of Config.OwnHosts may look like: an IPv4 or
// bracketed IPv6 literal with an optional port, nothing that could break out
// of the SecLang rule it is written into.
var ownHostShape = regexp.MustCompile(`^(?:[0-9.]{7,15}|\[[0-9a-f:.]{2,45}\])(?::[0-9]{1,5})?$`)

// OwnHosts returns the Host header values by which a client names the shop
// at listen (a host:port setting) when listen is an IP literal: exactly
// "host:port", as curl and browsers send it for http://127.0.0.1:8080/. A
// wildcard (0.0.0.0, ::, empty) or a name gives none: a wildcard names no
// address a client can use, and a name does not score in 920350 anyway.
func OwnHosts(listen string) []string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || port == "" || port == "0" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.IsUnspecified() || ip.Zone() != "" {
		return nil
	}
	return []string{strings.ToLower(net.JoinHostPort(ip.String(), port))}
}

// Validate reports the first setting out of range.
func (c Config) Validate() error {
	switch {
	case c.Mode != Block && c.Mode != Detect && c.Mode != Off:
		return fmt.Errorf("waf: mode %q: want block, detect or off", c.Mode)
	case c.Paranoia < 1 || c.Paranoia > 4:
		return errors.New("waf-paranoia: want 1 to 4")
	case c.InboundThreshold < 1 || c.InboundThreshold > 10000:
		return errors.New("waf-inbound-threshold: want 1 to 10000")
	case c.OutboundThreshold < 1 || c.OutboundThreshold > 10000:
		return errors.New("waf-outbound-threshold: want 1 to 10000")
	case c.BodyLimit < 1:
		return errors.New("waf: body limit must be positive")
	}
	for _, h := range c.OwnHosts {
		if !ownHostShape.MatchString(h) {
			return fmt.Errorf("waf: own host %q: want an IP literal with an optional port", h)
		}
	}
	return nil
}

// Directives returns the SecLang configuration the firewall runs, in order:
// Coraza's recommended configuration, Bulwark's overrides of it, the
// exclusions, the Core Rule Set's setup with Bulwark's choices, and the rules.
// The CRS regression test module (test/crs) loads exactly this.
func (c Config) Directives() string {
	var b strings.Builder
	b.WriteString("Include @coraza.conf-recommended\n")
	// The recommended file starts in DetectionOnly; Bulwark enforces and
	// decides detection mode itself (see Check), so both modes run one
	// configuration. Coraza's own audit log is off: blocks go to Bulwark's
	// log, metrics and audit trail instead.
	b.WriteString("SecRuleEngine On\n")
	b.WriteString("SecAuditEngine Off\n")
	fmt.Fprintf(&b, "SecRequestBodyLimit %d\n", c.BodyLimit)
	// The whole body is held in memory anyway (it is handed on to the
	// handler), so Coraza never spills it to a temporary file.
	fmt.Fprintf(&b, "SecRequestBodyInMemoryLimit %d\n", c.BodyLimit)
	b.WriteString("SecRequestBodyLimitAction Reject\n")
	// What the rules cost grows with what they are given: every argument is
	// run through every rule's transformations. Bulwark's API takes a few
	// dozen fields at most, so a body with more arguments or deeper nesting
	// than this is refused (Coraza's rules 200004/200005 and REQBODY_ERROR)
	// before the Core Rule Set runs over it; the HTTP layer bounds the bytes
	// (per-route body limits, and a body over 4 KiB only from a caller who
	// authenticated).
	fmt.Fprintf(&b, "SecArgumentsLimit %d\n", ArgumentsLimit)
	fmt.Fprintf(&b, "SecRequestBodyJsonDepthLimit %d\n", JSONDepthLimit)
	if c.ResponseInspection {
		b.WriteString("SecResponseBodyAccess On\nSecResponseBodyMimeType application/json text/plain text/html\n")
	} else {
		b.WriteString("SecResponseBodyAccess Off\n")
	}
	for i, x := range c.Exclusions {
		b.WriteString(x.directives(exclusionFirstID + i))
	}
	b.WriteString(c.legitimateRequests())
	b.WriteString("Include @crs-setup.conf.example\n")
	// The setup file gives phases 1 and 2 their "log, pass" default; the
	// response phases get the same, so their matches are reported too.
	b.WriteString("SecDefaultAction \"phase:3,log,auditlog,pass\"\nSecDefaultAction \"phase:4,log,auditlog,pass\"\n")
	// The API's methods (CRS allows GET HEAD POST OPTIONS by default) and its
	// thresholds and paranoia level. Each is set before the CRS's
	// initialization, which only fills in what is unset.
	fmt.Fprintf(&b, `SecAction "id:900000,phase:1,pass,t:none,nolog,setvar:tx.blocking_paranoia_level=%d"
SecAction "id:900110,phase:1,pass,t:none,nolog,setvar:tx.inbound_anomaly_score_threshold=%d,setvar:tx.outbound_anomaly_score_threshold=%d"
SecAction "id:900200,phase:1,pass,t:none,nolog,setvar:'tx.allowed_methods=GET HEAD POST OPTIONS PUT PATCH DELETE'"
`, c.Paranoia, c.InboundThreshold, c.OutboundThreshold)
	b.WriteString("Include @owasp_crs/*.conf\n")
	return b.String()
}

// ArgumentsLimit and JSONDepthLimit bound the arguments the rules inspect:
// more than ArgumentsLimit values from one source (query, body) or JSON
// nested deeper than JSONDepthLimit is refused.
const (
	ArgumentsLimit = 64
	JSONDepthLimit = 32
)

// exclusionFirstID is the rule id of the first exclusion: below the Core Rule
// Set's 900000-999999 and Coraza's recommended 200000s.
const exclusionFirstID = 10000

// The ids of Bulwark's built-in exclusions, after the setting's (at most
// maxExclusions of them from exclusionFirstID).
const (
	bodylessPOSTRuleID  = 10900
	ownHostRuleID       = 10901
	oidcCodeRuleID      = 10902
	passkeyAnswerRuleID = 10903
	mfaPasskeyRuleID    = 10904
	cspReportRuleID     = 10905
)

// legitimateRequests returns the built-in exclusions for two requests the
// Core Rule Set scores that are plainly legitimate for an API, and that the
// README's own commands send (curl -X POST http://127.0.0.1:8080/...):
//
//   - A POST with no Content-Length, no Transfer-Encoding and no Content-Type
//     (920180). By RFC 9112 section 6.3 such a request has an empty body, and
//     net/http reads it so; curl -X POST sends exactly this. Declaring a body
//     type without framing it still scores, as do all of the CRS's own tests.
//   - A Host header that is exactly one of OwnHosts (920350): a client naming
//     the shop by the IP address it listens on, not a scanner sweeping
//     addresses. Any other numeric Host still scores.
//
// Each only removes its one rule, for the one transaction that matches.
func (c Config) legitimateRequests() string {
	var b strings.Builder
	fmt.Fprintf(&b, `SecRule REQUEST_METHOD "@streq POST" "id:%d,phase:1,pass,nolog,t:none,chain"
  SecRule &REQUEST_HEADERS:Content-Length "@eq 0" "t:none,chain"
    SecRule &REQUEST_HEADERS:Transfer-Encoding "@eq 0" "t:none,chain"
      SecRule &REQUEST_HEADERS:Content-Type "@eq 0" "t:none,ctl:ruleRemoveById=920180"
`, bodylessPOSTRuleID)
	// Random values the shop does not choose but must take as they come: an
	// OIDC provider's authorization code, and a browser's WebAuthn answer
	// (credential ids, authenticator data, signatures: base64url of random
	// bytes). libinjection (942100) reads base64url's '-' and '_' as SQL
	// comments and operators, and refused about 1 such code in 4,000 and 1
	// passkey answer in 5,000. Only 942100 is lifted, only for those values.
	fmt.Fprintf(&b, `SecRule REQUEST_FILENAME "@streq /api/v1/auth/oidc/callback" "id:%d,phase:1,pass,nolog,t:none,ctl:ruleRemoveTargetById=942100;ARGS:code"
SecRule REQUEST_FILENAME "@rx ^/api/v1/(?:auth/passkey|me/passkeys)/finish$" "id:%d,phase:1,pass,nolog,t:none,ctl:ruleRemoveTargetById=942100;ARGS:/^json\.credential\./"
SecRule REQUEST_FILENAME "@streq /api/v1/auth/mfa" "id:%d,phase:1,pass,nolog,t:none,ctl:ruleRemoveTargetById=942100;ARGS:/^json\.passkey\./"
`, oidcCodeRuleID, passkeyAnswerRuleID, mfaPasskeyRuleID)
	// Browsers send Content-Security-Policy violation reports as
	// application/csp-report or application/reports+json, types the CRS
	// refuses (920420). On the report path alone they are allowed, and the
	// body is parsed as the JSON it is, so every rule still reads its values;
	// but a report is made of URLs (the page's, the blocked resource's, on
	// this very host), which the SSRF rules score, and the endpoint fetches
	// nothing: those rules are lifted there.
	fmt.Fprintf(&b, `SecRule REQUEST_FILENAME "@streq /csp-report" "id:%d,phase:1,pass,nolog,t:none,chain"
  SecRule REQUEST_HEADERS:Content-Type "@rx ^application/(?:csp-report|reports\+json)(?:;|$)" "t:none,t:lowercase,ctl:ruleRemoveById=920420,ctl:ruleRemoveByTag=attack-ssrf,ctl:requestBodyProcessor=JSON"
`, cspReportRuleID)
	if len(c.OwnHosts) > 0 {
		quoted := make([]string, len(c.OwnHosts))
		for i, h := range c.OwnHosts {
			quoted[i] = regexp.QuoteMeta(strings.ToLower(h))
		}
		fmt.Fprintf(&b, `SecRule REQUEST_HEADERS:Host "@rx ^(?:%s)$" "id:%d,phase:1,pass,nolog,t:none,t:lowercase,ctl:ruleRemoveById=920350"
`, strings.Join(quoted, "|"), ownHostRuleID)
	}
	return b.String()
}

// WAF inspects requests. It is safe for concurrent use.
type WAF struct {
	cfg Config
	waf coraza.WAF
}

// noLogData replaces the logdata of every Core Rule Set rule with a constant.
// Coraza 3.8 expands each rule's logdata (the matched value and where it was
// found, for an audit log) before evaluating the rule, on every request,
// whether or not the rule matches (corazawaf/coraza#1675): a third of the
// allocations of a product read. Bulwark keeps no Coraza audit log and reads
// only rule ids, messages and the score, so the expansion was pure cost. It
// changes nothing the rules match (TestRuntimeDetectsAsTheRuleSet); the CRS
// regression (test/crs), some of whose tests read the logdata, runs on
// Directives() without it.
const noLogData = `SecRuleUpdateActionById 900000-999999 "logdata:-"
`

// New compiles the rules of cfg. It returns an error when cfg is invalid or
// the rules do not compile.
func New(cfg Config) (*WAF, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(cfg.Directives() + noLogData))
	if err != nil {
		return nil, fmt.Errorf("waf: compile the Core Rule Set: %w", err)
	}
	return &WAF{cfg: cfg, waf: w}, nil
}

// Mode is the firewall's mode.
func (w *WAF) Mode() Mode { return w.cfg.Mode }

// Errors of Check that are the client's, not the firewall's.
var (
	// ErrBodyTooLarge: the body is over the limit, so it cannot be inspected in full.
	ErrBodyTooLarge = errors.New("waf: request body over the limit")
	// ErrBodyUnreadable: the body could not be read (the client went away or stalled).
	ErrBodyUnreadable = errors.New("waf: request body unreadable")
)

// Verdict is what the rules found.
type Verdict struct {
	// Hostile: the rules would refuse the request (or the response).
	Hostile bool
	// Refuse: the request must not go on. It is Hostile in blocking mode.
	Refuse bool
	// Rules are the ids of the matched rules that carry a message (detections
	// and the anomaly evaluation), in match order.
	Rules []int
	// Malformed: the refusal is for a body the parser rejected (not valid
	// JSON for its content type), which the client is told as such.
	Malformed bool
	// Score is the anomaly score the evaluation rule reported, when one fired.
	Score int
	// FreeTextOnly: the body validated against its route's schema, and the
	// rules inspected its free text only (see BodyModel).
	FreeTextOnly bool
}

// RuleList is Rules as "942100,949110": commas, never spaces, so a list of
// six-digit ids cannot look like a card number to the log redaction.
func (v Verdict) RuleList() string {
	ids := make([]string, len(v.Rules))
	for i, id := range v.Rules {
		ids[i] = strconv.Itoa(id)
	}
	return strings.Join(ids, ",")
}

// Check is one request's inspection; Close it when the response is written.
type Check struct {
	w  *WAF
	tx types.Transaction
	// freeTextOnly: the body validated against its schema and the rules
	// inspected its free text (see BodyModel).
	freeTextOnly bool
}

// Request inspects r, from client (the address edge protection resolved).
// It reads r's body up to the body limit and puts an identical body back,
// so the handler reads exactly what was inspected. The returned error is
// ErrBodyTooLarge, ErrBodyUnreadable, or an error of the rule engine; with
// any error the request must be refused. The Check is nil on error.
func (w *WAF) Request(r *http.Request, client string) (*Check, Verdict, error) {
	tx := w.waf.NewTransaction()
	c := &Check{w: w, tx: tx}
	v, err := c.request(r, client)
	if err != nil {
		c.Close()
		return nil, Verdict{}, err
	}
	return c, v, nil
}

func (c *Check) request(r *http.Request, client string) (Verdict, error) {
	tx := c.tx
	port := 0
	if _, p, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		port, _ = strconv.Atoi(p)
	}
	tx.ProcessConnection(client, port, "", 0)
	tx.ProcessURI(r.URL.RequestURI(), r.Method, r.Proto)
	for k, vs := range r.Header {
		for _, v := range vs {
			tx.AddRequestHeader(k, v)
		}
	}
	// net/http moves Host and Transfer-Encoding out of the header map; the
	// rules check both (host as an address, request smuggling).
	if r.Host != "" {
		tx.AddRequestHeader("Host", r.Host)
		tx.SetServerName(r.Host)
	}
	for _, te := range r.TransferEncoding {
		tx.AddRequestHeader("Transfer-Encoding", te)
	}
	if it := tx.ProcessRequestHeaders(); it != nil {
		return c.verdict(it), nil
	}
	if r.Body != nil && r.Body != http.NoBody {
		body, err := io.ReadAll(io.LimitReader(r.Body, c.w.cfg.BodyLimit+1))
		if err != nil {
			return Verdict{}, fmt.Errorf("%w: %w", ErrBodyUnreadable, err)
		}
		if int64(len(body)) > c.w.cfg.BodyLimit {
			return Verdict{}, ErrBodyTooLarge
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		inspect := body
		if free, ok := c.w.cfg.Bodies.reduce(r, body); ok && len(free) <= len(body) {
			inspect, c.freeTextOnly = free, true
		}
		it, _, err := tx.WriteRequestBody(inspect)
		if err != nil {
			return Verdict{}, fmt.Errorf("waf: inspect the request body: %w", err)
		}
		if it != nil {
			return c.verdict(it), nil
		}
	}
	it, err := tx.ProcessRequestBody()
	if err != nil {
		return Verdict{}, fmt.Errorf("waf: inspect the request body: %w", err)
	}
	return c.verdict(it), nil
}

// InspectsResponses reports whether Response has rules to run.
func (c *Check) InspectsResponses() bool { return c.w.cfg.ResponseInspection }

// Response inspects the handler's answer: status, headers and body. With
// response inspection off it only finishes the transaction's bookkeeping.
// Any error means the response must not be sent.
func (c *Check) Response(status int, header http.Header, body []byte) (Verdict, error) {
	tx := c.tx
	for k, vs := range header {
		for _, v := range vs {
			tx.AddResponseHeader(k, v)
		}
	}
	if it := tx.ProcessResponseHeaders(status, "HTTP/1.1"); it != nil {
		return c.verdict(it), nil
	}
	if c.w.cfg.ResponseInspection && tx.IsResponseBodyProcessable() {
		it, _, err := tx.WriteResponseBody(body)
		if err != nil {
			return Verdict{}, fmt.Errorf("waf: inspect the response body: %w", err)
		}
		if it != nil {
			return c.verdict(it), nil
		}
	}
	it, err := tx.ProcessResponseBody()
	if err != nil {
		return Verdict{}, fmt.Errorf("waf: inspect the response body: %w", err)
	}
	return c.verdict(it), nil
}

// Close frees the transaction. It does not run the logging phase: its rules
// (the Core Rule Set's 980xxx) only report, after the verdict, to Coraza's
// audit log, which is off (blocks go to Bulwark's log, metrics and audit
// trail from the Verdict); running them cost every request about a tenth of
// its inspection (docs/PERFORMANCE.md, 2026-12-04).
func (c *Check) Close() {
	_ = c.tx.Close() // only temporary files, which the in-memory body limit rules out
}

// verdict turns Coraza's interruption (nil when none) and matched rules into
// a Verdict for the configured mode.
func (c *Check) verdict(it *types.Interruption) Verdict {
	v := Verdict{Hostile: it != nil, FreeTextOnly: c.freeTextOnly}
	v.Refuse = v.Hostile && c.w.cfg.Mode == Block
	v.Malformed = it != nil && it.RuleID == bodyErrorRule
	for _, m := range c.tx.MatchedRules() {
		if m.Message() == "" {
			continue
		}
		id := m.Rule().ID()
		if id >= 900000 && id < 902000 {
			continue // the Core Rule Set's setup and initialization, not detections
		}
		if !slices.Contains(v.Rules, id) && len(v.Rules) < maxRules {
			v.Rules = append(v.Rules, id)
		}
		if score, ok := totalScore(m.Message()); ok {
			v.Score = score
		}
	}
	return v
}

// totalScore reads the anomaly score from the evaluation rule's message
// ("Inbound Anomaly Score Exceeded (Total Score: 10)").
func totalScore(msg string) (int, bool) {
	const label = "Total Score: "
	_, rest, ok := strings.Cut(msg, label)
	if !ok {
		return 0, false
	}
	end := 0
	for end < len(rest) && end < 9 && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	if end == 0 {
		return 0, false
	}
	n, _ := strconv.Atoi(rest[:end])
	return n, true
}

// bodyErrorRule is Coraza's recommended rule refusing a body its parser
// rejected (REQBODY_ERROR).
const bodyErrorRule = 200002

// maxRules bounds the rule ids a verdict carries (and so a log line).
const maxRules = 32
