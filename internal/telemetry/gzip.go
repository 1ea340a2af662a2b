package telemetry

import (
	"compress/gzip"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// gzipped serves h's answers gzip-compressed at gzip.BestSpeed to clients
// that accept gzip (Prometheus does), when they are at least gzipMinBytes
// long. promhttp's own compression uses the default level, whose
// compressor touches about 750 KiB of hash tables per writer (BestSpeed's:
// about 240 KiB) and keeps it in a pool: on an idle gateway, where nothing
// else allocates, that stays resident after the first scrape, to save a
// few kilobytes on an exposition of 14 KB. BestSpeed is also the faster of
// the two on a large exposition, for a somewhat larger answer.
func gzipped(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Accept-Encoding")
		if !acceptsGzip(r.Header.Values("Accept-Encoding")) {
			h.ServeHTTP(w, r)
			return
		}
		gw := &gzipWriter{ResponseWriter: w}
		h.ServeHTTP(gw, r)
		gw.finish()
	})
}

// gzipMinBytes is the shortest answer gzipped compresses, as NGINX's
// gzip_min_length: below it the answer goes as it is.
const gzipMinBytes = 64 << 10

var gzipWriters = sync.Pool{New: func() any {
	gz, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed) // a valid level: no error
	return gz
}}

// gzipWriter holds the answer until it is gzipMinBytes long, then sends
// the rest compressed; finish sends a shorter one as it is.
type gzipWriter struct {
	http.ResponseWriter
	code int // from WriteHeader, sent with the first byte
	held []byte
	gz   *gzip.Writer // set once compressing
}

func (w *gzipWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *gzipWriter) Write(p []byte) (int, error) {
	if w.gz != nil {
		return w.gz.Write(p)
	}
	w.held = append(w.held, p...)
	if len(w.held) < gzipMinBytes {
		return len(p), nil
	}
	h := w.Header()
	h.Set("Content-Encoding", "gzip")
	h.Del("Content-Length") // the uncompressed one
	w.sendHeader()
	w.gz = gzipWriters.Get().(*gzip.Writer)
	w.gz.Reset(w.ResponseWriter)
	held := w.held
	w.held = nil
	if _, err := w.gz.Write(held); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w *gzipWriter) sendHeader() {
	if w.code != 0 {
		w.ResponseWriter.WriteHeader(w.code)
	}
}

// finish ends the answer: the gzip stream's end, or what was held.
func (w *gzipWriter) finish() {
	if w.gz != nil {
		w.gz.Close()
		w.gz.Reset(nil)
		gzipWriters.Put(w.gz)
		return
	}
	w.sendHeader()
	if len(w.held) > 0 {
		w.ResponseWriter.Write(w.held)
	}
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
