package lambda

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// The host header is the client's Host, or the one a request_headers rule
// sets, as the proxy would send it upstream.
func TestEventHostHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		rules *config.HeaderRules
		want  string
	}{
		{"client host with port", nil, "shop.example.com:8443"},
		{"rule sets Host", &config.HeaderRules{Set: map[string]string{"Host": "internal.example.com"}}, "internal.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := newInvokeAPI(t, answerJSON(`{"statusCode":200}`))
			h := newHandler(t, api, nil, &config.Route{RequestHeaders: tt.rules})
			r := httptest.NewRequest("GET", "http://shop.example.com:8443/cart", nil)
			body, err := h.event(r, &pipeline.Exchange{ID: "req-h", ClientIP: "192.0.2.9"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var e event
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatal(err)
			}
			if got := e.Headers["host"]; got != tt.want {
				t.Errorf("headers[host] = %q, want %q", got, tt.want)
			}
		})
	}
}
