package config_test

import (
	"strings"
	"testing"
)

// TestPaymentSettings: the simulator by default; stripe only with a secret
// key, which is taken from the environment or a file and never from a flag;
// the key is sent only over https (or to stripe-mock on loopback).
func TestPaymentSettings(t *testing.T) {
	c, err := load(t, nil, nil)
	if err != nil || c.PaymentGateway != "simulator" || c.StripeAPIBase != "https://api.stripe.com" {
		t.Fatalf("defaults: %q %q %v", c.PaymentGateway, c.StripeAPIBase, err)
	}
	keyFile := writeFile(t, "stripe-key", "sk_test_fromfile\n")
	c, err = load(t, nil, map[string]string{"BULWARK_PAYMENT_GATEWAY": "stripe", "BULWARK_STRIPE_SECRET_KEY_FILE": keyFile})
	if err != nil || c.PaymentGateway != "stripe" || c.StripeSecretKey != "sk_test_fromfile" {
		t.Fatalf("key from file: %q %v", c.StripeSecretKey, err)
	}
	c, err = load(t, []string{"--stripe-api-base", "http://127.0.0.1:12111"},
		map[string]string{"BULWARK_PAYMENT_GATEWAY": "stripe", "BULWARK_STRIPE_SECRET_KEY": "sk_test_fromenv"})
	if err != nil || c.StripeSecretKey != "sk_test_fromenv" || c.StripeAPIBase != "http://127.0.0.1:12111" {
		t.Fatalf("key from environment, stripe-mock on loopback: %+v %v", c.StripeSecretKey, err)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"stripe without a key", nil, map[string]string{"BULWARK_PAYMENT_GATEWAY": "stripe"}, "stripe-secret-key: needed"},
		{"an unknown gateway", []string{"--payment-gateway", "paypal"}, nil, "payment-gateway: want simulator or stripe"},
		{"the key as a flag", []string{"--stripe-secret-key", "sk_test_visible"}, nil, "secret"},
		{"plain http to another host", []string{"--stripe-api-base", "http://api.stripe.com"}, nil, "stripe-api-base"},
		{"a path", []string{"--stripe-api-base", "https://api.stripe.com/v1"}, nil, "stripe-api-base"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.args, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "sk_test_visible") {
				t.Errorf("the key is in the error: %v", err)
			}
		})
	}
}
