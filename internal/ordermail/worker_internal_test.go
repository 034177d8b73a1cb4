package ordermail

import (
	"errors"
	"strings"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/order"
)

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

// TestGuestOrdersGetTheirSignedLink: a guest's mail ends with the signed
// link to the order (a guest has no account to see it in), signed at each
// send, in a block the shop's template neither drops nor carries elsewhere;
// an account's mail keeps the account link; a link that cannot be signed
// fails the send (to be retried), never goes out without it.
func TestGuestOrdersGetTheirSignedLink(t *testing.T) {
	signed := 0
	const link = "https://shop.example/guest-order#order=ord_guest&token=v1.1.x"
	w := NewWorker(WorkerConfig{PublicURL: "https://shop.example", GuestLink: func(orderID string) (string, error) {
		signed++
		if orderID == "ord_broken" {
			return "", errors.New("keyset unreadable")
		}
		return "https://shop.example/guest-order#order=" + orderID + "&token=v1.1.x", nil
	}})
	guest := Content{Order: order.Order{ID: "ord_guest", CustomerEmail: "g@example.com", CustomerGuest: true, Total: money.Money{Currency: "EUR"}}}
	msg, err := w.message(Job{Kind: Confirmation}, guest, nil)
	if err != nil || !strings.HasSuffix(msg.Body, GuestLinkBlock+link+"\n") || strings.Count(msg.Body, "token=") != 1 || signed != 1 {
		t.Fatalf("guest mail (%d signed, %v):\n%s", signed, err, msg.Body)
	}
	// The shop's template has the page without the token, whatever it does with it.
	custom, err := Parse(Confirmation, "Order {{.OrderNumber}}", "Track it at https://tracker.example/?u={{.OrderURL}}")
	if err != nil {
		t.Fatal(err)
	}
	custom.Custom = true
	msg, err = w.message(Job{Kind: Confirmation}, guest, []Template{custom})
	if err != nil || !strings.Contains(msg.Body, "https://tracker.example/?u=https://shop.example/guest-order\n") ||
		strings.Count(msg.Body, "token=") != 1 || !strings.HasSuffix(msg.Body, link+"\n") {
		t.Fatalf("guest mail with the shop's template (%v):\n%s", err, msg.Body)
	}
	account := Content{Order: order.Order{ID: "ord_acct", CustomerEmail: "a@example.com", Total: money.Money{Currency: "EUR"}}}
	msg, err = w.message(Job{Kind: Confirmation}, account, nil)
	if err != nil || !strings.Contains(msg.Body, "https://shop.example/orders/ord_acct") || strings.Contains(msg.Body, "guest-order") || signed != 2 {
		t.Fatalf("account mail (%d signed, %v):\n%s", signed, err, msg.Body)
	}
	guest.Order.ID = "ord_broken"
	if _, err := w.message(Job{Kind: Confirmation}, guest, nil); err == nil {
		t.Fatal("a guest mail went out without its link")
	}
}
