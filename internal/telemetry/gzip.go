package telemetry

import (
	"compress/gzip"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// gzipped serves h's answers gzip-compressed at gzip.BestSpeed to clients
// that accept gzip (Prometheus does). promhttp's own compression uses the
// default level, whose compressor touches about 750 KiB of hash tables per
// writer (BestSpeed's: about 240 KiB) and keeps it in a pool: on an idle
// gateway, where nothing else allocates, that stays resident after the
// first scrape. BestSpeed is also the faster of the two on a large
// exposition, for a somewhat larger answer.
func gzipped(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Accept-Encoding")
		if !acceptsGzip(r.Header.Values("Accept-Encoding")) {
			h.ServeHTTP(w, r)
			return
		}
		gz := gzipWriters.Get().(*gzip.Writer)
		gz.Reset(w)
		w.Header().Set("Content-Encoding", "gzip")
		h.ServeHTTP(&gzipWriter{ResponseWriter: w, gz: gz}, r)
		gz.Close()
		gz.Reset(nil)
		gzipWriters.Put(gz)
	})
}

var gzipWriters = sync.Pool{New: func() any {
	gz, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed) // a valid level: no error
	return gz
}}

// gzipWriter compresses what the handler writes.
type gzipWriter struct {
	http.ResponseWriter
	gz *gzip.Writer
}

func (w *gzipWriter) WriteHeader(code int) {
	// The length is the uncompressed one.
	w.Header().Del("Content-Length")
	w.ResponseWriter.WriteHeader(code)
}

func (w *gzipWriter) Write(p []byte) (int, error) {
	w.Header().Del("Content-Length")
	return w.gz.Write(p)
}

// acceptsGzip reports whether an Accept-Encoding field (RFC 9110, section
// 12.5.3) accepts gzip: listed, alone or among others, without q=0.
func acceptsGzip(fields []string) bool {
	for _, f := range fields {
		for part := range strings.SplitSeq(f, ",") {
			name, params, _ := strings.Cut(part, ";")
			if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
				continue
			}
			q := 1.0
			for p := range strings.SplitSeq(params, ";") {
				k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
						q = f
					}
				}
			}
			return q > 0
		}
	}
	return false
}
