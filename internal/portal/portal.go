package portal

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gantry-dev/gantry/internal/apijson"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/counter"
	"github.com/gantry-dev/gantry/internal/hostguard"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/session"
	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/ui"
)

// Options configure the portal handler.
type Options struct {
	// Store holds consumers, keys and the usage ledger. Required.
	Store store.Store
	// Counters are the gateway's rate-limit and quota counters, read
	// without taking; nil shows limits without what is left of them.
	Counters counter.Counter
	// Plans returns the running configuration's plans. Required.
	Plans func() map[string]*config.Plan
	// VerifyJWT checks a token with the providers of portal.jwt and
	// returns the consumer it names; nil offers no JWT sign-in.
	VerifyJWT func(ctx context.Context, token string) (*pipeline.Consumer, error)
	// KeyCreated makes a key created here usable at once on this node
	// (server.Server.KeyCreated); nil does nothing.
	KeyCreated func(hash []byte)
	// Title is portal.title.
	Title string
	// Listen is portal.listen as configured and Addr the address the
	// listener is bound to (nil when unknown); AllowedHosts and
	// AllowedOrigins are portal.allowed_hosts and portal.allowed_origins
	// (see package hostguard).
	Listen                       string
	Addr                         net.Addr
	AllowedHosts, AllowedOrigins []string
	// Logger receives the portal's own failures.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// sessionCookie names the portal's session cookie.
const sessionCookie = "gantry_portal_session"

// Sign-in throttling, as the dashboard's: signInFailures failed sign-ins
// from one address within signInWindow lock it out until the oldest of
// them is signInWindow old.
const (
	signInFailures = 5
	signInWindow   = time.Minute
)

// maxLiveKeys bounds the keys a consumer may hold at once through the
// portal.
const maxLiveKeys = 20

// openPaths answer any Host: a liveness probe only.
var openPaths = map[string]bool{"/healthz": true}

type portal struct {
	o        Options
	sessions *session.Store
	signIns  *session.Throttle
}

// Handler returns the portal: the pages at /, the API at /portal/api/...,
// behind the listener's Host/Origin guard.
func Handler(o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	p := &portal{
		o:        o,
		sessions: session.New(session.Options{Cookie: sessionCookie, Now: o.Now}),
		signIns:  session.NewThrottle(signInFailures, signInWindow, o.Now),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		apijson.Write(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	pages := ui.HandlerVars("/", "portal/index.html", map[string]string{"title": o.Title})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			apijson.Error(w, http.StatusMethodNotAllowed, "method_not_allowed", "the pages are read-only")
			return
		}
		pages.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /portal/api/session", p.getSession)
	mux.HandleFunc("POST /portal/api/session", p.signIn)
	mux.HandleFunc("DELETE /portal/api/session", p.signOut)
	mux.Handle("GET /portal/api/me", p.auth(p.me))
	mux.Handle("GET /portal/api/usage", p.auth(p.usage))
	mux.Handle("GET /portal/api/invoices", p.auth(p.invoice))
	mux.Handle("GET /portal/api/keys", p.auth(p.listKeys))
	mux.Handle("POST /portal/api/keys", p.auth(p.createKey))
	mux.Handle("DELETE /portal/api/keys/{key_id}", p.auth(p.revokeKey))
	mux.HandleFunc("/portal/api/", func(w http.ResponseWriter, r *http.Request) {
		apijson.Error(w, http.StatusNotFound, "not_found", "no such portal endpoint")
	})
	return hostguard.New(o.Listen, o.Addr, o.AllowedHosts, o.AllowedOrigins).Wrap(mux, openPaths)
}

// caller is the signed-in consumer of a request.
type caller struct {
	session.Session
	consumer store.Consumer
}

// auth admits a request with a live session whose consumer still exists
// and, when it signed in with a key, whose key is still live (revoked
// elsewhere, the session ends with it); a write must carry the session's
// CSRF token and a JSON body, if any.
func (p *portal) auth(h func(http.ResponseWriter, *http.Request, caller)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ss, ok := p.sessions.Get(r)
		if !ok {
			apijson.Error(w, http.StatusUnauthorized, "unauthorized", "sign in with one of your API keys")
			return
		}
		if !safeMethod(r.Method) && !session.Check(ss, r) {
			apijson.Error(w, http.StatusForbidden, "csrf_failed", "a write needs the session's "+session.CSRFHeader+" header")
			return
		}
		if !hostguard.BodyAllowed(r) {
			apijson.Error(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "a request body must be Content-Type: application/json")
			return
		}
		c, err := p.o.Store.GetConsumer(r.Context(), ss.Subject)
		if err == nil && ss.Credential != "" {
			err = p.keyLive(r.Context(), ss.Subject, ss.Credential)
		}
		switch {
		case errors.Is(err, store.ErrNotFound):
			p.sessions.Delete(w, r)
			apijson.Error(w, http.StatusUnauthorized, "unauthorized", "the key or consumer this session signed in with is gone; sign in again")
			return
		case err != nil:
			p.storeError(w, err)
			return
		}
		h(w, r, caller{Session: ss, consumer: c})
	})
}

// keyLive returns store.ErrNotFound unless keyID is a live key of
// consumer.
func (p *portal) keyLive(ctx context.Context, consumer, keyID string) error {
	keys, err := p.o.Store.ListKeys(ctx, consumer)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.ID == keyID && k.RevokedAt == nil {
			return nil
		}
	}
	return store.ErrNotFound
}

func (p *portal) storeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		apijson.Error(w, http.StatusNotFound, "not_found", "no such key")
	case errors.Is(err, store.ErrReadOnly):
		apijson.Error(w, http.StatusConflict, "read_only", "this key is defined in the gateway's configuration; ask the operator to change it")
	default:
		p.o.Logger.Error("portal storage call failed", "error", err)
		apijson.Error(w, http.StatusServiceUnavailable, "storage_unavailable", "storage is unavailable; try again shortly")
	}
}

// clientIP is the address a request came from; the portal trusts no proxy
// headers, as the admin listener does not.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// decodeBody reads a small JSON body strictly.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		apijson.Error(w, http.StatusBadRequest, "bad_request", "invalid JSON body: "+err.Error())
		return false
	}
	return true
}
