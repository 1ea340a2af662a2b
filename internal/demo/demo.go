package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// The fixed loopback addresses of the sample services and of the gateway,
// as written in examples/quickstart.yaml.
const (
	// usersAddr serves the first users instance (weight 3 in the quickstart).
	usersAddr = "127.0.0.1:9101"
	// users2Addr serves the second users instance (weight 1), same data.
	users2Addr = "127.0.0.1:9102"
	// ordersAddr serves orders API v2 (upstream "orders").
	ordersAddr = "127.0.0.1:9201"
	// ordersLegacyAddr serves orders API v1 (upstream "orders-legacy").
	ordersLegacyAddr = "127.0.0.1:9202"
	// chatAddr serves the WebSocket echo at /ws/chat (upstream "chat").
	chatAddr = "127.0.0.1:9301"
	// functionAddr serves a stand-in of the Lambda invoke API with one
	// function, greeter (upstream "greeter").
	functionAddr = "127.0.0.1:9401"
	// llmAddr serves a stand-in OpenAI-compatible API (upstream "llm").
	llmAddr = "127.0.0.1:9501"

	// gatewayAddr is server.listen in the quickstart config.
	gatewayAddr = "127.0.0.1:8080"
	// adminAddr is admin.listen in the quickstart config.
	adminAddr = "127.0.0.1:9080"
)

// Names the services answer with in X-Served-By.
const (
	nameUsers1       = "users-1"
	nameUsers2       = "users-2"
	nameOrders       = "orders-v2"
	nameOrdersLegacy = "orders-v1"
	nameChat         = "chat"
	nameFunction     = "lambda"
	nameLLM          = "llm"
)

// shutdownTimeout bounds how long Close waits for in-flight requests.
const shutdownTimeout = 2 * time.Second

// Addrs are the listen addresses of the sample services. A port of 0 picks a
// free port; Services.Addrs then holds the port actually used.
type Addrs struct {
	Users        string
	Users2       string
	Orders       string
	OrdersLegacy string
	Chat         string
	Function     string
	LLM          string
}

// defaultAddrs returns the fixed addresses the quickstart config expects.
func defaultAddrs() Addrs {
	return Addrs{
		Users:        usersAddr,
		Users2:       users2Addr,
		Orders:       ordersAddr,
		OrdersLegacy: ordersLegacyAddr,
		Chat:         chatAddr,
		Function:     functionAddr,
		LLM:          llmAddr,
	}
}

// ListenError reports a sample service that could not bind its address,
// most often because another process holds the port.
type ListenError struct {
	Service string // "users-1", "orders-v2", ...
	Addr    string // the address asked for, "127.0.0.1:9101"
	Err     error
}

func (e *ListenError) Error() string {
	_, port, _ := net.SplitHostPort(e.Addr)
	return fmt.Sprintf("demo service %s cannot listen on %s: %v; "+
		"another process is probably using port %s: stop it (or free the port) and run the demo again",
		e.Service, e.Addr, e.Err, port)
}

func (e *ListenError) Unwrap() error { return e.Err }

// Services are the running sample services. Close stops them.
type Services struct {
	// Addrs holds the addresses the services listen on.
	Addrs Addrs

	logger  *slog.Logger
	cancel  context.CancelFunc
	names   []string
	servers []*http.Server
	conns   sync.WaitGroup // WebSocket connections, which Shutdown does not track
	serving sync.WaitGroup // Serve loops

	mu    sync.Mutex
	fresh map[net.Conn]bool // connections that have not sent a request yet

	once sync.Once
	err  error
}

// Start starts the sample services on their fixed loopback addresses
// (DefaultAddrs). They run until ctx is done or Close is called. logger may
// be nil.
func Start(ctx context.Context, logger *slog.Logger) (*Services, error) {
	return startAt(ctx, logger, defaultAddrs())
}

// startAt is Start on the given addresses. Either every service starts or
// none does: when one address cannot be bound, the listeners already open
// are closed and the error is a *ListenError.
func startAt(ctx context.Context, logger *slog.Logger, addrs Addrs) (*Services, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// The services' own context ends streams and WebSocket echoes on Close;
	// http.Server.Shutdown waits for neither.
	base, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Services{logger: logger, cancel: cancel, fresh: make(map[net.Conn]bool)}

	specs := []struct {
		name string
		addr *string
		h    http.Handler
	}{
		{nameUsers1, &addrs.Users, newUsers(nameUsers1)},
		{nameUsers2, &addrs.Users2, newUsers(nameUsers2)},
		{nameOrders, &addrs.Orders, newOrdersV2()},
		{nameOrdersLegacy, &addrs.OrdersLegacy, newOrdersV1()},
		{nameChat, &addrs.Chat, newChat(&s.conns)},
		{nameFunction, &addrs.Function, newFunction()},
		{nameLLM, &addrs.LLM, newLLM()},
	}
	lns := make([]net.Listener, 0, len(specs))
	for _, sp := range specs {
		ln, err := listen(ctx, *sp.addr)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			cancel()
			return nil, &ListenError{Service: sp.name, Addr: *sp.addr, Err: err}
		}
		lns = append(lns, ln)
		*sp.addr = ln.Addr().String()
	}
	s.Addrs = addrs

	errLog := slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	for i, sp := range specs {
		srv := &http.Server{
			Handler:           common(sp.name, sp.h),
			ReadHeaderTimeout: 5 * time.Second,
			IdleTimeout:       time.Minute,
			ErrorLog:          errLog,
			BaseContext:       func(net.Listener) context.Context { return base },
			ConnState:         s.track,
		}
		s.servers = append(s.servers, srv)
		s.names = append(s.names, sp.name)
		s.serving.Add(1)
		go func(ln net.Listener, name string) {
			defer s.serving.Done()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("demo service stopped", "service", name, "error", err)
			}
		}(lns[i], sp.name)
		logger.Debug("demo service listening", "service", sp.name, "addr", lns[i].Addr().String())
	}
	// A Close that already ran makes this one a no-op.
	context.AfterFunc(ctx, func() { s.Close() })
	return s, nil
}

// listen binds addr, refusing anything but a loopback host so that the
// demo never exposes itself.
func listen(ctx context.Context, addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("parsing address: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("host %q is not a loopback address", host)
	}
	var lc net.ListenConfig
	return lc.Listen(ctx, "tcp", addr)
}

// Close stops every service: it ends open streams and WebSocket
// connections, lets in-flight requests finish for up to two seconds, and
// waits until nothing runs. It is safe to call more than once and from
// several goroutines.
func (s *Services) Close() error {
	s.once.Do(func() {
		s.cancel()
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		errs := make([]error, len(s.servers))
		var wg sync.WaitGroup
		for i, srv := range s.servers {
			wg.Go(func() {
				if err := srv.Shutdown(ctx); err != nil {
					errs[i] = fmt.Errorf("stopping demo service %s: %w", s.names[i], err)
					srv.Close()
				}
			})
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		// Until every listener is closed a new connection may still come
		// in, so sweep until Shutdown returns.
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
	sweep:
		for {
			s.closeFresh()
			select {
			case <-done:
				break sweep
			case <-t.C:
			}
		}
		s.serving.Wait()
		s.conns.Wait()
		s.err = errors.Join(errs...)
	})
	return s.err
}

// track keeps the connections that have not sent a request yet. Shutdown
// waits five seconds for those (Go issue 22682), and HTTP clients open them
// ahead of need, so Close ends them itself.
func (s *Services) track(c net.Conn, st http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st == http.StateNew {
		s.fresh[c] = true
	} else {
		delete(s.fresh, c)
	}
}

// closeFresh closes the connections that have not sent a request yet.
func (s *Services) closeFresh() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.fresh {
		c.Close()
		delete(s.fresh, c)
	}
}

// common adds what every sample service does: say who served the request,
// echo the request ID it received, and carry a header the quickstart's
// echo route removes (response_headers).
func common(name string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Served-By", name)
		h.Set("X-Powered-By", "gantry-demo")
		if id := r.Header.Get("X-Request-ID"); id != "" {
			h.Set("X-Request-ID", id)
		}
		next.ServeHTTP(w, r)
	})
}

// apiError is the body of every error a sample service answers.
type apiError struct {
	Status  int    `json:"status"`
	Error   string `json:"error"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(apiError{Status: status, Error: "internal", Message: err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, code, format string, args ...any) {
	writeJSON(w, status, apiError{Status: status, Error: code, Message: fmt.Sprintf(format, args...)})
}

// health answers GET /healthz, the path active health checks probe.
func health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
