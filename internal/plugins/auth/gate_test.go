package auth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/plugins/auth/external"
)

// gate answers by X-Gate: "yes" allows with X-User-Role and consumer
// ext-acme, "down" cannot decide, anything else is refused with 403. It
// counts its calls and keeps the consumer it saw.
type gate struct {
	calls int
	saw   *pipeline.Consumer
}

func (g *gate) Check(r *http.Request) (*external.Decision, error) {
	g.calls++
	g.saw = pipeline.ExchangeOf(r).Consumer
	switch r.Header.Get("X-Gate") {
	case "yes":
		return &external.Decision{Allowed: true, Consumer: "ext-acme", Headers: [][2]string{{"X-User-Role", "admin"}}}, nil
	case "down":
		return nil, pipeline.Errorf(http.StatusServiceUnavailable, pipeline.CodeAuthUnavailable, "down")
	}
	return &external.Decision{Status: http.StatusForbidden, Header: http.Header{"X-Reason": {"policy"}, "X-Request-Id": {"service's"}},
		Body: []byte("no")}, nil
}

// TestGates: a route's gates run after its credentials verified, for
// every request, decide alone on a route without methods, and never let
// a client's copy of their headers through.
func TestGates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		methods  []Method
		headers  map[string][]string
		want     int
		calls    int
		consumer string
		role     string
		failures []string
	}{
		{name: "gate alone allows", headers: hdr("X-Gate", "yes"), want: 200, calls: 1, consumer: "ext-acme", role: "admin"},
		{name: "gate alone refuses", headers: hdr("X-Gate", "no", "X-User-Role", "forged"), want: 403, calls: 1, failures: []string{"external/denied"}},
		{name: "gate alone, no credential needed", want: 403, calls: 1, failures: []string{"external/denied"}},
		{name: "gate down", headers: hdr("X-Gate", "down"), want: 503, calls: 1},
		{name: "credential first: missing", methods: []Method{keyMethod{}}, headers: hdr("X-Gate", "yes"), want: 401, calls: 0, failures: []string{"none/missing"}},
		{name: "credential first: invalid", methods: []Method{keyMethod{}}, headers: hdr("X-Gate", "yes", "X-API-Key", "bad"), want: 401, calls: 0, failures: []string{"api_key/invalid"}},
		{name: "credential and gate", methods: []Method{keyMethod{}}, headers: hdr("X-Gate", "yes", "X-API-Key", "good"), want: 200, calls: 1, consumer: "key-acme", role: "admin"},
		{name: "good credential, gate refuses", methods: []Method{keyMethod{}}, headers: hdr("X-Gate", "no", "X-API-Key", "good"), want: 403, calls: 1, failures: []string{"external/denied"}},
		{name: "client's header stripped when the gate sets none", headers: hdr("X-Gate", "yes", "X-User-Role", "forged"), want: 200, calls: 1, consumer: "ext-acme", role: "admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := &gate{}
			var failures []string
			var seen *http.Request
			h := New(Config{Methods: tt.methods, Gates: []Gate{g}, Strip: []string{"X-User-Role"},
				OnFailure: func(m, r string) { failures = append(failures, m+"/"+r) }})(pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				seen = r
				return nil
			}))
			r := httptest.NewRequest(http.MethodGet, "/orders", nil)
			for k, vs := range tt.headers {
				r.Header[k] = vs
			}
			var x pipeline.Exchange
			rec := httptest.NewRecorder()
			rec.Header().Set("X-Request-Id", "gateway's")
			err := h.ServeHTTP(rec, r.WithContext(pipeline.WithExchange(r.Context(), &x)))
			if g.calls != tt.calls {
				t.Errorf("gate calls = %d, want %d", g.calls, tt.calls)
			}
			if !slices.Equal(failures, tt.failures) {
				t.Errorf("OnFailure calls = %q, want %q", failures, tt.failures)
			}
			switch tt.want {
			case 200:
				if err != nil || seen == nil {
					t.Fatalf("ServeHTTP() = %v, reached upstream = %v; want admitted", err, seen != nil)
				}
				if x.Consumer == nil || x.Consumer.ID != tt.consumer {
					t.Errorf("consumer = %+v, want %s", x.Consumer, tt.consumer)
				}
				if got := seen.Header.Values("X-User-Role"); !slices.Equal(got, []string{tt.role}) {
					t.Errorf("X-User-Role = %q, want [%s]", got, tt.role)
				}
				if tt.methods != nil && (g.saw == nil || g.saw.ID != tt.consumer) {
					t.Errorf("gate saw consumer %+v, want the credential's %s", g.saw, tt.consumer)
				}
			case 403:
				if err != nil || seen != nil {
					t.Fatalf("ServeHTTP() = %v, reached upstream = %v; want the gate's answer relayed", err, seen != nil)
				}
				if rec.Code != 403 || rec.Body.String() != "no" || rec.Header().Get("X-Reason") != "policy" {
					t.Errorf("relayed %d %q X-Reason %q, want 403 \"no\" policy", rec.Code, rec.Body.String(), rec.Header().Get("X-Reason"))
				}
				if got := rec.Header().Values("X-Request-Id"); !slices.Equal(got, []string{"gateway's"}) {
					t.Errorf("X-Request-Id = %q, want the gateway's only", got)
				}
			default:
				var he *pipeline.HTTPError
				if !errors.As(err, &he) || he.Status != tt.want || seen != nil {
					t.Fatalf("ServeHTTP() = %v (reached upstream %v), want status %d", err, seen != nil, tt.want)
				}
			}
		})
	}
}
