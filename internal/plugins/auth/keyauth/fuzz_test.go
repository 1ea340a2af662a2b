package keyauth

import (
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/store"
)

// FuzzExtract feeds arbitrary header and query values through Authenticate:
// nothing panics, nothing but the one issued key authenticates, and the key
// parameter never survives in the query while every other segment does, in
// order and unchanged.
func FuzzExtract(f *testing.F) {
	st := newMemStore()
	st.consumers["acme"] = store.Consumer{ID: "acme", Plan: "pro"}
	st.keys = append(st.keys, store.APIKey{ID: "key_fuzz", ConsumerID: "acme", Hash: hash(testKey)})
	f.Add("", "")
	f.Add(testKey, "")
	f.Add("", "api_key="+testKey)
	f.Add("  gk_x  ", "a=1&api_key=gk_x&b=%2F")
	f.Add("", "api%5Fkey=%zz&&api_key=a&api_key=b")
	f.Add(strings.Repeat("k", 300), "api_key="+strings.Repeat("%41", 300))
	f.Add("gk_a", "api+key=1;api_key=2&api_key")
	f.Add("\x00\xff", "%")

	a, err := buildStarted(f.Context(), Options{Store: st, Query: "api_key", PollInterval: time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(a.Close)
	f.Fuzz(func(t *testing.T, header, rawQuery string) {
		r := &http.Request{
			Method:     http.MethodGet,
			URL:        &url.URL{Path: "/orders", RawQuery: rawQuery},
			Header:     http.Header{"X-Api-Key": {header}},
			RequestURI: "/orders?" + rawQuery,
		}
		cons, ok, err := a.Authenticate(r)
		if ok != (cons != nil) || ok && err != nil {
			t.Fatalf("Authenticate() = %v, %v, %v: inconsistent", cons, ok, err)
		}
		if ok && cons.ID != "acme" || ok && strings.TrimSpace(header) != testKey && !strings.Contains(rawQuery, testKey[3:]) {
			t.Fatalf("Authenticate(%q, %q) accepted a key the store does not hold", header, rawQuery)
		}
		if err != nil {
			if s := statusOf(err); s != 401 {
				t.Fatalf("Authenticate() error = %v (status %d), want 401", err, s)
			}
			if msg := err.Error(); len(strings.TrimSpace(header)) > 3 && strings.Contains(msg, strings.TrimSpace(header)) {
				t.Fatalf("error %q quotes the header value", msg)
			}
		}
		if _, ok := r.Header["X-Api-Key"]; ok {
			t.Fatal("header survived")
		}
		var kept []string
		for seg := range strings.SplitSeq(rawQuery, "&") {
			if k, _, _ := strings.Cut(seg, "="); !paramIs(k, "api_key") {
				kept = append(kept, seg)
			}
		}
		if want := strings.Join(kept, "&"); r.URL.RawQuery != want {
			t.Fatalf("RawQuery = %q, want %q", r.URL.RawQuery, want)
		}
		for seg := range strings.SplitSeq(r.URL.RawQuery, "&") {
			if k, _, _ := strings.Cut(seg, "="); paramIs(k, "api_key") {
				t.Fatalf("RawQuery %q still has the key parameter", r.URL.RawQuery)
			}
		}
		if !slices.Equal(strings.Split(r.URL.RawQuery, "&"), strings.Split(strings.TrimPrefix(strings.TrimPrefix(r.RequestURI, "/orders"), "?"), "&")) {
			t.Fatalf("RequestURI %q and RawQuery %q disagree", r.RequestURI, r.URL.RawQuery)
		}
	})
}

// FuzzParseConfigHash checks that ParseConfigHash accepts exactly
// "sha256:" and 64 hex digits, and decodes them.
func FuzzParseConfigHash(f *testing.F) {
	f.Add("sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
	f.Add("sha256:")
	f.Add("sha256:9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A0G")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := parseConfigHash(s)
		if err != nil {
			return
		}
		if len(b) != 32 || "sha256:"+hex.EncodeToString(b) != strings.ToLower(s) || !strings.HasPrefix(s, "sha256:") {
			t.Fatalf("ParseConfigHash(%q) = %x", s, b)
		}
	})
}
