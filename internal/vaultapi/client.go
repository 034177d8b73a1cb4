package vaultapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/checkout"
	"github.com/bulwark-shop/bulwark/internal/dependency"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/payment"
	"github.com/bulwark-shop/bulwark/internal/vault"
)

// Client is the shop's side of a vault in a process of its own. It stands in
// for the embedded *vault.Vault, and audits like it: every Detokenize is
// recorded in the shop's audit trail with its true outcome (a card whose
// read cannot be recorded is not used); the vault process logs it again.
type Client struct {
	base  string
	http  *http.Client
	trail vault.Auditor
}

var (
	_ payment.Vault  = (*Client)(nil)
	_ checkout.Cards = (*Client)(nil)
)

// NewClient returns a client of the vault at rawURL, auditing reads to trail:
// https://host:port over tlsConfig (see ClientTLSConfig), or unix:///path of
// a vault socket (see ListenUnix; tlsConfig unused). Each request, connection
// included, is bounded by timeout.
func NewClient(rawURL string, tlsConfig *tls.Config, trail vault.Auditor, timeout time.Duration) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("vault-url: want https://host:port or unix:///path")
	}
	dialer := &net.Dialer{Timeout: timeout}
	transport := &http.Transport{
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
	}
	base := strings.TrimRight(u.String(), "/")
	switch {
	case u.Scheme == "https" && u.Host != "":
		transport.TLSClientConfig = tlsConfig
		transport.ForceAttemptHTTP2 = true
	case u.Scheme == "unix" && u.Host == "" && u.Path != "":
		path := u.Path
		transport.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "unix", path)
		}
		base = "http://vault" // the host is never dialled: every connection is the socket
	default:
		return nil, errors.New("vault-url: want https://host:port or unix:///path")
	}
	return &Client{base: base, http: &http.Client{Transport: transport, Timeout: timeout}, trail: trail}, nil
}

// Close drops the idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Tokenize sends c to the vault and returns its token. A card the vault
// refuses is the vault's validation_failed *apperr.Error.
func (c *Client) Tokenize(ctx context.Context, card vault.Card) (vault.Token, error) {
	var out TokenResponse
	err := c.call(ctx, PathTokenize, TokenizeRequest{Number: card.Number, ExpMonth: card.ExpMonth, ExpYear: card.ExpYear, Holder: card.Holder}, &out)
	if err != nil {
		return vault.Token{}, fmt.Errorf("tokenize: %w", err)
	}
	if !id.Valid(id.CardToken, out.Token) || len(out.Last4) != 4 || out.Brand == "" {
		return vault.Token{}, errors.New("tokenize: the vault answered an invalid token")
	}
	return vault.Token{ID: out.Token, Brand: vault.Brand(out.Brand), Last4: out.Last4, ExpMonth: out.ExpMonth, ExpYear: out.ExpYear}, nil
}

// Detokenize returns the card behind token from the vault, and records the
// read in the shop's audit trail with its true outcome: success once the
// vault answered with the card, failure (vault down, unknown token) otherwise.
// A card whose read cannot be recorded is not handed out. vault.ErrNotFound
// for a token the vault does not hold.
func (c *Client) Detokenize(ctx context.Context, token, purpose string) (vault.Card, error) {
	if !id.Valid(id.CardToken, token) {
		return vault.Card{}, vault.ErrNotFound
	}
	var out CardResponse
	if err := c.call(ctx, PathDetokenize, DetokenizeRequest{Token: token, Purpose: purpose}, &out); err != nil {
		err = fmt.Errorf("detokenize %s: %w", token, err)
		return vault.Card{}, errors.Join(err, c.trail.Record(ctx, vault.ActionDetokenize, token, audit.Failure, vault.FailedRead(purpose, err)))
	}
	if err := c.trail.Record(ctx, vault.ActionDetokenize, token, audit.Success, purpose); err != nil {
		return vault.Card{}, fmt.Errorf("card %s read but not audited, so not used: %w", token, err)
	}
	return vault.Card{Number: out.Number, ExpMonth: out.ExpMonth, ExpYear: out.ExpYear, Holder: out.Holder}, nil
}

// Delete destroys the card behind token; an unknown token is not an error.
func (c *Client) Delete(ctx context.Context, token string) error {
	if err := c.call(ctx, PathDelete, DeleteRequest{Token: token}, nil); err != nil {
		return fmt.Errorf("delete card %s: %w", token, err)
	}
	return nil
}

// Ping asks the vault whether it serves (PathHealth), over the same
// connection and mutual TLS as every call; an outage is a dependency.Error.
func (c *Client) Ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+PathHealth, nil)
	if err != nil {
		return fmt.Errorf("new request: %w", err)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return dependency.Wrap(dependency.Vault, fmt.Errorf("card vault unreachable: %w", err))
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, MaxResponseBytes))
	if res.StatusCode != http.StatusNoContent {
		return dependency.Wrap(dependency.Vault, fmt.Errorf("the vault's health check answered %d", res.StatusCode))
	}
	return nil
}

// call posts in and decodes the answer into out (nil for 204). The vault's
// not_found becomes vault.ErrNotFound and its validation_failed an
// *apperr.Error with its fields; any other failure is an internal error.
func (c *Client) call(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("new request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		// Whatever the transport says (refused, reset, timed out, handshake
		// failed), the vault cannot serve this request: an outage, 503.
		return dependency.Wrap(dependency.Vault, fmt.Errorf("card vault unreachable: %w", err))
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, MaxResponseBytes+1))
	if err != nil {
		return dependency.Wrap(dependency.Vault, fmt.Errorf("read the vault's answer: %w", err))
	}
	if len(b) > MaxResponseBytes {
		return errors.New("the vault's answer is too large")
	}
	switch {
	case res.StatusCode == http.StatusNoContent && out == nil:
		return nil
	case res.StatusCode == http.StatusOK || res.StatusCode == http.StatusCreated:
		if out == nil {
			return fmt.Errorf("the vault answered %d", res.StatusCode)
		}
		if err := Decode(b, out); err != nil {
			return errors.New("the vault's answer is not the expected JSON")
		}
		return nil
	}
	var p Problem
	if Decode(b, &p) != nil {
		return fmt.Errorf("the vault answered %d", res.StatusCode)
	}
	switch {
	case res.StatusCode == http.StatusNotFound && p.Code == apperr.CodeNotFound:
		return vault.ErrNotFound
	case res.StatusCode == http.StatusUnprocessableEntity && p.Code == apperr.CodeValidation:
		return &apperr.Error{Code: apperr.CodeValidation, Message: "the request has invalid fields", Fields: p.Fields}
	case res.StatusCode == http.StatusServiceUnavailable:
		// The vault process is up but its own database or disk is not.
		return dependency.Wrap(dependency.Vault, fmt.Errorf("the vault answered %d %s", res.StatusCode, p.Code))
	}
	return fmt.Errorf("the vault answered %d %s", res.StatusCode, p.Code)
}
