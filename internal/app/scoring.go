package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/redis/go-redis/v9"

	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/edge"
	"github.com/bulwark-shop/bulwark/internal/scoring"
	"github.com/bulwark-shop/bulwark/internal/throttle"
)

// maxRulesFile bounds the fraud rules file (100 rules of 1,000 bytes fit).
const maxRulesFile = 256 << 10

// newScorer builds fraud scoring: the rules of cfg.FraudRules (the
// built-in ones when empty), velocity counted in Redis when the shop has it
// (every instance counting together) and in memory otherwise or while
// Redis is out. A rules file that cannot be read or does not compile
// refuses to start, naming the file and each bad rule.
// local is the in-memory store. It returns the scorer and the rules it
// starts with.
func newScorer(cfg config.Config, rc *redis.Client, local *throttle.Memory, h scoring.Histories) (*scoring.Scorer, scoring.RuleSet, error) {
	var counter scoring.Counter = local
	if rc != nil {
		counter = scoring.Fallback{Primary: throttle.NewRedis(rc, cfg.RedisKeyPrefix), Local: local}
	}
	rules := scoring.DefaultRules()
	if cfg.FraudRules != "" {
		rs, err := readRules(cfg.FraudRules)
		if err != nil {
			return nil, rules, err
		}
		rules = rs
	}
	proxies, err := edge.ParsePrefixes(cfg.TrustedProxies)
	if err != nil {
		return nil, rules, err
	}
	s, err := scoring.New(counter, h, &rules)
	if err != nil {
		return nil, rules, fmt.Errorf("fraud-rules %s: %w", cfg.FraudRules, err)
	}
	// The loopback and a trusted proxy are many clients' address, not one
	// client's: their velocity would be every customer's.
	s.Shared = exemptAddress(proxies)
	return s, rules, nil
}

// readRules reads a rules file: one JSON rule set, no unknown field.
func readRules(path string) (scoring.RuleSet, error) {
	var rs scoring.RuleSet
	b, err := os.ReadFile(path)
	if err != nil {
		return rs, fmt.Errorf("fraud-rules: %w", err)
	}
	if len(b) > maxRulesFile {
		return rs, fmt.Errorf("fraud-rules %s: %d bytes, at most %d", path, len(b), maxRulesFile)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rs); err != nil {
		return rs, fmt.Errorf("fraud-rules %s: not a rule set: %w", path, err)
	}
	if dec.More() {
		return rs, fmt.Errorf("fraud-rules %s: more than one JSON value", path)
	}
	return rs, nil
}
