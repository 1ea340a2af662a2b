package wire

import (
	"net/http"
	"strings"
)

// DropUnderscoreHeaders deletes every header whose name contains '_', as
// NGINX does by default (underscores_in_headers off): proxies and
// frameworks that map '_' and '-' to the same variable would otherwise let
// X_Consumer_ID stand in for X-Consumer-ID. It does not allocate.
func DropUnderscoreHeaders(h http.Header) {
	for k := range h {
		if strings.IndexByte(k, '_') >= 0 {
			delete(h, k)
		}
	}
}

// StripUpgrade keeps a WebSocket handshake and removes every other protocol
// upgrade from request headers h, so that, for example, an h2c upgrade never
// reaches an upstream. A WebSocket handshake has "upgrade" among the
// Connection tokens and Upgrade is exactly "websocket" (both compared
// case-insensitively); for it StripUpgrade returns true. Otherwise it
// deletes Upgrade and HTTP2-Settings and removes the "upgrade" and
// "http2-settings" tokens from Connection, keeping the others. HTTP2-Settings
// goes in both cases. h must have canonical keys, as the server's request
// headers do.
func StripUpgrade(h http.Header) (websocket bool) {
	conn := h["Connection"]
	up := h["Upgrade"]
	websocket = len(up) == 1 && strings.EqualFold(strings.Trim(up[0], " \t"), "websocket") &&
		HasToken(conn, "upgrade")
	delete(h, "Http2-Settings")
	if !websocket {
		delete(h, "Upgrade")
	}
	if !HasToken(conn, "http2-settings") && (websocket || !HasToken(conn, "upgrade")) {
		return websocket
	}
	var kept []string
	for _, v := range conn {
		for t := range strings.SplitSeq(v, ",") {
			t = strings.Trim(t, " \t")
			if t == "" || strings.EqualFold(t, "http2-settings") || !websocket && strings.EqualFold(t, "upgrade") {
				continue
			}
			kept = append(kept, t)
		}
	}
	if len(kept) == 0 {
		delete(h, "Connection")
	} else {
		h["Connection"] = []string{strings.Join(kept, ", ")}
	}
	return websocket
}

// HasToken reports whether the comma-separated lists vs (the values of a
// header such as Connection) hold token, compared case-insensitively.
func HasToken(vs []string, token string) bool {
	for _, v := range vs {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.Trim(t, " \t"), token) {
				return true
			}
		}
	}
	return false
}
