package app

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/finding"
	"github.com/bulwark-shop/bulwark/internal/mail"
)

// alertMailTimeout bounds the sending of one alert mail.
const alertMailTimeout = 30 * time.Second

// alertMail is the threat intake's Raised hook: a finding raised at or above
// alert-severity is mailed to alert-email, in the background (the intake's
// worker does not wait for the mail server). The mail is best effort: the
// finding is stored, and its finding.raised webhook event was written with
// it, whatever happens to the mail. nil when no address is set.
func alertMail(cfg config.Config, sender mail.Sender, log *slog.Logger) func(context.Context, finding.Finding) {
	if cfg.AlertEmail == "" || sender == nil {
		return nil
	}
	return func(ctx context.Context, f finding.Finding) {
		if !f.Alerts(cfg.AlertSeverity) {
			return
		}
		msg := mail.Message{To: cfg.AlertEmail, Subject: fmt.Sprintf("[Bulwark] %s about %s (severity %d)", f.Type, f.Subject, f.Severity),
			Body: alertBody(f, cfg.PublicURL)}
		go func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), alertMailTimeout)
			defer cancel()
			if err := sender.Send(ctx, msg); err != nil {
				log.ErrorContext(ctx, "alert mail failed; the finding is stored", "finding", f.ID, "err", err)
			}
		}()
	}
}

// alertBody says what was seen, about whom, and where to look: the
// evidence is the detector's (counts, windows, rule ids), never a secret.
func alertBody(f finding.Finding, publicURL string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Threat detection raised a finding.\n\nFinding: %s\nType: %s\nSeverity: %d (%s)\nSubject: %s\nFirst seen: %s\n",
		f.ID, f.Type, f.Severity, finding.Level(f.Severity), f.Subject, f.FirstSeen.UTC().Format(time.RFC3339))
	keys := make([]string, 0, len(f.Evidence))
	for k := range f.Evidence {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > 0 {
		b.WriteString("\nEvidence:\n")
		for _, k := range keys {
			fmt.Fprintf(&b, "  %s: %s\n", k, f.Evidence[k])
		}
	}
	fmt.Fprintf(&b, "\nWhat was done about it (its response) and the rest: `bulwark findings show %s`, or GET %s/api/v1/admin/findings/%s\n",
		f.ID, strings.TrimRight(publicURL, "/"), f.ID)
	return b.String()
}
