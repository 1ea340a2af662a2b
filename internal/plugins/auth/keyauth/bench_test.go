package keyauth

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/store"
)

// benchAuth returns an Authenticator whose cache already holds n keys.
func benchAuth(b *testing.B, n int, query string) (*Authenticator, []string) {
	b.Helper()
	st := newMemStore()
	st.consumers["acme"] = store.Consumer{ID: "acme", Plan: "pro", Groups: []string{"partners"}}
	a, err := buildStarted(b.Context(), Options{Store: st, Query: query, PollInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(a.Close)
	keys := make([]string, n)
	for i := range keys {
		plain, k, err := Generate()
		if err != nil {
			b.Fatal(err)
		}
		k.ConsumerID = "acme"
		st.keys = append(st.keys, k)
		keys[i] = plain
		if _, ok, err := a.Authenticate(keyRequest(plain)); !ok {
			b.Fatalf("warming: %v", err)
		}
	}
	return a, keys
}

// BenchmarkAuthenticate measures a warm-cache check of a key in the header,
// the request path's common case: it should not allocate.
func BenchmarkAuthenticate(b *testing.B) {
	b.Run("header", func(b *testing.B) {
		a, keys := benchAuth(b, 1, "")
		r := httptest.NewRequest(http.MethodGet, "/orders/7", nil)
		vals := []string{keys[0]}
		b.ReportAllocs()
		for b.Loop() {
			r.Header["X-Api-Key"] = vals
			if _, ok, _ := a.Authenticate(r); !ok {
				b.Fatal("refused")
			}
		}
	})
	b.Run("query", func(b *testing.B) {
		a, keys := benchAuth(b, 1, "api_key")
		const rest = "page=2&sort=-created"
		target := "/orders?page=2&api_key=" + keys[0] + "&sort=-created"
		r := httptest.NewRequest(http.MethodGet, target, nil)
		raw := r.URL.RawQuery
		b.ReportAllocs()
		for b.Loop() {
			r.URL.RawQuery, r.RequestURI = raw, target
			if _, ok, _ := a.Authenticate(r); !ok || r.URL.RawQuery != rest {
				b.Fatal("refused")
			}
		}
	})
	b.Run("no_key", func(b *testing.B) {
		a, _ := benchAuth(b, 0, "api_key")
		r := httptest.NewRequest(http.MethodGet, "/orders?page=2&sort=-created", nil)
		b.ReportAllocs()
		for b.Loop() {
			if _, ok, err := a.Authenticate(r); ok || err != nil {
				b.Fatal("unexpected")
			}
		}
	})
	b.Run("negative_cached", func(b *testing.B) {
		a, _ := benchAuth(b, 0, "")
		bad, _, _ := Generate()
		a.Authenticate(keyRequest(bad))
		r := httptest.NewRequest(http.MethodGet, "/orders/7", nil)
		vals := []string{bad}
		b.ReportAllocs()
		for b.Loop() {
			r.Header["X-Api-Key"] = vals
			if _, _, err := a.Authenticate(r); err == nil {
				b.Fatal("accepted")
			}
		}
	})
}

// BenchmarkAuthenticateParallel measures warm-cache checks from every
// core, with all requests on one key (one shard) and spread over many.
func BenchmarkAuthenticateParallel(b *testing.B) {
	for _, n := range []int{1, 64, 4096} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			a, keys := benchAuth(b, n, "")
			var next atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				r := httptest.NewRequest(http.MethodGet, "/orders/7", nil)
				i := int(next.Add(1))
				vals := make([][]string, len(keys))
				for j, k := range keys {
					vals[j] = []string{k}
				}
				for pb.Next() {
					i++
					r.Header["X-Api-Key"] = vals[i%len(vals)]
					if _, ok, _ := a.Authenticate(r); !ok {
						b.Error("refused")
						return
					}
				}
			})
		})
	}
}

func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Generate(); err != nil {
			b.Fatal(err)
		}
	}
}
