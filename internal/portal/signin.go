package portal

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gantry-dev/gantry/internal/apijson"
	"github.com/gantry-dev/gantry/internal/hostguard"
	"github.com/gantry-dev/gantry/internal/plugins/auth/keyauth"
	"github.com/gantry-dev/gantry/internal/session"
)

// sessionView is the body of GET and POST /portal/api/session.
type sessionView struct {
	Title    string `json:"title"`
	SignedIn bool   `json:"signed_in"`
	// JWT says whether the portal takes tokens as well as API keys.
	JWT       bool       `json:"jwt"`
	Consumer  string     `json:"consumer,omitempty"`
	KeyID     string     `json:"key_id,omitempty"`
	CSRFToken string     `json:"csrf_token,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

func (p *portal) view(ss *session.Session) sessionView {
	v := sessionView{Title: p.o.Title, JWT: p.o.VerifyJWT != nil}
	if ss != nil {
		exp := ss.Expires.UTC()
		v.SignedIn, v.Consumer, v.KeyID, v.CSRFToken, v.ExpiresAt = true, ss.Subject, ss.Credential, ss.CSRF, &exp
	}
	return v
}

// getSession serves GET /portal/api/session: the title, and the session
// of the browser with its CSRF token if it has one.
func (p *portal) getSession(w http.ResponseWriter, r *http.Request) {
	if ss, ok := p.sessions.Get(r); ok {
		apijson.Write(w, http.StatusOK, p.view(&ss))
		return
	}
	apijson.Write(w, http.StatusOK, p.view(nil))
}

// signIn serves POST /portal/api/session: {"key": "<API key>"} or
// {"token": "<JWT>"} exchanged for a session cookie. The key itself is
// never kept: the session holds the consumer's id and the key's id.
func (p *portal) signIn(w http.ResponseWriter, r *http.Request) {
	if !hostguard.BodyAllowed(r) {
		apijson.Error(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "a request body must be Content-Type: application/json")
		return
	}
	client := clientIP(r)
	if ok, wait := p.signIns.Allow(client); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		apijson.Error(w, http.StatusTooManyRequests, "too_many_attempts", "too many failed sign-ins from this address; try again later")
		return
	}
	var b struct {
		Key   string `json:"key"`
		Token string `json:"token"`
	}
	if !decodeBody(w, r, &b) {
		return
	}
	var consumer, keyID string
	switch {
	case (b.Key == "") == (b.Token == ""):
		apijson.Error(w, http.StatusBadRequest, "bad_request", `send {"key": "<API key>"} or {"token": "<JWT>"}`)
		return
	case b.Key != "":
		k, c, err := keyauth.Verify(r.Context(), p.o.Store, b.Key)
		switch {
		case errors.Is(err, keyauth.ErrInvalidKey):
			p.signIns.Fail(client)
			apijson.Error(w, http.StatusUnauthorized, "unauthorized", "unknown or revoked API key")
			return
		case err != nil:
			p.storeError(w, err)
			return
		}
		consumer, keyID = c.ID, k.ID
	default:
		if p.o.VerifyJWT == nil {
			apijson.Error(w, http.StatusBadRequest, "bad_request", "this portal takes API keys only (portal.jwt is not set)")
			return
		}
		c, err := p.o.VerifyJWT(r.Context(), b.Token)
		if err != nil || c == nil || c.ID == "" {
			p.signIns.Fail(client)
			apijson.Error(w, http.StatusUnauthorized, "unauthorized", "the token is not valid or names no consumer")
			return
		}
		consumer = c.ID
	}
	p.signIns.Succeed(client)
	ss, err := p.sessions.CreateWith(w, r, consumer, keyID)
	if err != nil {
		p.o.Logger.Error("creating a portal session", "error", err)
		apijson.Error(w, http.StatusInternalServerError, "internal_error", "creating a session failed")
		return
	}
	apijson.Write(w, http.StatusCreated, p.view(&ss))
}

// signOut serves DELETE /portal/api/session; with a session it needs the
// CSRF token.
func (p *portal) signOut(w http.ResponseWriter, r *http.Request) {
	if ss, ok := p.sessions.Get(r); ok && !session.Check(ss, r) {
		apijson.Error(w, http.StatusForbidden, "csrf_failed", "a write needs the session's "+session.CSRFHeader+" header")
		return
	}
	p.sessions.Delete(w, r)
	w.WriteHeader(http.StatusNoContent)
}
