package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/webhook"
)

// verify is a receiver's check written from the Standard Webhooks text alone:
// the signed content is id.timestamp.body; the key is the base64 after
// whsec_; the header holds space-separated "v1,<base64>" signatures, any one
// of which may match; the timestamp must be within tolerance of now.
func verify(secret string, header map[string]string, body []byte, now time.Time, tolerance time.Duration) error {
	id, ts, sigs := header["webhook-id"], header["webhook-timestamp"], header["webhook-signature"]
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("missing header")
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("bad timestamp")
	}
	if math.Abs(float64(now.Unix()-secs)) > tolerance.Seconds() {
		return fmt.Errorf("timestamp outside tolerance")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "." + string(body)))
	want := m.Sum(nil)
	for _, s := range strings.Split(sigs, " ") {
		version, sig, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("no matching signature")
}

func TestSignMatchesStandardWebhooksVector(t *testing.T) {
	// The test vector of the Standard Webhooks reference libraries.
	got, err := webhook.Sign([]string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "msg_p5jXN8AQM9LWM0D4loKWxJek",
		time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestSignVerifiesIndependently(t *testing.T) {
	old, current := webhook.NewSecret(), webhook.NewSecret()
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"type":"order.paid","timestamp":"2027-01-15T08:00:00Z","data":{"id":"ord_x"}}`)
	sig, err := webhook.Sign([]string{current, old}, "msg_abc", now, body)
	if err != nil {
		t.Fatal(err)
	}
	header := map[string]string{"webhook-id": "msg_abc", "webhook-timestamp": strconv.FormatInt(now.Unix(), 10), "webhook-signature": sig}
	t.Run("both secrets verify during a rotation", func(t *testing.T) {
		for _, s := range []string{current, old} {
			if err := verify(s, header, body, now, 5*time.Minute); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("another secret does not", func(t *testing.T) {
		if err := verify(webhook.NewSecret(), header, body, now, 5*time.Minute); err == nil {
			t.Fatal("verified with an unrelated secret")
		}
	})
	t.Run("a changed body does not", func(t *testing.T) {
		if err := verify(current, header, append(body, ' '), now, 5*time.Minute); err == nil {
			t.Fatal("verified a changed body")
		}
	})
	t.Run("a changed id does not", func(t *testing.T) {
		h := map[string]string{"webhook-id": "msg_abd", "webhook-timestamp": header["webhook-timestamp"], "webhook-signature": sig}
		if err := verify(current, h, body, now, 5*time.Minute); err == nil {
			t.Fatal("verified another id")
		}
	})
	t.Run("a replay past the receiver's tolerance does not", func(t *testing.T) {
		if err := verify(current, header, body, now.Add(6*time.Minute), 5*time.Minute); err == nil {
			t.Fatal("verified an old timestamp")
		}
	})
}

func TestNewSecretShape(t *testing.T) {
	s := webhook.NewSecret()
	key, err := webhook.SecretKey(s)
	if !strings.HasPrefix(s, "whsec_") || err != nil || len(key) < 24 || len(key) > 64 {
		t.Fatalf("secret %q: key of %d bytes, %v", s, len(key), err)
	}
	if webhook.NewSecret() == s {
		t.Fatal("two secrets alike")
	}
}

func TestBackoff(t *testing.T) {
	s := webhook.DefaultSchedule
	for _, tc := range []struct {
		attempts int
		jitter   float64
		want     time.Duration
		ok       bool
	}{
		{1, 0.5, 5 * time.Second, true},
		{2, 0.5, 5 * time.Minute, true},
		{3, 0.5, 30 * time.Minute, true},
		{4, 0.5, 2 * time.Hour, true},
		{7, 0.5, 10 * time.Hour, true},
		{1, 0, 4 * time.Second, true}, // a fifth earlier at most
		{1, 1, 6 * time.Second, true}, // a fifth later at most
		{8, 0.5, 0, false},            // eight attempts: dead
		{0, 0.5, 0, false},
	} {
		t.Run(fmt.Sprintf("after %d jitter %v", tc.attempts, tc.jitter), func(t *testing.T) {
			got, ok := webhook.Backoff(s, tc.attempts, tc.jitter)
			if ok != tc.ok || got != tc.want {
				t.Fatalf("Backoff = %v %v, want %v %v", got, ok, tc.want, tc.ok)
			}
		})
	}
	if _, err := webhook.ParseSchedule(webhook.DefaultScheduleText); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "5s,,1m", "-1s", "soon"} {
		if _, err := webhook.ParseSchedule(bad); err == nil {
			t.Errorf("ParseSchedule(%q) accepted", bad)
		}
	}
}
