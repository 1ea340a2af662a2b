package testkit

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Upstream starts h on a loopback httptest server closed when the test ends.
func Upstream(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// Seen is what an echo upstream received.
type Seen struct {
	Method string              `json:"method"`
	Host   string              `json:"host"`
	URI    string              `json:"uri"`
	Path   string              `json:"path"`
	Query  string              `json:"query"`
	Header map[string][]string `json:"header"`
	Body   string              `json:"body"`
}

// Echo is an upstream that answers every request with a JSON Seen and keeps
// a log of what it received.
type Echo struct {
	*httptest.Server
	Name string
	mu   sync.Mutex
	seen []Seen
}

// NewEcho starts an echo upstream; name comes back in X-Upstream.
func NewEcho(t testing.TB, name string) *Echo {
	t.Helper()
	e := &Echo{Name: name}
	e.Server = Upstream(t, e)
	return e
}

func (e *Echo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s := Seen{Method: r.Method, Host: r.Host, URI: r.RequestURI, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: string(body)}
	e.mu.Lock()
	e.seen = append(e.seen, s)
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Upstream", e.Name)
	json.NewEncoder(w).Encode(s)
}

// Requests returns a copy of what the upstream has received so far.
func (e *Echo) Requests() []Seen {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Seen(nil), e.seen...)
}

// Count returns how many requests the upstream received.
func (e *Echo) Count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.seen)
}

// Reset forgets what was received.
func (e *Echo) Reset() {
	e.mu.Lock()
	e.seen = nil
	e.mu.Unlock()
}

// DecodeSeen parses an echo answer.
func DecodeSeen(t testing.TB, body []byte) Seen {
	t.Helper()
	var s Seen
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatalf("decoding echo answer %q: %v", strings.TrimSpace(string(body)), err)
	}
	return s
}
