package httpapi

import (
	"net/http"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/edge"
	"github.com/bulwark-shop/bulwark/internal/identity"
	"github.com/bulwark-shop/bulwark/internal/reqinfo"
)

// userJSON is the API's User.
type userJSON struct {
	ID         string        `json:"id"`
	Email      string        `json:"email"`
	Name       string        `json:"name"`
	Roles      []access.Role `json:"roles"`
	MFAEnabled bool          `json:"mfa_enabled"`
	CreatedAt  Timestamp     `json:"created_at"`
}

func toUserJSON(u identity.User) userJSON {
	return userJSON{ID: u.ID, Email: u.Email, Name: u.Name, Roles: u.Roles, MFAEnabled: u.MFAEnabled, CreatedAt: Timestamp(u.CreatedAt)}
}

type registerRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
	// Website is the honeypot: a field people never see and so leave empty.
	Website string `json:"website"`
}

func (a *API) register(w http.ResponseWriter, r *http.Request) error {
	var req registerRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	if edge.Honeypot(req.Website) {
		// Rejected silently: a bot that sees a success has no reason to adapt.
		// Nothing is created or audited; the log keeps the address. The decoy
		// hash keeps the answer as slow as a real registration's.
		if err := a.Identity.Decoy(r.Context(), req.Password); err != nil {
			return err
		}
		a.Log.InfoContext(r.Context(), "registration honeypot filled", "request_id", reqinfo.From(r.Context()).RequestID,
			"ip", reqinfo.From(r.Context()).IP)
		writeJSON(w, http.StatusAccepted, verificationSent)
		return nil
	}
	if err := a.Emails.Register(r.Context(), req.Email, req.Password, req.Name); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, verificationSent)
	return nil
}

// verificationSent is the one answer to a registration and to a change of
// address: the same whether or not the address has an account.
var verificationSent = map[string]string{"status": "verification_sent"}

type verifyEmailRequest struct {
	Token string `json:"token"`
}

func (a *API) verifyEmail(w http.ResponseWriter, r *http.Request) error {
	var req verifyEmailRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	u, err := a.Emails.Verify(r.Context(), req.Token)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]userJSON{"user": toUserJSON(u)})
	return nil
}

type updateMeRequest struct {
	Name  *string `json:"name"`
	Email *string `json:"email"`
}

func (a *API) updateMe(w http.ResponseWriter, r *http.Request) error {
	var req updateMeRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	u, err := a.Emails.UpdateMe(r.Context(), req.Name, req.Email)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toUserJSON(u))
	return nil
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	OTP      string `json:"otp"`
}

type loginResponse struct {
	Token     string    `json:"token"`
	ExpiresAt Timestamp `json:"expires_at"`
	User      userJSON  `json:"user"`
}

func (a *API) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	res, err := a.Identity.Login(r.Context(), req.Email, req.Password, req.OTP)
	if err != nil {
		return err
	}
	a.writeSession(w, res)
	return nil
}

// mfaPendingResponse answers a login whose first factor is done and whose
// second factor is owed: no session yet, a one-time ticket for POST /auth/mfa.
type mfaPendingResponse struct {
	Status    string    `json:"status"`
	Ticket    string    `json:"mfa_ticket"`
	ExpiresAt Timestamp `json:"expires_at"`
}

// writeSession answers a new session: the token in the body and in the
// cookie; or, when the gate asks for a second factor, 202 with an MFA ticket.
func (a *API) writeSession(w http.ResponseWriter, res identity.LoginResult) {
	if res.MFATicket != "" {
		writeJSON(w, http.StatusAccepted, mfaPendingResponse{Status: "mfa_required", Ticket: res.MFATicket, ExpiresAt: Timestamp(res.MFATicketExpiresAt)})
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: res.Token, Path: "/", Expires: res.ExpiresAt,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	writeJSON(w, http.StatusOK, loginResponse{Token: res.Token, ExpiresAt: Timestamp(res.ExpiresAt), User: toUserJSON(res.User)})
}

func clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

func (a *API) logout(w http.ResponseWriter, r *http.Request) error {
	if err := a.Identity.Logout(r.Context()); err != nil {
		return err
	}
	clearSessionCookie(w)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) me(w http.ResponseWriter, r *http.Request) error {
	u, err := a.Identity.Me(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toUserJSON(u))
	return nil
}

type rolesRequest struct {
	Roles []string `json:"roles"`
}

func (a *API) setRoles(w http.ResponseWriter, r *http.Request) error {
	var req rolesRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	u, code, err := a.Identity.SetRoles(r.Context(), r.PathValue("id"), req.Roles)
	if err != nil {
		return err
	}
	// A staff account without a second factor: the admin is shown, once, the
	// code its first enrolment needs, to hand over apart from the password.
	writeJSON(w, http.StatusOK, struct {
		userJSON
		EnrollmentCode string `json:"enrollment_code,omitempty"`
	}{toUserJSON(u), code})
	return nil
}

type sessionJSON struct {
	ID         string    `json:"id"`
	CreatedAt  Timestamp `json:"created_at"`
	LastUsedAt Timestamp `json:"last_used_at"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	Current    bool      `json:"current"`
}

func (a *API) listSessions(w http.ResponseWriter, r *http.Request) error {
	ss, err := a.Identity.ListSessions(r.Context())
	if err != nil {
		return err
	}
	out := listJSON[sessionJSON]{Items: make([]sessionJSON, 0, len(ss))}
	for _, s := range ss {
		out.Items = append(out.Items, sessionJSON{ID: s.ID, CreatedAt: Timestamp(s.CreatedAt), LastUsedAt: Timestamp(s.LastUsedAt),
			IP: s.IP, UserAgent: s.UserAgent, Current: s.Current})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) revokeSession(w http.ResponseWriter, r *http.Request) error {
	if err := a.Identity.RevokeSession(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type resetRequest struct {
	Email string `json:"email"`
}

func (a *API) requestReset(w http.ResponseWriter, r *http.Request) error {
	var req resetRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	a.Resets.Request(r.Context(), req.Email)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

type resetConfirmRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

func (a *API) confirmReset(w http.ResponseWriter, r *http.Request) error {
	var req resetConfirmRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	if err := a.Resets.Confirm(r.Context(), req.Token, req.Password); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type passwordChangeRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

func (a *API) changePassword(w http.ResponseWriter, r *http.Request) error {
	var req passwordChangeRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	if err := a.Identity.ChangePassword(r.Context(), req.CurrentPassword, req.NewPassword); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) exportMine(w http.ResponseWriter, r *http.Request) error {
	e, err := a.Privacy.ExportMine(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Content-Disposition", `attachment; filename="bulwark-export.json"`)
	writeJSON(w, http.StatusOK, e)
	return nil
}

type eraseRequest struct {
	Password string `json:"password"`
}

func (a *API) eraseMine(w http.ResponseWriter, r *http.Request) error {
	var req eraseRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	if err := a.Privacy.EraseMine(r.Context(), req.Password); err != nil {
		return err
	}
	clearSessionCookie(w)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) eraseUser(w http.ResponseWriter, r *http.Request) error {
	if err := a.Privacy.Erase(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
