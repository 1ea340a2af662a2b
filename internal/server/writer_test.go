package server

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/plugins/cors"
)

// listRecorder is a writer that takes a list, as the serving engine does:
// it records which way the header came.
type listRecorder struct {
	*httptest.ResponseRecorder
	list []string
	code int
}

func (r *listRecorder) WriteHeaderFields(code int, fields []string) {
	r.list, r.code = slices.Clone(fields), code
	r.ResponseRecorder.WriteHeader(code)
}

// TestWriteHeaderFields: the server's writer hands a relayed answer's list
// on to the engine only when nothing reads or edits the header as a map
// after it: CORS decorates it, a units header is taken out of it, a gRPC
// call's status is read from it, an interim answer is sent from it. Then
// the list's fields are in the map, after the ones set before, and the
// status and the decorations are what WriteHeader gives.
func TestWriteHeaderFields(t *testing.T) {
	policy, err := cors.New(&config.CORS{Origins: []string{"https://app.example"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	list := []string{"Content-Type", "application/json", "X-Units", "7", "Vary", "Accept"}
	cases := []struct {
		name     string
		setup    func(w *responseWriter)
		code     int
		wantList bool
		check    func(t *testing.T, h http.Header, x *pipeline.Exchange)
	}{
		{name: "plain", code: 200, wantList: true},
		{name: "error status", code: 502, wantList: true},
		{name: "cors", code: 200, setup: func(w *responseWriter) { w.cors, w.origin = policy, "https://app.example" },
			check: func(t *testing.T, h http.Header, _ *pipeline.Exchange) {
				if h.Get("Access-Control-Allow-Origin") != "https://app.example" {
					t.Errorf("CORS not applied: %q", h)
				}
			}},
		{name: "units header", code: 200, setup: func(w *responseWriter) { w.units = "X-Units" },
			check: func(t *testing.T, h http.Header, x *pipeline.Exchange) {
				if _, ok := h["X-Units"]; ok || !x.UnitsSet || x.Units != 7 {
					t.Errorf("units header not taken: header %q, units %d set %v", h, x.Units, x.UnitsSet)
				}
			}},
		{name: "grpc-web call", code: 200, setup: func(w *responseWriter) { w.kind = rpcWeb }},
		{name: "early hints", code: http.StatusEarlyHints},
		{name: "header written already", code: 200, setup: func(w *responseWriter) { w.WriteHeader(204) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := &listRecorder{ResponseRecorder: httptest.NewRecorder()}
			x := &pipeline.Exchange{}
			w := &responseWriter{ResponseWriter: rec, x: x}
			w.Header()["Vary"] = []string{"Origin"}
			if c.setup != nil {
				c.setup(w)
			}
			before := w.status
			w.WriteHeaderFields(c.code, slices.Clone(list))
			h := rec.Header()
			if c.wantList {
				if !slices.Equal(rec.list, list) || rec.code != c.code {
					t.Fatalf("engine got list %q code %d; want the list and %d", rec.list, rec.code, c.code)
				}
				if !slices.Equal(h["Vary"], []string{"Origin"}) || h.Get("Content-Type") != "" {
					t.Errorf("map changed when the list went on: %q", h)
				}
				if w.status != c.code || !w.wroteHeader {
					t.Errorf("recorded status %d wrote %v; want %d", w.status, w.wroteHeader, c.code)
				}
				return
			}
			if rec.list != nil {
				t.Fatalf("list handed on (%q); the fields belong in the map", rec.list)
			}
			// CORS adds its own Vary after them.
			if vary := h["Vary"]; len(vary) < 2 || !slices.Equal(vary[:2], []string{"Origin", "Accept"}) || h.Get("Content-Type") != "application/json" {
				t.Errorf("list not merged after the map's fields: %q", h)
			}
			switch {
			case before != 0:
				if w.status != before {
					t.Errorf("status %d after a second header; want %d kept", w.status, before)
				}
			case c.code < 200:
				if w.wroteHeader {
					t.Errorf("interim answer taken for the final one")
				}
			case w.status != c.code:
				t.Errorf("recorded status %d; want %d", w.status, c.code)
			}
			if c.check != nil {
				c.check(t, h, x)
			}
		})
	}
}
