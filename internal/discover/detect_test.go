package discover_test

import (
	"strings"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/discover"
	"github.com/bulwark-shop/bulwark/internal/guest"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/identity"
	"github.com/bulwark-shop/bulwark/internal/webhook"
)

func TestOtherKinds(t *testing.T) {
	const (
		stripeBody = "51HqLyjWDarjtT1zdp7dcXYZabcd"
		jwt        = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
	)
	for _, c := range []struct {
		name, text string
		kind       discover.Kind
		want       string // the masked sample, "" for none
		at         string // where it starts, "" for the start of text
		test       bool
	}{
		{"iban", "pay to DE89370400440532013000 please", discover.IBAN, "DE89**************3000", "DE89", false},
		{"iban printed in fours", "GB82 WEST 1234 5698 7654 32", discover.IBAN, "GB82**************5432", "", false},
		{"iban in fours, a word after", "NO93 8601 1117 947 NOK", discover.IBAN, "NO93*******7947", "", false},
		{"iban in JSON after an escape", `"\nFR1420041010050500013M02606"`, discover.IBAN, "FR14*******************2606", "FR14", false},
		{"iban, bad check digits", "DE89370400440532013001", discover.IBAN, "", "", false},
		{"iban, one short", "DE8937040044053201300", discover.IBAN, "", "", false},
		{"iban, one long", "DE893704004405320130001", discover.IBAN, "", "", false},
		{"iban, unknown country", "XX89370400440532013000", discover.IBAN, "", "", false},
		{"iban after a letter", "xDE89370400440532013000", discover.IBAN, "", "", false},
		{"iban, lower case", "de89370400440532013000", discover.IBAN, "", "", false},

		{"email", "write to ada.lovelace@example.com.", discover.Email, "a***@example.com", "ada", false},
		{"email with a tag", "<grace+shop@mail.example.co.uk>", discover.Email, "g***@mail.example.co.uk", "grace", false},
		{"email after a JSON escape", `"\nada@example.com"`, discover.Email, "a***@example.com", "ada", false},
		{"email after a JSON \\u escape", `"\u003cada@example.com\u003e"`, discover.Email, "a***@example.com", "ada", false},
		{"no dot in the domain", "user@localhost", discover.Email, "", "", false},
		{"a retina image", "logo@2x.png", discover.Email, "", "", false},
		{"a version", "left-pad@1.3.0", discover.Email, "", "", false},
		{"a local part over 64", strings.Repeat("a", 65) + "@example.com", discover.Email, "", "", false},
		{"a dot before the @", "ada.@example.com", discover.Email, "", "", false},
		{"a one-letter TLD", "ada@example.c", discover.Email, "", "", false},

		{"phone in groups", "call +44 20 7946 0958 now", discover.Phone, "+**********58", "+", false},
		{"phone with an area code", "+1 (415) 555-2671", discover.Phone, "+*********71", "", false},
		{"phone compact", "tel:+4915123456789", discover.Phone, "+***********89", "+", false},
		{"phone with dots", "+33.1.23.45.67.89", discover.Phone, "+*********89", "", false},
		{"too few digits", "+12 345 67", discover.Phone, "", "", false},
		{"too many digits", "+4915123456789012", discover.Phone, "", "", false},
		{"a time zone", "2026-01-01T10:00:00+01:00", discover.Phone, "", "", false},
		{"a sum", "a+4915123456789", discover.Phone, "", "", false},
		{"a leading zero", "+0049151234567", discover.Phone, "", "", false},
		{"letters after", "+4915123456789abc", discover.Phone, "", "", false},

		{"RSA key", "k: -----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n", discover.PrivateKey, "-----BEGIN RSA PRIVATE KEY-----", "-----", false},
		{"PKCS #8 key in JSON", `{"key":"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg"}`, discover.PrivateKey, "-----BEGIN PRIVATE KEY-----", "-----", false},
		{"OpenSSH key", "-----BEGIN OPENSSH PRIVATE KEY-----\r\nb3BlbnNzaC1rZXk", discover.PrivateKey, "-----BEGIN OPENSSH PRIVATE KEY-----", "", false},
		{"encrypted PEM", "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED", discover.PrivateKey, "-----BEGIN EC PRIVATE KEY-----", "", false},
		{"PGP key", "-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: GnuPG v2\n\nlQOYBF0abc", discover.PrivateKey, "-----BEGIN PGP PRIVATE KEY BLOCK-----", "", false},
		{"armour alone", "look for -----BEGIN PRIVATE KEY----- lines", discover.PrivateKey, "", "", false},
		{"armour, then prose", "-----BEGIN PRIVATE KEY----- Note that", discover.PrivateKey, "", "", false},
		{"armour then its end", "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----", discover.PrivateKey, "", "", false},
		{"a public key", "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0B", discover.PrivateKey, "", "", false},

		{"stripe live key", "key=sk_live_" + stripeBody, discover.Secret, "sk_live_****", "sk_", false},
		{"stripe restricted key", "rk_live_" + stripeBody, discover.Secret, "rk_live_****", "", false},
		{"stripe test key", `"sk_test_` + stripeBody + `"`, discover.Secret, "sk_test_****", "sk_", true},
		{"a prefix alone", "set sk_live_ here", discover.Secret, "", "", false},
		{"a short body", "sk_live_abc", discover.Secret, "", "", false},
		{"inside a word", "mysk_live_" + stripeBody, discover.Secret, "", "", false},
		{"aws key id", "aws=AKIAIOSFODNN7EXAMPLE", discover.Secret, "AKIA****", "AKIA", false},
		{"aws temporary key id", "ASIAIOSFODNN7EXAMPLE", discover.Secret, "ASIA****", "", false},
		{"aws, one short", "AKIAIOSFODNN7EXAMPL", discover.Secret, "", "", false},
		{"aws, one long", "AKIAIOSFODNN7EXAMPLEX", discover.Secret, "", "", false},
		{"github token", "ghp_" + strings.Repeat("aB3", 12), discover.Secret, "ghp_****", "", false},
		{"github fine-grained token", "github_pat_11ABCDEFG0123456789_abcdefghijklmnop", discover.Secret, "github_pat_****", "", false},
		{"github, short", "ghp_abc", discover.Secret, "", "", false},
		{"slack bot token", "xoxb-1234567890-abcdefghij", discover.Secret, "xoxb-****", "", false},
		{"JWT", "Authorization: Bearer " + jwt, discover.Secret, "eyJ****", "eyJ", false},
		{"JWT in JSON after an escape", `"\n` + jwt + `"`, discover.Secret, "eyJ****", "eyJ", false},
		{"unsigned JWT", "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxMjM0NTY3ODkwIn0.", discover.Secret, "", "", false},
		{"two parts only", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0", discover.Secret, "", "", false},
		{"webhook signing secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", discover.Secret, "whsec_****", "", false},
		{"a bulwark key too short", "bwk_abcdefghijklmnopqrstuvwxyz234567", discover.Secret, "", "", false},
		{"a bulwark key of the wrong alphabet", "bwk_" + strings.Repeat("A", 52), discover.Secret, "", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := ofKind(discover.Find([]byte(c.text)), c.kind)
			if c.want == "" {
				if len(got) != 0 {
					t.Fatalf("found %+v", got)
				}
				return
			}
			if len(got) != 1 || got[0].Sample != c.want || got[0].Test != c.test {
				t.Fatalf("found %+v, want %s (test %t)", got, c.want, c.test)
			}
			at := 0
			if c.at != "" {
				at = strings.Index(c.text, c.at)
			}
			if got[0].Offset != int64(at) {
				t.Fatalf("offset %d, want %d", got[0].Offset, at)
			}
		})
	}
}

// Bulwark's own secrets are found as their owners make them, so a
// prefix that changes there fails here.
func TestBulwarkSecrets(t *testing.T) {
	secrets := map[string]string{"webhook signing secret": webhook.NewSecret()}
	for name, prefix := range map[string]string{
		"API key": identity.KeyPrefix, "session token": identity.TokenPrefix, "MFA ticket": identity.MFATicketPrefix,
		"enrolment ticket": identity.EnrollmentPrefix, "verification token": identity.VerifyPrefix,
		"reset token": identity.ResetPrefix, "guest cart token": guest.TokenPrefix,
	} {
		secrets[name] = id.Token(prefix)
	}
	for name, s := range secrets {
		for _, text := range []string{s, "Authorization: Bearer " + s, `{"token":"` + s + `"}`, "token=" + s + "&x=1"} {
			got := ofKind(discover.Find([]byte(text)), discover.Secret)
			prefix := s[:strings.IndexByte(s, '_')+1]
			if len(got) != 1 || got[0].Sample != prefix+"****" || got[0].Len != len(s) {
				t.Errorf("%s in %q: %+v", name, strings.ReplaceAll(text, s, prefix+"…"), got)
			}
		}
	}
}

// No sample holds the value it stands for, nor a long part of it.
func TestSamplesNeverHoldTheValue(t *testing.T) {
	c := discover.GenerateCorpus(11, 2000, 2000)
	for _, d := range c.Docs {
		for _, m := range discover.Find(d.Data) {
			value := string(d.Data[m.Offset : m.Offset+int64(m.Len)])
			if m.Kind == discover.PrivateKey || m.Kind == discover.Email {
				continue // the armour and a domain are not secret; the key's body and the local part are not shown
			}
			if strings.Contains(m.Sample, value) || (len(value) >= 12 && strings.Contains(m.Sample, value[:len(value)-2])) {
				t.Fatalf("%s sample %q holds its value", m.Kind, m.Sample)
			}
		}
	}
}
