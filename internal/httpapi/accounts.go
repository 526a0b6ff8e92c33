package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/account"
	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/auth"
)

// AccountService is what the account endpoints need of the accounts
// (account.Service is one).
type AccountService interface {
	Register(ctx context.Context, r account.Registration) (account.Session, error)
	Login(ctx context.Context, email, password string) (account.Session, error)
	Refresh(ctx context.Context, refreshToken string) (account.Session, error)
	Logout(ctx context.Context, refreshToken string) error
	LogoutAll(ctx context.Context, userID uuid.UUID) error
	ChangePassword(ctx context.Context, userID uuid.UUID, c account.PasswordChange) (account.Session, error)
	User(ctx context.Context, id uuid.UUID) (account.User, error)
	ListUsers(ctx context.Context, q account.ListQuery) ([]account.User, error)
	SetRole(ctx context.Context, actor auth.Principal, id uuid.UUID, role auth.Role) (account.User, error)
}

type registerRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (r loginRequest) Validate() error {
	var v apperr.Validator
	v.Check(r.Email != "", "email", "is required")
	v.Check(r.Password != "", "password", "is required")
	return v.Err()
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

func (r refreshRequest) Validate() error {
	var v apperr.Validator
	v.Check(r.RefreshToken != "", "refresh_token", "is required")
	return v.Err()
}

type passwordChangeRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

type roleRequest struct {
	Role auth.Role `json:"role"`
}

func (r roleRequest) Validate() error {
	var v apperr.Validator
	v.Check(r.Role.Valid(), "role", "must be user, staff or admin")
	return v.Err()
}

type userResponse struct {
	ID        uuid.UUID `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Role      auth.Role `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

func toUserResponse(u account.User) userResponse {
	return userResponse{ID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, CreatedAt: u.CreatedAt.UTC()}
}

type sessionResponse struct {
	User         userResponse `json:"user"`
	AccessToken  string       `json:"access_token"`
	RefreshToken string       `json:"refresh_token"`
	TokenType    string       `json:"token_type"`
	ExpiresIn    int          `json:"expires_in"`
}

func toSessionResponse(s account.Session) sessionResponse {
	return sessionResponse{
		User:         toUserResponse(s.User),
		AccessToken:  s.AccessToken,
		RefreshToken: s.RefreshToken,
		TokenType:    "Bearer",
		ExpiresIn:    int(s.ExpiresIn / time.Second),
	}
}

func userCursorOf(u account.User) idCursor { return idCursor{ID: u.ID} }

// respondSession answers a new session (never to be cached), or returns
// err.
func respondSession(w http.ResponseWriter, status int, s account.Session, err error) error {
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, toSessionResponse(s))
	return nil
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) error {
	req, err := decode[registerRequest](w, r)
	if err != nil {
		return err
	}
	sess, err := s.accounts.Register(r.Context(), account.Registration{Email: req.Email, Password: req.Password, Name: req.Name})
	return respondSession(w, http.StatusCreated, sess, err)
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	req, err := decode[loginRequest](w, r)
	if err != nil {
		return err
	}
	sess, err := s.accounts.Login(r.Context(), req.Email, req.Password)
	return respondSession(w, http.StatusOK, sess, err)
}

func (s *Server) refresh(w http.ResponseWriter, r *http.Request) error {
	req, err := decode[refreshRequest](w, r)
	if err != nil {
		return err
	}
	sess, err := s.accounts.Refresh(r.Context(), req.RefreshToken)
	return respondSession(w, http.StatusOK, sess, err)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	req, err := decode[refreshRequest](w, r)
	if err != nil {
		return err
	}
	return respondNoContent(w, s.accounts.Logout(r.Context(), req.RefreshToken))
}

// logoutAll ends every session of the caller, this one included.
func (s *Server) logoutAll(w http.ResponseWriter, r *http.Request) error {
	return respondNoContent(w, callerGone(s.accounts.LogoutAll(r.Context(), principal(r).UserID)))
}

// changePassword changes the caller's password and answers the session
// that stays signed in; every other session ends.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) error {
	req, err := decode[passwordChangeRequest](w, r)
	if err != nil {
		return err
	}
	sess, err := s.accounts.ChangePassword(r.Context(), principal(r).UserID,
		account.PasswordChange{Current: req.CurrentPassword, New: req.NewPassword})
	return respondSession(w, http.StatusOK, sess, callerGone(err))
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	u, err := s.accounts.User(r.Context(), principal(r).UserID)
	return respond(w, http.StatusOK, u, callerGone(err), toUserResponse)
}

// callerGone answers a caller whose account no longer exists (a signed
// token outlives its account) as one without a valid access token.
func callerGone(err error) error {
	if apperr.Is(err, apperr.NotFound) {
		return apperr.New(apperr.Unauthorized, "The account of this access token no longer exists.")
	}
	return err
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	p, err := parsePage[idCursor](r, maxListLimit)
	if err != nil {
		return err
	}
	users, err := s.accounts.ListUsers(r.Context(), account.ListQuery{
		Search: r.URL.Query().Get("q"),
		After:  p.Cursor.ID,
		Limit:  p.Limit + 1,
	})
	return respondList(w, p.Limit, users, err, toUserResponse, userCursorOf)
}

func (s *Server) setUserRole(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidParam(r, "id", "user")
	if err != nil {
		return err
	}
	req, err := decode[roleRequest](w, r)
	if err != nil {
		return err
	}
	u, err := s.accounts.SetRole(r.Context(), principal(r), id, req.Role)
	return respond(w, http.StatusOK, u, err, toUserResponse)
}
