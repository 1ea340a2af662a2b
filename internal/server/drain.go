package server

import (
	"net/http"
	"sync/atomic"

	"github.com/gantry-dev/gantry/internal/wire"
)

// Drain starts the lame-duck period that comes before Shutdown. From now
// on Ready reports false, so /readyz answers 503 and load balancers stop
// sending new connections, while the client listener keeps accepting and
// serving as before; every answer but a protocol upgrade carries
// Connection: close, so a keep-alive client reconnects (to another node)
// after its current request instead of waiting for its connection to be
// cut. Calling it again does nothing.
func (s *Server) Drain() { s.draining.Store(true) }

// Draining reports whether Drain or Shutdown was called.
func (s *Server) Draining() bool { return s.draining.Load() }

// lameDuck is the client listener's handler: the gateway itself, plus the
// Connection: close of the lame-duck period. HTTP/2 connections take it as
// the signal to send GOAWAY (Go's HTTP/2 server does so for a handler's
// Connection: close) and do not forward the header.
type lameDuck struct {
	draining *atomic.Bool
	next     http.Handler
}

// clientHandler is what the client listener serves.
func (s *Server) clientHandler() http.Handler { return lameDuck{&s.draining, s} }

func (l lameDuck) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// An upgrade's answer is 101 on a connection that is handed over, not
	// reused: Connection must stay Upgrade there.
	if l.draining.Load() && !wire.HasToken(r.Header["Connection"], "upgrade") {
		w.Header()["Connection"] = connectionClose
	}
	l.next.ServeHTTP(w, r)
}

var connectionClose = []string{"close"}
