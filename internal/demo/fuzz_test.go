package demo

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
)

// FuzzServices sends arbitrary paths and query strings to every sample
// service: none may panic, and every JSON answer must be valid JSON.
func FuzzServices(f *testing.F) {
	for _, seed := range []struct{ path, query string }{
		{"/users/1", ""},
		{"/users/%00", ""},
		{"/orders", "user_id=1"},
		{"/orders", "user_id=99999999999999999999"},
		{"/orders", "user_id=%zz"},
		{"/echo/a/../b", "x=1&x=2"},
		{"/orders/7", "version=v2"},
	} {
		f.Add(seed.path, seed.query)
	}
	var conns sync.WaitGroup
	handlers := []http.Handler{newUsers(nameUsers1), newOrdersV1(), newOrdersV2(), newChat(&conns)}
	f.Fuzz(func(t *testing.T, path, query string) {
		u := &url.URL{Path: "/" + path, RawQuery: query}
		req := httptest.NewRequest(http.MethodGet, "http://demo.test/", nil)
		req.URL = u
		req.RequestURI = u.RequestURI()
		for _, h := range handlers {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Header().Get("Content-Type") == "application/json" && !json.Valid(rec.Body.Bytes()) {
				t.Errorf("GET %s = %d, invalid JSON %q", u, rec.Code, rec.Body)
			}
		}
	})
}
