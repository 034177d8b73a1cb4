package httpapi

import "net/http"

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

type mfaCompleteRequest struct {
	Ticket string `json:"ticket"`
	OTP    string `json:"otp"`
}

// completeMFA finishes a login that the gate answered with an MFA ticket.
func (a *API) completeMFA(w http.ResponseWriter, r *http.Request) error {
	var req mfaCompleteRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	res, err := a.Identity.CompleteMFA(r.Context(), req.Ticket, req.OTP)
	if err != nil {
		return err
	}
	a.writeSession(w, res)
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
