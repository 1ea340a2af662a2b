package demo

import (
	"fmt"
	"io"
	"net/http"
	"time"
)

// user is one account of the users service.
type user struct {
	ID    int    `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// seedUsers is the users service's data, the same on both instances.
var seedUsers = []user{
	{ID: 1, Name: "Ada Lovelace", Email: "ada@example.com"},
	{ID: 2, Name: "Grace Hopper", Email: "grace@example.com"},
	{ID: 3, Name: "Alan Turing", Email: "alan@example.com"},
	{ID: 4, Name: "Katherine Johnson", Email: "katherine@example.com"},
	{ID: 5, Name: "Margaret Hamilton", Email: "margaret@example.com"},
}

// Event stream settings of GET /events: a few events, slow enough for a
// person to watch them arrive one by one through the gateway.
const (
	eventCount    = 5
	eventInterval = 200 * time.Millisecond
)

// maxEchoBody bounds the request body /echo reads back.
const maxEchoBody = 64 << 10

// echoReply is what GET /echo answers: the request as the upstream saw it,
// after the gateway's rewrites and added headers.
type echoReply struct {
	ServedBy   string              `json:"served_by"`
	Method     string              `json:"method"`
	Path       string              `json:"path"`
	Query      map[string][]string `json:"query"`
	Host       string              `json:"host"`
	RemoteAddr string              `json:"remote_addr"`
	Headers    map[string][]string `json:"headers"`
	Body       string              `json:"body,omitempty"`
}

// newUsers returns the users service; name is its X-Served-By value.
func newUsers(name string) http.Handler {
	byID := make(map[string]user, len(seedUsers))
	for _, u := range seedUsers {
		byID[fmt.Sprint(u.ID)] = u
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", health)
	mux.HandleFunc("GET /users", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, seedUsers)
	})
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		u, ok := byID[r.PathValue("id")]
		if !ok {
			writeError(w, http.StatusNotFound, "not_found", "no user with id %q", r.PathValue("id"))
			return
		}
		writeJSON(w, http.StatusOK, u)
	})
	echo := func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxEchoBody))
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "reading body: %v", err)
			return
		}
		writeJSON(w, http.StatusOK, echoReply{
			ServedBy:   name,
			Method:     r.Method,
			Path:       r.URL.Path,
			Query:      r.URL.Query(),
			Host:       r.Host,
			RemoteAddr: r.RemoteAddr,
			Headers:    r.Header,
			Body:       string(body),
		})
	}
	// Any method and any path below /echo, so rewrites and prefixes show.
	mux.HandleFunc("/echo", echo)
	mux.HandleFunc("/echo/", echo)
	mux.HandleFunc("GET /events", events)
	return mux
}

// events streams eventCount server-sent events, eventInterval apart, then
// ends the response. It stops early when the client leaves.
func events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	// Tells NGINX-style buffering proxies in front to pass events through.
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	t := time.NewTicker(eventInterval)
	defer t.Stop()
	for n := 1; n <= eventCount; n++ {
		fmt.Fprintf(w, "id: %d\nevent: tick\ndata: {\"n\":%d,\"of\":%d,\"time\":%q}\n\n",
			n, n, eventCount, time.Now().UTC().Format(time.RFC3339Nano))
		if err := rc.Flush(); err != nil {
			return
		}
		if n == eventCount {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
	}
}
