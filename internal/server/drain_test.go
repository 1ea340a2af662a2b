package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// listening starts a gateway with a catch-all route to an upstream that
// answers "hello".
func listening(t *testing.T) *Server {
	t.Helper()
	up := testkit.Upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }))
	s, err := New(Options{Config: parseConfig(t, gatewayConfig(up.URL, catchAll))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}

// roundTrip writes raw requests on conn, one after the other, and reads
// each answer.
func roundTrip(t *testing.T, conn net.Conn, br *bufio.Reader, req string) *http.Response {
	t.Helper()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(res.Body)
	res.Body.Close()
	return res
}

func TestDrain(t *testing.T) {
	t.Parallel()
	s := listening(t)
	if !s.Ready() || s.Draining() {
		t.Fatalf("before Drain: Ready() = %v, Draining() = %v; want true, false", s.Ready(), s.Draining())
	}
	// A keep-alive connection opened before the lame duck.
	conn, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	req := fmt.Sprintf("GET / HTTP/1.1\r\nHost: %s\r\n\r\n", s.Addr())
	if res := roundTrip(t, conn, br, req); res.StatusCode != 200 || res.Close {
		t.Fatalf("before Drain: %d, close %v; want 200 kept alive", res.StatusCode, res.Close)
	}

	s.Drain()
	s.Drain() // idempotent
	if s.Ready() || !s.Draining() {
		t.Fatalf("after Drain: Ready() = %v, Draining() = %v; want false, true", s.Ready(), s.Draining())
	}
	tests := []struct {
		name string
		dial bool // a new connection rather than the kept-alive one
	}{
		{name: "kept-alive connection", dial: false},
		{name: "new connection", dial: true},
	}
	for _, tt := range tests {
		c, r := conn, br
		if tt.dial {
			nc, err := net.Dial("tcp", s.Addr().String())
			if err != nil {
				t.Fatalf("%s: the listener refuses during the lame duck: %v", tt.name, err)
			}
			defer nc.Close()
			c, r = nc, bufio.NewReader(nc)
		}
		res := roundTrip(t, c, r, req)
		if res.StatusCode != 200 {
			t.Errorf("%s: %d during the lame duck, want 200", tt.name, res.StatusCode)
		}
		// ReadResponse takes Connection: close out of the header into Close.
		if !res.Close {
			t.Errorf("%s: no Connection: close during the lame duck", tt.name)
		}
		// The server closes the connection after the answer.
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if n, err := r.Read(make([]byte, 1)); err == nil || n > 0 {
			t.Errorf("%s: connection still open after Connection: close", tt.name)
		}
	}
}

func TestLameDuckHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		draining   bool
		connection string
		want       string
	}{
		{name: "serving", want: ""},
		{name: "draining", draining: true, want: "close"},
		{name: "draining keep-alive asked", draining: true, connection: "keep-alive", want: "close"},
		{name: "draining upgrade", draining: true, connection: "Upgrade", want: ""},
		{name: "draining upgrade in a list", draining: true, connection: "keep-alive, upgrade", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var draining atomic.Bool
			draining.Store(tt.draining)
			var got []string
			next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = w.Header()["Connection"] })
			r, _ := http.NewRequest(http.MethodGet, "http://gw/", nil)
			if tt.connection != "" {
				r.Header.Set("Connection", tt.connection)
			}
			lameDuck{&draining, next}.ServeHTTP(httptest.NewRecorder(), r)
			if strings.Join(got, ",") != tt.want {
				t.Errorf("Connection = %q, want %q", got, tt.want)
			}
		})
	}
}

// HTTP/2 has no Connection header: Go's HTTP/2 server turns the handler's
// Connection: close into a GOAWAY, so a client's next request opens a new
// connection (to another node, behind a load balancer).
func TestDrainHTTP2GoAway(t *testing.T) {
	t.Parallel()
	s := listening(t)
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Protocols: &p}}
	defer c.CloseIdleConnections()
	get := func() (reused bool) {
		t.Helper()
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, "http://"+s.Addr().String()+"/", nil)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || res.ProtoMajor != 2 {
			t.Fatalf("%s %d, want HTTP/2 200", res.Proto, res.StatusCode)
		}
		if res.Header.Get("Connection") != "" {
			t.Errorf("HTTP/2 answer carries Connection %q", res.Header.Get("Connection"))
		}
		return reused
	}
	get()
	if !get() {
		t.Fatal("second request before Drain did not reuse the connection")
	}
	s.Drain()
	get() // served on the open connection, which then goes away
	deadline := time.Now().Add(2 * time.Second)
	for get() {
		if time.Now().After(deadline) {
			t.Fatal("requests after Drain keep reusing the HTTP/2 connection: no GOAWAY")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
