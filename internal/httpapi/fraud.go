package httpapi

import (
	"net/http"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/scoring"
)

// Fraud scoring's rules (issue 14): admins read the rule sets running,
// replace them (enforced, or in shadow beside the enforced set) and
// backtest a set against the scored orders of the last 90 days.

// bodyLimitRules bounds a rule set: 100 rules of 1,000-byte expressions
// with their names fit.
const bodyLimitRules = 256 << 10

func (a *API) fraudAdmin() (*scoring.Admin, error) {
	if a.Fraud == nil {
		return nil, apperr.NotFound("fraud rules")
	}
	return a.Fraud, nil
}

func (a *API) fraudRules(w http.ResponseWriter, r *http.Request) error {
	f, err := a.fraudAdmin()
	if err != nil {
		return err
	}
	rules, err := f.Rules(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rules)
	return nil
}

func (a *API) putFraudRules(w http.ResponseWriter, r *http.Request) error {
	f, err := a.fraudAdmin()
	if err != nil {
		return err
	}
	var rs scoring.RuleSet
	if err := decodeBody(r, bodyLimitRules, &rs); err != nil {
		return err
	}
	rules, err := f.PutRules(r.Context(), rs)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rules)
	return nil
}

func (a *API) fraudBacktest(w http.ResponseWriter, r *http.Request) error {
	f, err := a.fraudAdmin()
	if err != nil {
		return err
	}
	var rs scoring.RuleSet
	if err := decodeBody(r, bodyLimitRules, &rs); err != nil {
		return err
	}
	bt, err := f.Backtest(r.Context(), rs)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, bt)
	return nil
}
