package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/identity"
)

type enrollmentJSON struct {
	Secret     string `json:"secret"`
	OTPAuthURL string `json:"otpauth_url"`
}

// enrollmentRequest is the optional body of a start of enrolment: a staff
// account's first second factor needs its one-time enrolment code.
type enrollmentRequest struct {
	EnrollmentCode string `json:"enrollment_code"`
}

func (a *API) enrollTOTP(w http.ResponseWriter, r *http.Request) error {
	var req enrollmentRequest
	if err := decodeOptionalBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	e, err := a.MFA.Enroll(r.Context(), req.EnrollmentCode)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, enrollmentJSON{Secret: e.Secret, OTPAuthURL: e.OTPAuthURL})
	return nil
}

type otpRequest struct {
	OTP string `json:"otp"`
}

func (a *API) confirmTOTP(w http.ResponseWriter, r *http.Request) error {
	var req otpRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	codes, err := a.MFA.Confirm(r.Context(), req.OTP)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string][]string{"recovery_codes": codes})
	return nil
}

// mfaCompleteRequest finishes an MFA ticket with one second factor: a TOTP
// or recovery code, or the browser's answer to the ticket's passkey
// challenge (POST /auth/mfa/passkey/begin), as it produced it.
type mfaCompleteRequest struct {
	Ticket  string          `json:"ticket"`
	OTP     string          `json:"otp"`
	Passkey json.RawMessage `json:"passkey"`
}

// validate refuses a request with no second factor or with two before the
// ticket is looked at, so such a mistake does not spend it.
func (req mfaCompleteRequest) validate() error {
	var v apperr.Validator
	v.Check(req.Ticket != "", "ticket", "is required")
	v.Check(req.OTP != "" || len(req.Passkey) > 0, "otp", "give a one-time or recovery code, or a passkey")
	v.Check(req.OTP == "" || len(req.Passkey) == 0, "passkey", "give either otp or passkey, not both")
	return v.Err()
}

// completeMFA finishes a login that the gate answered with an MFA ticket.
func (a *API) completeMFA(w http.ResponseWriter, r *http.Request) error {
	var req mfaCompleteRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	if err := req.validate(); err != nil {
		return err
	}
	var res identity.LoginResult
	var err error
	if len(req.Passkey) > 0 {
		res, err = a.Passkeys.CompleteMFA(r.Context(), req.Ticket, req.Passkey)
	} else {
		res, err = a.Identity.CompleteMFA(r.Context(), req.Ticket, req.OTP)
	}
	if err != nil {
		return err
	}
	a.writeSession(w, res)
	return nil
}

type mfaTicketRequest struct {
	Ticket string `json:"ticket"`
}

// beginMFAPasskey starts the passkey assertion that finishes an MFA ticket.
func (a *API) beginMFAPasskey(w http.ResponseWriter, r *http.Request) error {
	var req mfaTicketRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	opts, err := a.Passkeys.BeginMFA(r.Context(), req.Ticket)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]json.RawMessage{"options": opts})
	return nil
}

func (a *API) disableTOTP(w http.ResponseWriter, r *http.Request) error {
	var req otpRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	if err := a.MFA.Disable(r.Context(), req.OTP); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) regenerateRecoveryCodes(w http.ResponseWriter, r *http.Request) error {
	codes, err := a.MFA.RegenerateRecoveryCodes(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string][]string{"recovery_codes": codes})
	return nil
}
