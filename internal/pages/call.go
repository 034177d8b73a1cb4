package pages

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// SessionCookie is the API's session cookie (httpapi.SessionCookie is this
// one name). The pages never read its value: they only pass it on
// with each call, and pass on what the API sets.
const SessionCookie = "__Host-bulwark_session"

// forwarded are the request headers a call carries over from the visitor's
// request: the credentials (Cookie), what the API's cross-origin checks read
// (Origin, Sec-Fetch-*), and what its audit and fraud signals record.
var forwarded = []string{"Cookie", "Origin", "Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-Dest",
	"User-Agent", "Accept-Language"}

// apiError is the API's refusal of a call: its problem document.
type apiError struct {
	Status     int
	Code       string
	Detail     string
	Fields     map[string]string
	RetryAfter string
}

func (e *apiError) Error() string { return fmt.Sprintf("api %d %s: %s", e.Status, e.Code, e.Detail) }

// call makes the API request method path with body (JSON; nil for none) as
// the visitor, in process, and decodes a 2xx answer into out (nil to ignore
// it; a *[]byte takes the body as it is, for a signed note). The request
// goes to the API's router with the visitor's context (request id, client
// address) and headers, so the API authenticates,
// authorizes, rate-limits and audits it exactly as if the visitor's browser
// had sent it. Cookies the API sets (a session begun or ended) reach the
// visitor, and the calls after it in this request. A refusal is an *apiError.
func (p *page) call(method, path string, body, out any) error {
	return p.callWith(method, path, nil, body, out)
}

// callWith is call with extra request headers (Idempotency-Key).
func (p *page) callWith(method, path string, header http.Header, body, out any) error {
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
	}
	req, err := http.NewRequestWithContext(p.r.Context(), method, path, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("call %s %s: %w", method, path, err)
	}
	req.Host, req.RemoteAddr, req.TLS = p.r.Host, p.r.RemoteAddr, p.r.TLS
	for _, h := range forwarded {
		if v := p.r.Header.Values(h); len(v) > 0 {
			req.Header[h] = v
		}
	}
	if len(p.jar) > 0 {
		p.applyJar(req)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	} else {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	rec := &recorder{header: http.Header{}}
	p.api.ServeHTTP(rec, req)
	for _, c := range rec.header.Values("Set-Cookie") {
		p.w.Header().Add("Set-Cookie", c)
		if parsed, err := http.ParseSetCookie(c); err == nil {
			if p.jar == nil {
				p.jar = map[string]*http.Cookie{}
			}
			p.jar[parsed.Name] = parsed
		}
	}
	if rec.status >= 400 {
		return problemOf(rec)
	}
	if raw, ok := out.(*[]byte); ok { // a body that is not JSON (a signed note), as it is
		*raw = bytes.Clone(rec.body.Bytes())
		return nil
	}
	if out != nil && rec.status != http.StatusNoContent {
		if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
			return fmt.Errorf("decode %s %s: %w", method, path, err)
		}
	}
	return nil
}

// applyJar replaces the request's cookies by those an earlier call of this
// request set (a session the sign-in just began, or ended).
func (p *page) applyJar(req *http.Request) {
	var keep []string
	for _, c := range req.Cookies() {
		if _, set := p.jar[c.Name]; !set {
			keep = append(keep, c.Name+"="+c.Value)
		}
	}
	for _, c := range p.jar {
		if c.MaxAge >= 0 && c.Value != "" {
			keep = append(keep, c.Name+"="+c.Value)
		}
	}
	req.Header.Del("Cookie")
	if len(keep) > 0 {
		req.Header.Set("Cookie", strings.Join(keep, "; "))
	}
}

// signedIn says whether the visitor sent a session cookie (not whether it
// is still good: the API says that).
func (p *page) signedIn() bool {
	if c, ok := p.jar[SessionCookie]; ok {
		return c.MaxAge >= 0 && c.Value != ""
	}
	c, err := p.r.Cookie(SessionCookie)
	return err == nil && c.Value != ""
}

// problemOf reads the API's problem document.
func problemOf(rec *recorder) *apiError {
	var doc struct {
		Code   string `json:"code"`
		Detail string `json:"detail"`
		Errors []struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	_ = json.Unmarshal(rec.body.Bytes(), &doc) // a body that is no problem document leaves the status alone
	e := &apiError{Status: rec.status, Code: doc.Code, Detail: doc.Detail, RetryAfter: rec.header.Get("Retry-After")}
	if e.Detail == "" {
		e.Detail = http.StatusText(rec.status)
	}
	for _, f := range doc.Errors {
		if e.Fields == nil {
			e.Fields = map[string]string{}
		}
		e.Fields[f.Field] = f.Message
	}
	return e
}

// recorder is the response writer of an in-process call.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
