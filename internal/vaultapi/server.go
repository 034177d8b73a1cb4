package vaultapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/dependency"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/vault"
)

// Cards is what the server serves: the vault itself.
type Cards interface {
	Tokenize(ctx context.Context, c vault.Card) (vault.Token, error)
	Detokenize(ctx context.Context, token, purpose string) (vault.Card, error)
	Delete(ctx context.Context, token string) error
}

var _ Cards = (*vault.Vault)(nil)

// NewHandler returns the internal API over cards. Each request is logged with
// its route, token (never a card number), the client certificate's subject and
// the outcome.
func NewHandler(cards Cards, log *slog.Logger) http.Handler {
	h := &handler{cards: cards, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathTokenize, h.tokenize)
	mux.HandleFunc("POST "+PathDetokenize, h.detokenize)
	mux.HandleFunc("POST "+PathDelete, h.delete)
	if p, ok := cards.(interface{ Ping(context.Context) error }); ok {
		mux.HandleFunc("GET "+PathHealth, func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), time.Second)
			defer cancel()
			if err := p.Ping(ctx); err != nil {
				// Logged on each probe: the shop probes every few seconds at most.
				h.log.Warn("vault health check failed", "client", peer(r), "err", err)
				writeJSON(w, http.StatusServiceUnavailable, Problem{Code: apperr.CodeUnavailable, Message: "the vault's database is unavailable"})
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
	}
	return mux // anything else: the mux's plain 404 or 405
}

type handler struct {
	cards Cards
	log   *slog.Logger
}

// clientKey carries the client certificate's subject to the vault's auditor.
type clientKey struct{}

// ClientSubject returns the subject of the client certificate of the request that ctx
// belongs to, or "" outside a request.
func ClientSubject(ctx context.Context) string {
	s, _ := ctx.Value(clientKey{}).(string)
	return s
}

func peer(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return ""
	}
	return r.TLS.PeerCertificates[0].Subject.String()
}

// decode reads the body strictly into v.
func (h *handler) decode(w http.ResponseWriter, r *http.Request, v any) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return apperr.New(apperr.CodeUnsupportedMediaType, "send the body as application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return apperr.New(apperr.CodePayloadTooLarge, "the body is larger than %d bytes", MaxRequestBytes)
	}
	if err != nil {
		return apperr.New(apperr.CodeInvalidJSON, "the body could not be read")
	}
	return Decode(body, v)
}

func (h *handler) tokenize(w http.ResponseWriter, r *http.Request) {
	var req TokenizeRequest
	if err := h.decode(w, r, &req); err != nil {
		h.fail(w, r, "", err)
		return
	}
	tok, err := h.cards.Tokenize(r.Context(), vault.Card{Number: req.Number, ExpMonth: req.ExpMonth, ExpYear: req.ExpYear, Holder: req.Holder})
	if err != nil {
		h.fail(w, r, "", err)
		return
	}
	h.ok(w, r, tok.ID, http.StatusCreated, TokenResponse{Token: tok.ID, Brand: string(tok.Brand), Last4: tok.Last4, ExpMonth: tok.ExpMonth, ExpYear: tok.ExpYear})
}

func (h *handler) detokenize(w http.ResponseWriter, r *http.Request) {
	var req DetokenizeRequest
	if err := h.decode(w, r, &req); err != nil {
		h.fail(w, r, "", err)
		return
	}
	var v apperr.Validator
	v.CheckText("purpose", req.Purpose, 1, MaxPurposeLen, false)
	if err := v.Err(); err != nil {
		h.fail(w, r, "", err)
		return
	}
	if !id.Valid(id.CardToken, req.Token) {
		h.fail(w, r, "", vault.ErrNotFound)
		return
	}
	ctx := context.WithValue(r.Context(), clientKey{}, peer(r))
	c, err := h.cards.Detokenize(ctx, req.Token, req.Purpose)
	if err != nil {
		h.fail(w, r, req.Token, err)
		return
	}
	h.ok(w, r, req.Token, http.StatusOK, CardResponse{Number: c.Number, ExpMonth: c.ExpMonth, ExpYear: c.ExpYear, Holder: c.Holder})
}

func (h *handler) delete(w http.ResponseWriter, r *http.Request) {
	var req DeleteRequest
	if err := h.decode(w, r, &req); err != nil {
		h.fail(w, r, "", err)
		return
	}
	if id.Valid(id.CardToken, req.Token) { // any other token is not in the vault: nothing to do
		if err := h.cards.Delete(r.Context(), req.Token); err != nil {
			h.fail(w, r, req.Token, err)
			return
		}
	}
	h.log.Info("vault request", "route", r.URL.Path, "token", req.Token, "client", peer(r), "status", http.StatusNoContent)
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) ok(w http.ResponseWriter, r *http.Request, token string, status int, v any) {
	h.log.Info("vault request", "route", r.URL.Path, "token", token, "client", peer(r), "status", status)
	writeJSON(w, status, v)
}

// statuses maps the codes the vault answers with; anything else is a 500.
var statuses = map[string]int{
	apperr.CodeInvalidJSON:          http.StatusBadRequest,
	apperr.CodeValidation:           http.StatusUnprocessableEntity,
	apperr.CodeNotFound:             http.StatusNotFound,
	apperr.CodePayloadTooLarge:      http.StatusRequestEntityTooLarge,
	apperr.CodeUnsupportedMediaType: http.StatusUnsupportedMediaType,
}

// fail answers with err's problem. Internal errors are logged (vault errors
// name tokens, never numbers) and answered without detail.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, token string, err error) {
	var e *apperr.Error
	status, known := 0, errors.As(err, &e)
	if known {
		status, known = statuses[e.Code]
	}
	if _, outage := dependency.Classify(err); outage && !known {
		// The vault's database or disk is out: the shop answers its client 503 too.
		h.log.Warn("vault request failed: dependency unavailable", "route", r.URL.Path, "token", token, "client", peer(r), "err", err)
		writeJSON(w, http.StatusServiceUnavailable, Problem{Code: apperr.CodeUnavailable, Message: "the vault cannot serve now"})
		return
	}
	if !known {
		h.log.Error("vault request failed", "route", r.URL.Path, "token", token, "client", peer(r), "err", err)
		writeJSON(w, http.StatusInternalServerError, Problem{Code: apperr.CodeInternal, Message: "the vault could not answer"})
		return
	}
	h.log.Info("vault request", "route", r.URL.Path, "token", token, "client", peer(r), "status", status, "code", e.Code)
	writeJSON(w, status, Problem{Code: e.Code, Message: e.Message, Fields: e.Fields})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = jsonEncode(w, v)
}

// LogAuditor records every read of a card in the vault process's own log, with
// the client certificate that asked for it: the vault process has no access to
// the shop's audit trail (the shop records the same read there before asking).
type LogAuditor struct{ Log *slog.Logger }

var _ vault.Auditor = LogAuditor{}

// Record logs the event; it never fails.
func (a LogAuditor) Record(ctx context.Context, action, target, outcome, detail string) error {
	a.Log.Info("audit", "action", action, "target", target, "outcome", outcome, "detail", detail, "client", ClientSubject(ctx))
	return nil
}

// TLSConfig is the server side of the vault's mutual TLS: TLS 1.3 only, the
// server certificate from certFile and keyFile, and a client certificate
// required and verified against clientCAFile (and only it).
func TLSConfig(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("vault server certificate: %w", err)
	}
	pool, err := loadPool(clientCAFile)
	if err != nil {
		return nil, fmt.Errorf("vault client CA: %w", err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}, nil
}

// ClientTLSConfig is the shop's side: TLS 1.3 only, the client certificate
// from certFile and keyFile, and the vault's certificate verified against
// caFile only (not the system's roots).
func ClientTLSConfig(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("vault client certificate: %w", err)
	}
	pool, err := loadPool(caFile)
	if err != nil {
		return nil, fmt.Errorf("vault CA: %w", err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, RootCAs: pool}, nil
}

func loadPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}
