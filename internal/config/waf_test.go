package config_test

import (
	"testing"

	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/waf"
)

func TestWAFSettings(t *testing.T) {
	t.Run("the firewall blocks by default at paranoia 1, with the catalog exclusion", func(t *testing.T) {
		c, err := load(t, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		wc, err := c.WAFConfig()
		if err != nil {
			t.Fatal(err)
		}
		if wc.Mode != waf.Block || wc.Paranoia != 1 || wc.InboundThreshold != 5 || wc.OutboundThreshold != 4 ||
			wc.ResponseInspection || wc.BodyLimit != c.MaxBodyBytes || c.WAFExclusions != config.DefaultWAFExclusions || len(wc.Exclusions) != 4 {
			t.Fatalf("defaults %+v", wc)
		}
	})
	t.Run("flags and environment set them", func(t *testing.T) {
		c, err := load(t, []string{"--waf", "detect", "--waf-paranoia", "3", "--waf-exclusions", "GET /api/v1/products=942100"},
			map[string]string{"BULWARK_WAF_INBOUND_THRESHOLD": "10", "BULWARK_WAF_RESPONSE_INSPECTION": "on"})
		if err != nil {
			t.Fatal(err)
		}
		if c.WAF != waf.Detect || c.WAFParanoia != 3 || c.WAFInboundThreshold != 10 || !c.WAFResponseInspection || c.WAFExclusions != "GET /api/v1/products=942100" {
			t.Fatalf("got %+v", c)
		}
	})
	for name, args := range map[string][]string{
		"an unknown mode":                 {"--waf", "loud"},
		"paranoia 5":                      {"--waf-paranoia", "5"},
		"a zero threshold":                {"--waf-inbound-threshold", "0"},
		"response inspection maybe":       {"--waf-response-inspection", "maybe"},
		"an exclusion of Bulwark's rules": {"--waf-exclusions", "POST /api/v1/carts=200002"},
		"a malformed exclusion":           {"--waf-exclusions", "POST /api/v1/carts"},
	} {
		t.Run(name+" is refused", func(t *testing.T) {
			if _, err := load(t, args, nil); err == nil {
				t.Fatalf("%v accepted", args)
			}
		})
	}
}
