// Package logging builds Bulwark's one logger: structured JSON through log/slog,
// behind a redaction layer so that passwords, tokens, session ids and anything
// shaped like a card number never reach a log line, whichever code logs them.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
)

// Redacted replaces every value the layer removes.
const Redacted = "[REDACTED]"

// sensitiveKeys are attribute keys whose values are dropped whole. A key matches
// when it contains one of these words, case-insensitively ("new_password", "X-Api-Token").
var sensitiveKeys = []string{
	"password", "passwd", "secret", "token", "authorization", "cookie",
	"session", "otp", "cvc", "cvv", "card", "number", "key", "credential",
}

var (
	// panShape matches 13 to 19 digits, optionally grouped by single spaces or
	// dashes: every card number format, and some other numbers too, on purpose.
	panShape = regexp.MustCompile(`\d(?:[ -]?\d){12,18}`)
	// bearerShape matches credentials in an Authorization header value.
	bearerShape = regexp.MustCompile(`(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+`)
	// tokenShape matches Bulwark's own prefixed secrets (session tokens, API keys).
	tokenShape = regexp.MustCompile(`\bbw[a-z]{1,3}_[A-Za-z0-9_-]{16,}`)
	// urlPassword matches the password part of a URL's user info.
	urlPassword = regexp.MustCompile(`(://[^:/@\s]*):[^@/\s]*@`)
)

// Scrub removes card-number-shaped digit runs, bearer credentials, Bulwark tokens
// and URL passwords from s.
func Scrub(s string) string {
	s = panShape.ReplaceAllString(s, Redacted)
	s = bearerShape.ReplaceAllString(s, "$1 "+Redacted)
	s = tokenShape.ReplaceAllString(s, Redacted)
	s = urlPassword.ReplaceAllString(s, "$1:"+Redacted+"@")
	return s
}

// New returns a JSON logger writing to w at level, with redaction.
func New(w io.Writer, level slog.Level) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: redactAttr})
	return slog.New(redactingHandler{h})
}

// ParseLevel parses "debug", "info", "warn" or "error".
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

func isSensitiveKey(key string) bool {
	k := strings.ToLower(key)
	for _, s := range sensitiveKeys {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// count is the value of a Count attribute.
type count int64

// Count is an attribute holding how many of something there are ("sessions":
// 3 purged). Its key is not checked against the sensitive words: a count of
// sessions or keys reveals nothing, and redacting it ("sessions":"[REDACTED]")
// only hid what an operator needs. A number under a sensitive key that is not
// a Count (an OTP, a CVC logged as a number) is still redacted whole, and a
// Count shaped like a card number is redacted too.
func Count(key string, n int64) slog.Attr {
	return slog.Any(key, count(n))
}

// redactAttr is the slog ReplaceAttr hook: it sees every attribute, nested or not,
// after LogValuers are resolved.
func redactAttr(_ []string, a slog.Attr) slog.Attr {
	if n, ok := a.Value.Any().(count); ok && a.Value.Kind() == slog.KindAny {
		if s := fmt.Sprint(int64(n)); Scrub(s) != s {
			return slog.String(a.Key, Redacted)
		}
		return slog.Int64(a.Key, int64(n))
	}
	switch {
	case a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey || a.Key == slog.SourceKey:
		return a
	case isSensitiveKey(a.Key):
		return slog.String(a.Key, Redacted)
	}
	switch a.Value.Kind() {
	case slog.KindString:
		return slog.String(a.Key, Scrub(a.Value.String()))
	case slog.KindAny:
		// Errors, structs and maps are flattened to text so nothing inside them escapes scrubbing.
		return slog.String(a.Key, Scrub(fmt.Sprint(a.Value.Any())))
	case slog.KindInt64, slog.KindUint64:
		// A number keeps its type unless it is shaped like a card number.
		if s := a.Value.String(); Scrub(s) != s {
			return slog.String(a.Key, Redacted)
		}
	}
	return a
}

// redactingHandler scrubs the message, which ReplaceAttr does not see.
type redactingHandler struct{ next slog.Handler }

func (h redactingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h redactingHandler) Handle(ctx context.Context, r slog.Record) error {
	clean := slog.NewRecord(r.Time, r.Level, Scrub(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		clean.AddAttrs(a)
		return true
	})
	return h.next.Handle(ctx, clean)
}

func (h redactingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return redactingHandler{h.next.WithAttrs(attrs)}
}

func (h redactingHandler) WithGroup(name string) slog.Handler {
	return redactingHandler{h.next.WithGroup(name)}
}
