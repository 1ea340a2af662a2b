package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/gantry-dev/gantry/internal/apijson"
	"github.com/gantry-dev/gantry/internal/hostguard"
	"github.com/gantry-dev/gantry/internal/session"
	"github.com/gantry-dev/gantry/internal/telemetry"
)

// sessionCookie names the dashboard's session cookie.
const sessionCookie = "gantry_admin_session"

// sessionSubject is the Subject of every dashboard session: whoever knows
// the admin token is the operator.
const sessionSubject = "admin"

// sessionView is the body of GET and POST /admin/session.
type sessionView struct {
	// TokenRequired is false when the admin listener has no token: the
	// dashboard then calls the API without signing in.
	TokenRequired bool       `json:"token_required"`
	SignedIn      bool       `json:"signed_in"`
	CSRFToken     string     `json:"csrf_token,omitempty"`
	ExpiresAt     *time.Time `json:"expires_at,omitempty"`
}

func viewOf(ss session.Session) sessionView {
	exp := ss.Expires.UTC()
	return sessionView{TokenRequired: true, SignedIn: true, CSRFToken: ss.CSRF, ExpiresAt: &exp}
}

// getSession serves GET /admin/session: whether the dashboard must sign
// in, and the CSRF token of the browser's session if it has one.
func (a *api) getSession(w http.ResponseWriter, r *http.Request) {
	if a.tokenSum == nil {
		apijson.Write(w, http.StatusOK, sessionView{})
		return
	}
	ss, ok := a.sessions.Get(r)
	if !ok {
		apijson.Write(w, http.StatusOK, sessionView{TokenRequired: true})
		return
	}
	apijson.Write(w, http.StatusOK, viewOf(ss))
}

// signIn serves POST /admin/session: {"token": "<admin.token>"} exchanged
// for a session cookie and the session's CSRF token.
func (a *api) signIn(w http.ResponseWriter, r *http.Request) {
	if !hostguard.BodyAllowed(r) {
		apijson.Error(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "a request body must be Content-Type: application/json")
		return
	}
	if a.tokenSum == nil {
		apijson.Error(w, http.StatusConflict, "no_token", "admin.token is not set: the admin API and the dashboard need no sign-in")
		return
	}
	client := clientIP(r)
	if ok, wait := a.signIns.Allow(client); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		apijson.Error(w, http.StatusTooManyRequests, "too_many_attempts", "too many wrong tokens from this address; try again later")
		return
	}
	var b struct {
		Token string `json:"token"`
	}
	if !decodeBody(w, r, &b) {
		return
	}
	if !a.tokenMatches(b.Token) {
		a.signIns.Fail(client)
		apijson.Error(w, http.StatusUnauthorized, "unauthorized", "wrong admin token")
		return
	}
	a.signIns.Succeed(client)
	ss, err := a.sessions.Create(w, r, sessionSubject)
	if err != nil {
		a.log.Error("creating a dashboard session", "error", err)
		apijson.Error(w, http.StatusInternalServerError, "internal_error", "creating a session failed")
		return
	}
	apijson.Write(w, http.StatusCreated, viewOf(ss))
}

// Sign-in throttling: signInFailures wrong tokens from one address within
// signInWindow lock that address out of POST /admin/session until the
// oldest of them is signInWindow old.
const (
	signInFailures = 5
	signInWindow   = time.Minute
)

// clientIP is the address a request came from (the admin listener trusts
// no proxy headers).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// signOut serves DELETE /admin/session; like every write of a session it
// needs the CSRF token.
func (a *api) signOut(w http.ResponseWriter, r *http.Request) {
	if ss, ok := a.sessions.Get(r); ok && !session.Check(ss, r) {
		apijson.Error(w, http.StatusForbidden, "csrf_failed", "a write from a dashboard session needs the session's "+session.CSRFHeader+" header")
		return
	}
	a.sessions.Delete(w, r)
	w.WriteHeader(http.StatusNoContent)
}

// tokenMatches compares a presented token with admin.token in constant
// time; hashing first keeps the token's length from leaking too.
func (a *api) tokenMatches(token string) bool {
	sum := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(sum[:], a.tokenSum) == 1
}

// metricsSummary serves GET /admin/metrics/summary.
func (a *api) metricsSummary(w http.ResponseWriter, r *http.Request) {
	if a.gatherer == nil {
		apijson.Error(w, http.StatusNotFound, "not_found", "no such admin endpoint")
		return
	}
	s, err := telemetry.Summarize(a.gatherer)
	if err != nil {
		a.log.Error("summarising metrics", "error", err)
		apijson.Error(w, http.StatusInternalServerError, "internal_error", "reading the metrics failed")
		return
	}
	apijson.Write(w, http.StatusOK, s)
}

// safeMethod reports whether m changes nothing, so needs no CSRF token.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}
