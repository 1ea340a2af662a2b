package h1

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// An address nobody asks for again must not keep its idle connections
// open: the pool's sweep closes them after the idle timeout.
func TestIdleConnectionsSweptWithoutTraffic(t *testing.T) {
	t.Parallel()
	var closed atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	tr := &Transport{IdleConnTimeout: 50 * time.Millisecond}
	for range 2 {
		res, err := tr.RoundTrip(newRequest(t, http.MethodGet, srv.URL, ""))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
	}
	if n := tr.IdleConns(); n != 1 {
		t.Fatalf("IdleConns() = %d after two sequential requests, want 1", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for tr.IdleConns() != 0 || closed.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: %d idle, %d closed on the server; want 0 and 1", tr.IdleConns(), closed.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The pool still works afterwards, and the sweep rearms.
	res, err := tr.RoundTrip(newRequest(t, http.MethodGet, srv.URL, ""))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	for tr.IdleConns() != 0 {
		if time.Now().After(deadline.Add(5 * time.Second)) {
			t.Fatal("the second idle connection was not swept")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
