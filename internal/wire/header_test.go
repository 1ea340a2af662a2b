package wire

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDropUnderscoreHeaders(t *testing.T) {
	t.Parallel()
	h := http.Header{
		"X_consumer_id":   {"acme"},
		"X-Consumer-Id":   {"globex"},
		"_":               {"x"},
		"Accept":          {"*/*"},
		"X-Api-Key":       {"k"},
		"Content_length_": {"1"},
	}
	DropUnderscoreHeaders(h)
	want := http.Header{"X-Consumer-Id": {"globex"}, "Accept": {"*/*"}, "X-Api-Key": {"k"}}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
}

func TestStripUpgrade(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		in            http.Header
		want          http.Header
		wantWebSocket bool
	}{
		{
			name:          "websocket",
			in:            http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Key": {"k"}},
			want:          http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Key": {"k"}},
			wantWebSocket: true,
		},
		{
			name:          "websocket any case in a list",
			in:            http.Header{"Connection": {"keep-alive, UPGRADE"}, "Upgrade": {" WebSocket "}},
			want:          http.Header{"Connection": {"keep-alive, UPGRADE"}, "Upgrade": {" WebSocket "}},
			wantWebSocket: true,
		},
		{
			name:          "websocket with http2-settings",
			in:            http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Upgrade": {"websocket"}, "Http2-Settings": {"AAA"}},
			want:          http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}},
			wantWebSocket: true,
		},
		{
			name: "h2c",
			in:   http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Upgrade": {"h2c"}, "Http2-Settings": {"AAMAAABkAAQAAP__"}},
			want: http.Header{},
		},
		{
			name: "h2c keeps other tokens",
			in:   http.Header{"Connection": {"keep-alive, Upgrade", "x-trace"}, "Upgrade": {"h2c"}, "X-Trace": {"1"}},
			want: http.Header{"Connection": {"keep-alive, x-trace"}, "X-Trace": {"1"}},
		},
		{
			name: "websocket without connection token",
			in:   http.Header{"Connection": {"keep-alive"}, "Upgrade": {"websocket"}},
			want: http.Header{"Connection": {"keep-alive"}},
		},
		{
			name: "websocket among upgrades",
			in:   http.Header{"Connection": {"upgrade"}, "Upgrade": {"h2c, websocket"}},
			want: http.Header{},
		},
		{
			name: "two upgrade headers",
			in:   http.Header{"Connection": {"upgrade"}, "Upgrade": {"websocket", "h2c"}},
			want: http.Header{},
		},
		{
			name: "no upgrade",
			in:   http.Header{"Connection": {"close"}, "Accept": {"*/*"}},
			want: http.Header{"Connection": {"close"}, "Accept": {"*/*"}},
		},
		{
			name: "empty",
			in:   http.Header{},
			want: http.Header{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := StripUpgrade(tt.in); got != tt.wantWebSocket {
				t.Errorf("StripUpgrade() = %v, want %v", got, tt.wantWebSocket)
			}
			if diff := cmp.Diff(tt.want, tt.in); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
		})
	}
}
