package engine

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/wire"
)

// Server serves HTTP/1.1 on plain connections. Set its fields before
// Serve; they must not change afterwards.
type Server struct {
	// Handler serves every request.
	Handler http.Handler
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout are
	// those of http.Server; zero means none (IdleTimeout: ReadTimeout).
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// MaxHeaderBytes bounds a request's header block, request line and
	// CRLFs included; larger is refused with 431. Zero means 64 KiB.
	MaxHeaderBytes int
	// H2C receives, unread, every connection that opens with the HTTP/2
	// preface; nil refuses them (505).
	H2C func(net.Conn)
	// Refuse returns the whole answer to a request refused before any
	// handler ran, from its status and message; the answer must ask for
	// the connection to close. Nil answers in plain text.
	Refuse func(status int, msg string) []byte
	// Context, when set, derives each request's context from the one the
	// engine made (canceled when the client goes away or the handler
	// returns), before the request is built: what a handler would
	// otherwise add with a copy of the request (WithContext). start is
	// when the engine began to read the request (its first byte was in),
	// the time its read deadlines count from. names is what the request's
	// field names hold that the hygiene acts on (wire.SanitizeNames),
	// classified as they were read.
	Context func(ctx context.Context, start time.Time, names wire.Names) context.Context
	// Logger receives what cannot be answered (panics other than
	// http.ErrAbortHandler); nil discards it.
	Logger *slog.Logger

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	shutdown  atomic.Bool
	// idleNotify wakes Shutdown when the last tracked connection ends.
	idleNotify chan struct{}
}

// ErrServerClosed is what Serve returns after Shutdown or Close.
var ErrServerClosed = http.ErrServerClosed

// Serve accepts connections on ln and serves each on its own goroutine,
// until ln fails or the server shuts down. It closes ln.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.shutdown.Load() {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners = make(map[net.Listener]struct{})
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	var delay time.Duration
	for {
		rwc, err := ln.Accept()
		if err != nil {
			if s.shutdown.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTemporary) {
				delay = backoff(delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		c := s.newConn(rwc)
		if !s.track(c) {
			rwc.Close()
			continue
		}
		go c.serve()
	}
}

// errTemporary stands for accept errors worth retrying (EMFILE and the
// like report Timeout() on Go's listeners).
var errTemporary = errors.New("temporary accept error")

func backoff(d time.Duration) time.Duration {
	if d == 0 {
		return 5 * time.Millisecond
	}
	if d *= 2; d > time.Second {
		d = time.Second
	}
	return d
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown.Load() {
		return false
	}
	if s.conns == nil {
		s.conns = make(map[*conn]struct{})
	}
	s.conns[c] = struct{}{}
	return true
}

// forget drops c from the tracked connections (closed or hijacked).
func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	n := len(s.conns)
	ch := s.idleNotify
	s.mu.Unlock()
	if n == 0 && ch != nil {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Shutdown stops accepting, closes idle connections, and waits for the
// others to finish their current request (each closes after it), until ctx
// ends: then it returns ctx's error and leaves the rest to Close.
// Hijacked connections are not its concern.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown.Store(true)
	for ln := range s.listeners {
		ln.Close()
	}
	if s.idleNotify == nil {
		s.idleNotify = make(chan struct{}, 1)
	}
	ch := s.idleNotify
	s.mu.Unlock()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.closeIdle() == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		case <-tick.C:
		}
	}
}

// closeIdle closes the connections waiting for a request and returns how
// many connections are left.
func (s *Server) closeIdle() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.state.CompareAndSwap(stateIdle, stateClosed) {
			c.rwc.Close()
		}
	}
	return len(s.conns)
}

// Close closes the listeners and every tracked connection at once.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shutdown.Store(true)
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.state.Store(stateClosed)
		c.rwc.Close()
	}
	return nil
}

func (s *Server) maxHeader() int {
	if s.MaxHeaderBytes > 0 {
		return s.MaxHeaderBytes
	}
	return 64 << 10
}

func (s *Server) idleTimeout() time.Duration {
	if s.IdleTimeout != 0 {
		return s.IdleTimeout
	}
	return s.ReadTimeout
}
