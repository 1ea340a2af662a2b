package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/cache"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/counter"
	"github.com/gantry-dev/gantry/internal/engine"
	"github.com/gantry-dev/gantry/internal/forward"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/proxy"
	"github.com/gantry-dev/gantry/internal/route"
	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/telemetry"
	"github.com/gantry-dev/gantry/internal/upstream"
	"github.com/gantry-dev/gantry/internal/usage"
	"github.com/gantry-dev/gantry/internal/wire"
)

// Options configure a Server.
type Options struct {
	// ConfigPath is the file reloads re-read; "" disables file reloads.
	ConfigPath string
	// Config is the initial, already validated configuration. The server
	// keeps it while it is in force and drops its Lines (see swap).
	Config *config.Config
	// Logger is the process log.
	Logger *slog.Logger
	// AccessLog receives one line per request; nil disables it.
	AccessLog *telemetry.AccessLog
	// Metrics receives request metrics; nil creates a private set.
	Metrics *telemetry.Metrics
	// Store holds consumers and API keys; routes with api_key auth need it.
	Store store.Store
	// Meter, when set, counts every request that reached a route.
	Meter *usage.Meter
	// Counter holds rate-limit and quota counters; nil gives a private
	// in-memory one.
	Counter counter.Counter
	// Cache is the response cache of the routes with a cache section; nil
	// gives a private memory one of cache.max_size.
	Cache *cache.Cache
	// Tracing, when set, makes a server span of every request and
	// child spans of its steps; nil is tracing off (it costs nothing).
	Tracing *telemetry.Tracing
}

// Server is the gateway: the client listener, the current generation of
// routes and upstreams, and the reload machinery. It is safe for concurrent
// use.
type Server struct {
	log     *slog.Logger
	access  *telemetry.AccessLog
	metrics *telemetry.Metrics
	// tracing is nil when tracing is off (telemetry.tracing, restart-only).
	tracing    *telemetry.Tracing
	configPath string
	static     staticConfig
	trusted    []netip.Prefix
	transports *proxy.Transports
	// websockets tracks upgraded connections, which http.Server's
	// Shutdown does not know about.
	websockets *proxy.WebSockets
	// state is the runtime state of every upstream target; it outlives
	// generations.
	state *upstream.State
	// store and auth serve authentication.
	store store.Store
	meter *usage.Meter
	// counter decides rate limits and quotas for every generation.
	counter counter.Counter
	// cache is the response cache every generation's routes share.
	cache *cache.Cache
	auth  *route.AuthRegistry
	// tls is server.tls as the first generation's plan loaded it
	// (server.tls is restart-only; certificate files are read again when
	// they change on disk).
	tls    *serverTLS
	cancel context.CancelFunc
	// ctx ends at Shutdown; the server's background work runs under it.
	ctx context.Context
	ids *idSource
	// admit bounds the requests served at once
	// (server.limits.max_concurrent_requests).
	admit admission

	gen atomic.Pointer[generation]
	// draining is set by Drain (and Shutdown): not ready, lame duck.
	draining atomic.Bool

	reloadMu   sync.Mutex
	genSeq     uint64
	lastReload reloadStatus

	mu      sync.Mutex
	httpSrv *http.Server
	h2Srv   *http.Server
	// engine serves plain HTTP/1.1 when server.engine is "gantry";
	// httpSrv then serves only the cleartext HTTP/2 it hands over.
	engine   *engine.Server
	listener net.Listener
	addr     net.Addr
}

// staticConfig is the part of the configuration that only a restart changes.
type staticConfig struct {
	server   config.Server
	admin    config.Admin
	portal   *config.Portal
	storage  config.Storage
	counters config.Counters
	cache    config.Cache
	usage    config.Usage
	// routeHistograms is telemetry.metrics.route_histograms.
	routeHistograms bool
	tracing         *config.Tracing
}

type reloadStatus struct {
	At      time.Time
	OK      bool
	Error   string
	Problem config.Problems
}

// New compiles the initial configuration; it binds nothing yet.
func New(o Options) (*Server, error) {
	if o.Config == nil {
		return nil, errors.New("server: no configuration")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	if o.Metrics == nil {
		o.Metrics = telemetry.NewMetrics()
	}
	trusted, err := forward.ParseTrusted(o.Config.Server.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("server.trusted_proxies: %w", err)
	}
	s := &Server{
		log:        o.Logger,
		access:     o.AccessLog,
		tracing:    o.Tracing,
		metrics:    o.Metrics,
		configPath: o.ConfigPath,
		static: staticConfig{server: o.Config.Server, admin: o.Config.Admin, portal: o.Config.Portal,
			storage: o.Config.Storage, counters: o.Config.Counters, cache: o.Config.Cache, usage: o.Config.Usage,
			routeHistograms: o.Config.RouteHistograms(), tracing: o.Config.Telemetry.Tracing},
		trusted:    trusted,
		transports: proxy.NewTransports(),
		websockets: proxy.NewWebSockets(),
		state:      upstream.NewState(upstream.StateOptions{Metrics: o.Metrics}),
		ids:        newIDSource(),
		store:      o.Store,
		meter:      o.Meter,
		counter:    o.Counter,
		cache:      o.Cache,
	}
	s.admit.max = int64(o.Config.Server.Limits.MaxConcurrentRequests)
	o.Metrics.SetRouteHistograms(s.static.routeHistograms)
	if s.counter == nil {
		s.counter = counter.NewMemory(counter.MemoryOptions{})
	}
	if s.cache == nil {
		s.cache = cache.New(cache.Options{Store: cache.NewMemory(int64(o.Config.Cache.MaxSize)), Logger: o.Logger})
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.ctx, s.cancel = ctx, cancel
	s.auth = route.NewAuthRegistry(ctx, o.Store, o.Logger, subjectResolver{s})
	s.auth.SetMetrics(o.Metrics)
	s.auth.SetCertConsumers(&certConsumers{s: s})
	restore := tightGC()
	g, err := s.planner().plan(o.Config)
	if err == nil {
		err = s.activate(g)
	}
	restore()
	if err != nil {
		s.auth.Close()
		cancel()
		return nil, err
	}
	s.tls = g.tls
	s.swap(g)
	s.lastReload = reloadStatus{At: time.Now(), OK: true}
	return s, nil
}

// Listen binds the client listener (and serves it in the background).
func (s *Server) Listen() error {
	lim := s.static.server.Limits
	ln, err := net.Listen("tcp", s.static.server.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.static.server.Listen, err)
	}
	// The bound applies at accept, under TLS and the framing guard, so a
	// connection beyond it costs neither a handshake nor a buffer.
	ln = newConnLimiter(ln, lim.MaxConnections, s.metrics)
	go newReleaser(s.metrics.ConnectionsOpen).run(s.ctx)
	startPace()
	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)
	// Go adds 4 KiB of slack to MaxHeaderBytes; take it off so 431 comes
	// where the configuration says.
	maxHeader := int(lim.MaxHeaderBytes) - 4096
	if maxHeader < 4096 {
		maxHeader = 4096
	}
	h1 := &http.Server{
		Handler:           s.clientHandler(),
		ReadHeaderTimeout: lim.ReadHeaderTimeout.D(),
		ReadTimeout:       lim.ReadTimeout.D(),
		WriteTimeout:      lim.WriteTimeout.D(),
		IdleTimeout:       lim.IdleTimeout.D(),
		MaxHeaderBytes:    maxHeader,
		ErrorLog:          errLog,
		ConnContext:       wire.ConnContext,
		// Lets the wire layer tell net/http's own error answers (400, 431
		// before the Handler) from responses, to send them as JSON.
		ConnState: wire.ConnState,
		// OPTIONS * must reach wire.Check like every other request, so the
		// framing verdicts stay paired with requests.
		DisableGeneralOptionsHandler: true,
	}
	var p http.Protocols
	p.SetHTTP1(true)
	// Cleartext HTTP/2 with prior knowledge, as gRPC clients speak it
	// without TLS. The framing guard stops at the HTTP/2 preface and
	// wire.Check passes HTTP/2 requests; an "Upgrade: h2c" is still
	// stripped by the request hygiene.
	p.SetUnencryptedHTTP2(true)
	h1.Protocols = &p
	h1.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: maxConcurrentStreams}
	s.mu.Lock()
	s.httpSrv = h1
	s.listener = ln
	s.addr = ln.Addr()
	s.mu.Unlock()

	if t := s.static.server.TLS; t != nil {
		if s.tls == nil {
			ln.Close()
			return fmt.Errorf("server.tls: no certificate loaded")
		}
		tcfg := s.tls.config()
		h2, h1ln := serveTLS(ln, s.clientHandler(), tcfg, lim, maxHeader, errLog, s.log,
			func() { s.metrics.TLSHandshakeFailed(telemetry.ListenerClient) })
		s.mu.Lock()
		s.h2Srv = h2
		s.mu.Unlock()
		// HTTP/1.1 over TLS goes to the configured engine, as plain
		// connections do; HTTP/2 (ALPN h2) has gone to h2.
		if s.static.server.Engine == config.EngineGantry {
			s.serveEngine(h1, h1ln, lim)
		} else {
			go s.serveListener(h1, wire.NewListener(h1ln))
		}
		if ac := s.tls.acme; ac != nil {
			// Once the listener that answers TLS-ALPN-01 is up.
			if err := ac.start(s.ctx, ln.Addr(), s.store); err != nil {
				return fmt.Errorf("server.tls.acme: %w", err)
			}
		}
		return nil
	}
	if s.static.server.Engine == config.EngineGantry {
		s.serveEngine(h1, ln, lim)
		return nil
	}
	go s.serveListener(h1, wire.NewListener(ln))
	return nil
}

// engineContext gives each request the engine reads its Exchange, which
// starts when the engine began to read the request: one clock reading
// less per request than ServeHTTP taking its own. The Exchange also keeps
// what the engine found among the field names for the hygiene
// (checkRequest).
func engineContext(ctx context.Context, start time.Time, names wire.Names) context.Context {
	ctx, x := pipeline.NewExchange(ctx, start)
	x.HeaderNames = uint8(names)
	return ctx
}

// serveEngine serves ln (plain connections, or TLS ones whose handshake
// is done) with the gateway's own HTTP/1.1 server; the connections that
// open with the HTTP/2 preface go on to h1, which speaks HTTP/2 with prior
// knowledge.
func (s *Server) serveEngine(h1 *http.Server, ln net.Listener, lim config.Limits) {
	h2c := newChanListener(ln.Addr())
	eng := &engine.Server{
		Handler:           s.clientHandler(),
		ReadHeaderTimeout: lim.ReadHeaderTimeout.D(),
		ReadTimeout:       lim.ReadTimeout.D(),
		WriteTimeout:      lim.WriteTimeout.D(),
		IdleTimeout:       lim.IdleTimeout.D(),
		MaxHeaderBytes:    int(lim.MaxHeaderBytes),
		H2C:               func(c net.Conn) { h2c.push(c) },
		Refuse:            wire.Refusal,
		Context:           engineContext,
		Logger:            s.log,
	}
	s.mu.Lock()
	s.engine = eng
	s.mu.Unlock()
	go s.serveListener(h1, h2c)
	go func() {
		if err := eng.Serve(ln); err != nil && !errors.Is(err, engine.ErrServerClosed) {
			s.log.Error("client listener stopped", "error", err)
		}
		h2c.Close()
	}()
}

func (s *Server) serveListener(srv *http.Server, ln net.Listener) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Error("client listener stopped", "error", err)
	}
}

// Addr returns the bound client address (after Listen).
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Shutdown stops accepting, lets in-flight requests finish until ctx ends,
// then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.mu.Lock()
	h1, h2, ln, eng := s.httpSrv, s.h2Srv, s.listener, s.engine
	s.mu.Unlock()
	if s.tls != nil && s.tls.acme != nil {
		s.tls.acme.stop(ctx)
	}
	var errs []error
	if eng != nil {
		if err := eng.Shutdown(ctx); err != nil {
			errs = append(errs, err)
			eng.Close()
		}
	}
	for _, srv := range []*http.Server{h1, h2} {
		if srv == nil {
			continue
		}
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
			srv.Close()
		}
	}
	if ln != nil && h2 != nil {
		// With TLS the servers accept from channels fed by our own accept
		// loop, so closing theirs leaves the socket open: close it here.
		ln.Close()
	}
	if n := s.websockets.Shutdown(ctx); n > 0 {
		s.log.Info("websocket connections closed at the end of the shutdown grace", "count", n)
	}
	if g := s.gen.Load(); g != nil {
		g.retire()
	}
	s.transports.CloseIdle()
	if s.auth != nil {
		s.auth.Close()
	}
	if s.cancel != nil {
		s.cancel()
	}
	return errors.Join(errs...)
}

// InFlight returns the number of requests being served.
func (s *Server) InFlight() int64 { return s.metrics.InFlight() }

// KeyCreated makes a just-created key usable at once on this node, even
// if a client tried it moments before.
func (s *Server) KeyCreated(hash []byte) {
	if s.auth != nil {
		s.auth.KeyCreated(hash)
	}
}
