package ordermail

import "testing"

// TestErrorsKeepNoRecipient: an SMTP refusal quoting the address (in any
// case) is kept without it.
func TestErrorsKeepNoRecipient(t *testing.T) {
	got := withoutRecipient("SMTP RCPT: 550 5.1.1 <Pat.Payer@Example.com>: user unknown (pat.payer@example.com)", "pat.payer@example.com")
	if got != "SMTP RCPT: 550 5.1.1 <<recipient>>: user unknown (<recipient>)" {
		t.Fatalf("got %q", got)
	}
	if got := withoutRecipient("connection refused", ""); got != "connection refused" {
		t.Fatalf("got %q", got)
	}
}
