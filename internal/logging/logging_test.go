package logging_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/logging"
)

// secrets that must never appear in a log line, whatever way they are logged.
var secrets = []string{
	"4242424242424242",
	"4000 0000 0000 0002",
	"5555-5555-5555-4444",
	"correct horse battery staple",
	"bws_abcdefghijklmnopqrstuvwxyz012345",
	"s3cr3t-db-pass",
	"eyJhbGciOiJIUzI1NiJ9.opaque",
}

func TestLoggerRedactsSecrets(t *testing.T) {
	var buf bytes.Buffer
	log := logging.New(&buf, slog.LevelDebug)

	log.Info("card 4242424242424242 used with bws_abcdefghijklmnopqrstuvwxyz012345")
	log.Info("login", "password", "correct horse battery staple", "email", "a@example.com")
	log.Info("request", slog.Group("headers", "Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.opaque"))
	log.Info("db", "url", "postgres://shop:s3cr3t-db-pass@127.0.0.1/shop")
	log.Info("pay", "detail", "number 4000 0000 0000 0002 declined")
	log.Info("pay", "amount", int64(5555555555554444))
	log.Info("request", "status", 200, "duration_ms", int64(12))
	log.Error("failed", "err", fmt.Errorf("insert: %w", errors.New("value 5555-5555-5555-4444 rejected")))
	log.With("new_password", "correct horse battery staple").Info("with attrs")
	log.Info("struct", "req", struct{ Note string }{"Bearer eyJhbGciOiJIUzI1NiJ9.opaque"})

	out := buf.String()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("log contains %q:\n%s", s, out)
		}
	}
	if got := strings.Count(out, "\n"); got != 10 {
		t.Errorf("got %d log lines, want 10", got)
	}
	for _, keep := range []string{"a@example.com", "127.0.0.1/shop", `"msg":"login"`, `"status":200`, `"duration_ms":12`} {
		if !strings.Contains(out, keep) {
			t.Errorf("log lost harmless text %q:\n%s", keep, out)
		}
	}
}

func TestScrubKeepsShortNumbers(t *testing.T) {
	for _, s := range []string{"order 12345 of 2026-11-22", "status 404", "qty 99"} {
		if got := logging.Scrub(s); got != s {
			t.Errorf("Scrub(%q) = %q, want it unchanged", s, got)
		}
	}
}

func FuzzScrub(f *testing.F) {
	for _, s := range secrets {
		f.Add("x " + s + " y")
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := logging.Scrub(s)
		if strings.Contains(out, "4242424242424242") {
			t.Fatalf("Scrub(%q) kept a card number: %q", s, out)
		}
	})
}

func TestCountsAreNotRedacted(t *testing.T) {
	var buf bytes.Buffer
	log := logging.New(&buf, slog.LevelDebug)
	// Issue 11: the start-up retention purge logged "sessions":"[REDACTED]".
	log.Info("retention purge", logging.Count("sessions", 3), logging.Count("one_time_tokens", 0), logging.Count("idempotency_keys", 12))
	if out := buf.String(); !strings.Contains(out, `"sessions":3`) || !strings.Contains(out, `"one_time_tokens":0`) || !strings.Contains(out, `"idempotency_keys":12`) {
		t.Fatalf("counts were not logged as numbers: %s", out)
	}
	buf.Reset()
	// A number under a sensitive key that is not declared a count stays hidden,
	// and a count shaped like a card number is scrubbed.
	log.Info("mfa", "otp", 123456, "cvc", 737, logging.Count("cards", 4242424242424242))
	out := buf.String()
	for _, leak := range []string{"123456", "737", "4242424242424242"} {
		if strings.Contains(out, leak) {
			t.Fatalf("%s leaked: %s", leak, out)
		}
	}
}
