package telemetry

import (
	"fmt"
	"io"
	"net/http/httptest"
	"testing"
	"time"
)

func BenchmarkObserve(b *testing.B) {
	m := NewMetrics()
	rm := m.Route("users")
	methods := []string{"GET", "POST", "GET", "PUT"}
	statuses := []int{200, 200, 404, 502}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			rm.Observe(methods[i&3], statuses[i&3], 1500*time.Microsecond)
			i++
		}
	})
}

func BenchmarkObserveSerial(b *testing.B) {
	rm := NewMetrics().Route("users")
	b.ReportAllocs()
	for b.Loop() {
		rm.Observe("GET", 200, 1500*time.Microsecond)
	}
}

var benchEntry = Entry{
	Time: time.Date(2026, 11, 3, 14, 5, 6, 123456789, time.UTC), RequestID: "01JD5Z7K3M9Q2W8E4R6T",
	Route: "users", Method: "GET", Path: "/users/7f3a9c2e", Status: 200,
	BytesIn: 0, BytesOut: 1834, Duration: 2345 * time.Microsecond,
	Upstream: "users", Target: "http://127.0.0.1:9101", ClientIP: "203.0.113.9",
	Consumer: "acme", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
}

func BenchmarkAccessLog(b *testing.B) {
	a := NewAccessLog(io.Discard)
	b.ReportAllocs()
	for b.Loop() {
		e := benchEntry
		a.Log(&e)
	}
	b.StopTimer()
	if err := a.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(a.Dropped()), "dropped")
}

func BenchmarkAccessLogParallel(b *testing.B) {
	a := NewAccessLog(io.Discard)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e := benchEntry
			a.Log(&e)
		}
	})
	b.StopTimer()
	if err := a.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(a.Dropped()), "dropped")
}

func BenchmarkAppendEntry(b *testing.B) {
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendEntry(buf[:0], &benchEntry)
	}
}

func BenchmarkAppendJSONString(b *testing.B) {
	tests := []struct{ name, s string }{
		{"ascii", "/users/7f3a9c2e/orders/2026-11"},
		{"escapes", "/a\"b\\c\nd\te\x01"},
		{"utf8", "/café/日本語/😀"},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			buf := make([]byte, 0, 256)
			b.ReportAllocs()
			for b.Loop() {
				buf = appendJSONString(buf[:0], tt.s)
			}
		})
	}
}

// BenchmarkScrape renders /metrics for a gateway whose routes all served
// one request, with the per-route histograms on and off; bytes/scrape is
// the exposition's size.
func BenchmarkScrape(b *testing.B) {
	for _, routes := range []int{10, 1000, 10000} {
		for _, hist := range []bool{true, false} {
			b.Run(fmt.Sprintf("routes=%d/route_histograms=%v", routes, hist), func(b *testing.B) {
				m := NewMetrics()
				m.SetRouteHistograms(hist)
				for i := range routes {
					rm := m.Route(fmt.Sprintf("route-%05d", i))
					rm.Observe("GET", 200, time.Millisecond)
					rm.ObserveSizes(0, 512)
				}
				h := m.Handler()
				var size int
				b.ReportAllocs()
				for b.Loop() {
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
					size = rec.Body.Len()
				}
				b.ReportMetric(float64(size), "bytes/scrape")
			})
		}
	}
}

// BenchmarkRetainRoutes drops every route of a gateway whose 10,000 routes
// served, as a reload that replaces them all does.
func BenchmarkRetainRoutes(b *testing.B) {
	names := make([]string, 10000)
	for i := range names {
		names[i] = fmt.Sprintf("route-%05d", i)
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		m := NewMetrics()
		for _, n := range names {
			rm := m.Route(n)
			rm.Observe("GET", 200, time.Millisecond)
			rm.Observe("POST", 201, time.Millisecond)
			rm.RateLimitDecision(DecisionAllowed)
		}
		b.StartTimer()
		m.RetainRoutes(nil)
	}
}
