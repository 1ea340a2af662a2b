package jwt

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	jwtv5 "github.com/golang-jwt/jwt/v5"
)

// logRecorder keeps the records logged through it; safe for concurrent use.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logRecorder) WithGroup(string) slog.Handler            { return h }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}

// skipped returns the kid and reason of each "jwks key skipped" warning.
func (h *logRecorder) skipped() [][2]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out [][2]string
	for _, r := range h.records {
		if r.Message != "jwks key skipped" || r.Level != slog.LevelWarn {
			continue
		}
		var kid, reason string
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "kid":
				kid = a.Value.String()
			case "reason":
				reason = a.Value.String()
			}
			return true
		})
		out = append(out, [2]string{kid, reason})
	}
	return out
}

// TestJWKSSkippedKeysLogged checks that every key a fetch leaves out is
// logged at warn level once per fetch, by kid and with the reason, and
// never per request.
func TestJWKSSkippedKeysLogged(t *testing.T) {
	testKeys(t)
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	enc := jwkJSON(&ecIdP.PublicKey, "enc-2026", "")
	enc["use"] = "enc"
	ed448 := jwkJSON(edIdP.Public(), "ed448-1", "")
	ed448["crv"] = "Ed448"
	server := newIdP(t, jwkJSON(&rsaIdP.PublicKey, "idp-rsa", "RS256"), enc, ed448, jwkJSON(&weak.PublicKey, "legacy-1024", "RS256"))
	clock := newClock()
	rec := &logRecorder{}
	p := newProvider(t, corpConfig(server.URL), nil, Options{Now: clock.Now, Logger: slog.New(rec)})

	good := sign(t, jwtv5.SigningMethodRS256, rsaIdP, map[string]any{"kid": "idp-rsa"}, claimsAt(clock.Now()))
	for range 5 {
		if _, _, ok, err := p.Authenticate(bearerRequest(good)); !ok {
			t.Fatalf("Authenticate() = %v, want the usable key to verify", err)
		}
	}
	wantReasons := []struct{ kid, reason string }{
		{"enc-2026", `use "enc", not "sig"`},
		{"ed448-1", `unsupported OKP curve "Ed448"`},
		{"legacy-1024", "RSA key of 1024 bits"},
	}
	check := func(fetches int) {
		t.Helper()
		got := rec.skipped()
		if len(got) != fetches*len(wantReasons) {
			t.Fatalf("after %d fetches, %d skipped-key warnings: %q; want %d", fetches, len(got), got, fetches*len(wantReasons))
		}
		for i, g := range got {
			w := wantReasons[i%len(wantReasons)]
			if g[0] != w.kid || !strings.Contains(g[1], w.reason) {
				t.Errorf("warning %d = kid %q reason %q, want kid %q and a reason with %q", i, g[0], g[1], w.kid, w.reason)
			}
		}
	}
	check(1)

	// An unknown kid refetches: the skipped keys are logged again, once.
	clock.Advance(11 * time.Second)
	unknown := sign(t, jwtv5.SigningMethodRS256, rsaIdP, map[string]any{"kid": "not-published"}, claimsAt(clock.Now()))
	p.Authenticate(bearerRequest(unknown))
	if n := server.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2", n)
	}
	check(2)
}
