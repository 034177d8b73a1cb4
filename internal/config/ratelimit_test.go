package config_test

import (
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/edge"
)

func TestRateLimitSettings(t *testing.T) {
	t.Run("limits are on by default, with no trusted proxy", func(t *testing.T) {
		c, err := load(t, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !c.RateLimits || c.TrustedProxies != "" || c.RateLimit.Auth != (edge.Limit{Count: 20, Period: time.Minute, Burst: 10}) {
			t.Fatalf("rate limits %v %+v, trusted %q", c.RateLimits, c.RateLimit, c.TrustedProxies)
		}
	})
	t.Run("flags and environment set them", func(t *testing.T) {
		c, err := load(t, []string{"--rate-limit-checkout", "5/1m:2", "--trusted-proxies", "10.0.0.0/8,192.168.0.1"},
			map[string]string{"BULWARK_RATE_LIMITS": "off", "BULWARK_RATE_LIMIT_READS": "100/10s:20"})
		if err != nil {
			t.Fatal(err)
		}
		if c.RateLimits || c.RateLimit.Checkout != (edge.Limit{Count: 5, Period: time.Minute, Burst: 2}) ||
			c.RateLimit.Reads != (edge.Limit{Count: 100, Period: 10 * time.Second, Burst: 20}) || c.TrustedProxies != "10.0.0.0/8,192.168.0.1" {
			t.Fatalf("got %v %+v %q", c.RateLimits, c.RateLimit, c.TrustedProxies)
		}
	})
	for name, args := range map[string][]string{
		"rate-limits neither on nor off":  {"--rate-limits", "maybe"},
		"a limit without a burst":         {"--rate-limit-auth", "20/1m"},
		"a zero count":                    {"--rate-limit-admin", "0/1m:1"},
		"a trusted proxy that is no CIDR": {"--trusted-proxies", "10.0.0.0/8,proxy.example"},
	} {
		t.Run(name+" is refused", func(t *testing.T) {
			if _, err := load(t, args, nil); err == nil {
				t.Fatalf("%v accepted", args)
			}
		})
	}
}
