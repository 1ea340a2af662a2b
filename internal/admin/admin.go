package admin

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gantry-dev/gantry/internal/apijson"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/hostguard"
	"github.com/gantry-dev/gantry/internal/server"
	"github.com/gantry-dev/gantry/internal/session"
	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/ui"
)

// Options configure the admin handler.
type Options struct {
	// Gateway is the running server.
	Gateway *server.Server
	// Token, when non-empty, is required on /admin/... as a bearer token.
	Token string
	// Metrics serves /metrics.
	Metrics http.Handler
	// Store holds consumers and keys; nil disables the consumer endpoints.
	Store store.Store
	// Logger receives failures of the admin API itself.
	Logger *slog.Logger
	// Plans returns the running config's plans, whose pricing invoices
	// use; nil means the Gateway's current config.
	Plans func() map[string]*config.Plan
	// Counters, when set, are pinged by /readyz.
	Counters interface{ Ping(context.Context) error }
	// Readiness says what /readyz reports about the dependencies.
	Readiness Readiness
	// Listen is admin.listen as configured and Addr the address the
	// listener is bound to (nil when unknown): with localhost, 127.0.0.1
	// and [::1] they are the names a request's Host may use, any port.
	Listen string
	Addr   net.Addr
	// AllowedHosts and AllowedOrigins are admin.allowed_hosts and
	// admin.allowed_origins: more Host names (a port, when given, must
	// match) and more Origin values the admin API accepts.
	AllowedHosts, AllowedOrigins []string
	// UI serves the operator dashboard at /ui/ and its sign-in at
	// /admin/session (admin.ui).
	UI bool
	// Gatherer, when set, is read by /admin/metrics/summary (the
	// registry behind Metrics).
	Gatherer prometheus.Gatherer
}

// openPaths are served to any Host and Origin: read-only, no secrets, and
// scraped or probed by machines that address the admin listener by whatever
// name or address they know it under.
var openPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// Handler returns the admin API handler.
func Handler(o Options) http.Handler {
	a := &api{gw: o.Gateway, store: o.Store, log: o.Logger, plans: o.Plans, counters: o.Counters, readiness: o.Readiness, gatherer: o.Gatherer}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if o.Token != "" {
		sum := sha256.Sum256([]byte(o.Token))
		a.tokenSum = sum[:]
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		apijson.Write(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", a.ready)
	if o.Metrics != nil {
		mux.Handle("GET /metrics", o.Metrics)
	}
	mux.Handle("GET /admin/routes", a.auth(a.routes))
	mux.Handle("GET /admin/upstreams", a.auth(a.upstreams))
	mux.Handle("GET /admin/status", a.auth(a.status))
	mux.Handle("GET /admin/config", a.auth(a.config))
	mux.Handle("POST /admin/reload", a.auth(a.reload))
	mux.Handle("GET /admin/metrics/summary", a.auth(a.metricsSummary))
	if o.UI {
		a.sessions = session.New(session.Options{Cookie: sessionCookie})
		a.signIns = session.NewThrottle(signInFailures, signInWindow, nil)
		mux.Handle("GET /ui/", ui.Handler("/ui/", "dashboard/index.html"))
		mux.HandleFunc("GET /admin/session", a.getSession)
		mux.HandleFunc("POST /admin/session", a.signIn)
		mux.HandleFunc("DELETE /admin/session", a.signOut)
	}
	mux.Handle("DELETE /admin/cache", a.auth(a.purgeCache))
	if a.store != nil {
		mux.Handle("POST /admin/consumers", a.auth(a.createConsumer))
		mux.Handle("GET /admin/consumers", a.auth(a.listConsumers))
		mux.Handle("GET /admin/consumers/{id}", a.auth(a.getConsumer))
		mux.Handle("DELETE /admin/consumers/{id}", a.auth(a.deleteConsumer))
		mux.Handle("POST /admin/consumers/{id}/keys", a.auth(a.createKey))
		mux.Handle("DELETE /admin/consumers/{id}/keys/{key_id}", a.auth(a.revokeKey))
		mux.Handle("GET /admin/usage", a.auth(a.usage))
		mux.Handle("GET /admin/invoices/{consumer}", a.auth(a.invoice))
	}
	mux.Handle("/admin/", a.auth(func(w http.ResponseWriter, r *http.Request) {
		apijson.Error(w, http.StatusNotFound, "not_found", "no such admin endpoint")
	}))
	return hostguard.New(o.Listen, o.Addr, o.AllowedHosts, o.AllowedOrigins).Wrap(mux, openPaths)
}

type api struct {
	gw       *server.Server
	store    store.Store
	log      *slog.Logger
	plans    func() map[string]*config.Plan
	counters interface{ Ping(context.Context) error }
	tokenSum []byte
	gatherer prometheus.Gatherer
	// sessions are the dashboard's; nil when admin.ui is off.
	sessions *session.Store
	signIns  *session.Throttle

	readiness Readiness
}

// auth checks the bearer token in constant time, or else the dashboard's
// session cookie, whose writes must carry the session's CSRF token; then
// that a write's body is JSON. A request with an Authorization header is
// judged by it alone.
func (a *api) auth(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.tokenSum != nil {
			_, hasAuthz := r.Header["Authorization"]
			var ss session.Session
			var signedIn bool
			if !hasAuthz && a.sessions != nil {
				ss, signedIn = a.sessions.Get(r)
			}
			switch {
			case signedIn:
				if !safeMethod(r.Method) && !session.Check(ss, r) {
					apijson.Error(w, http.StatusForbidden, "csrf_failed", "a write from a dashboard session needs the session's "+session.CSRFHeader+" header")
					return
				}
			default:
				got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
				if !a.tokenMatches(strings.TrimSpace(got)) || !ok {
					w.Header().Set("WWW-Authenticate", `Bearer realm="gantry-admin"`)
					apijson.Error(w, http.StatusUnauthorized, "unauthorized", "admin token required")
					return
				}
			}
		}
		if !hostguard.BodyAllowed(r) {
			apijson.Error(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "a request body must be Content-Type: application/json")
			return
		}
		h(w, r)
	})
}

func (a *api) routes(w http.ResponseWriter, r *http.Request) {
	apijson.Write(w, http.StatusOK, map[string]any{"routes": a.gw.Routes()})
}

func (a *api) upstreams(w http.ResponseWriter, r *http.Request) {
	apijson.Write(w, http.StatusOK, map[string]any{"upstreams": a.gw.Upstreams()})
}

func (a *api) status(w http.ResponseWriter, r *http.Request) {
	apijson.Write(w, http.StatusOK, a.gw.Status())
}

func (a *api) config(w http.ResponseWriter, r *http.Request) {
	apijson.Write(w, http.StatusOK, a.gw.Config())
}

func (a *api) reload(w http.ResponseWriter, r *http.Request) {
	res := a.gw.Reload()
	status := http.StatusOK
	if !res.OK {
		status = http.StatusBadRequest
	}
	apijson.Write(w, status, res)
}
