package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// otlpSink is the collector a tracing scenario exports to: an OTLP/HTTP
// receiver that accepts every POST /v1/traces, counts the requests and
// their bytes, and throws the spans away. It runs inside the harness, one
// per tracing scenario, so each scenario's exports are counted apart.
type otlpSink struct {
	srv *http.Server
	ln  net.Listener
	// exports and bytes count the accepted POSTs and their body bytes (as
	// sent: compressed if the exporter compresses).
	exports, bytes atomic.Int64
}

// startSink starts a sink on a free loopback port.
func startSink() (*otlpSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	k := &otlpSink{ln: ln}
	k.srv = &http.Server{Handler: k, ReadHeaderTimeout: 10 * time.Second}
	go k.srv.Serve(ln)
	return k, nil
}

// endpoint is the OTLP/HTTP base URL; exporters append /v1/traces.
func (k *otlpSink) endpoint() string { return "http://" + k.ln.Addr().String() }

func (k *otlpSink) close() { k.srv.Close() }

// counts reads the counters.
func (k *otlpSink) counts() (exports, bytes int64) { return k.exports.Load(), k.bytes.Load() }

// ServeHTTP answers an export as a collector that accepted every span
// does: 200 with an empty ExportTraceServiceResponse, which is an empty
// body in protobuf and {} in the JSON encoding.
func (k *otlpSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/traces" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	n, err := io.Copy(io.Discard, r.Body)
	if err != nil {
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	k.exports.Add(1)
	k.bytes.Add(n)
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "{}")
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}
