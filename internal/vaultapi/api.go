// Package vaultapi is the card vault's internal API, for a vault that runs as a
// process of its own (`bulwark vault serve`): an HTTP handler over a
// *vault.Vault, and a Client that the shop uses in its place. The API is
// narrow on purpose: tokenize, detokenize (with a purpose) and delete, all POST
// with small, strictly decoded JSON bodies; there is no listing, no search and
// no health route. It is served only over mutual TLS 1.3 (TLSConfig): a client
// without a certificate from the configured client CA never reaches a handler.
// No card number is ever logged, and no error message repeats one.
package vaultapi

import "github.com/bulwark-shop/bulwark/internal/apperr"

// The routes, all POST but the health check.
const (
	PathTokenize   = "/v1/tokenize"
	PathDetokenize = "/v1/detokenize"
	PathDelete     = "/v1/delete"
	// PathHealth (GET) answers 204 while the vault and its database serve,
	// 503 otherwise: the shop's /readyz asks it over the same mutual TLS.
	PathHealth = "/v1/health"
)

// Limits of the bodies, well above the largest valid one.
const (
	MaxRequestBytes  = 4 << 10
	MaxResponseBytes = 16 << 10
	// MaxPurposeLen bounds a detokenize purpose ("authorize ord_...").
	MaxPurposeLen = 200
)

// TokenizeRequest carries a card to store.
type TokenizeRequest struct {
	Number   string `json:"number"`
	ExpMonth int    `json:"exp_month"`
	ExpYear  int    `json:"exp_year"`
	Holder   string `json:"holder"`
}

// TokenResponse is what the shop keeps of a stored card.
type TokenResponse struct {
	Token    string `json:"token"`
	Brand    string `json:"brand"`
	Last4    string `json:"last4"`
	ExpMonth int    `json:"exp_month"`
	ExpYear  int    `json:"exp_year"`
}

// DetokenizeRequest asks for the card behind Token, for Purpose.
type DetokenizeRequest struct {
	Token   string `json:"token"`
	Purpose string `json:"purpose"`
}

// CardResponse is a card read back.
type CardResponse struct {
	Number   string `json:"number"`
	ExpMonth int    `json:"exp_month"`
	ExpYear  int    `json:"exp_year"`
	Holder   string `json:"holder"`
}

// DeleteRequest asks to destroy the card behind Token.
type DeleteRequest struct {
	Token string `json:"token"`
}

// Problem is every error answer: a stable code, a safe message and, for
// validation_failed, the fields.
type Problem struct {
	Code    string              `json:"code"`
	Message string              `json:"message"`
	Fields  []apperr.FieldError `json:"fields,omitempty"`
}
