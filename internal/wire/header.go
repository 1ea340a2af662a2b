package wire

import (
	"net/http"
	"strings"
)

// DropAmbiguousHeaders deletes every header whose name holds anything but
// letters, digits and '-', as NGINX does by default (ignore_invalid_headers
// on, underscores_in_headers off): servers that turn header names into
// variables map '-' and other punctuation to '_' (CGI, PHP, several web
// frameworks; lighttpd maps every byte that is not a letter or digit), so
// X_Consumer_ID, X.Consumer.ID or X-Consumer+ID would otherwise stand in
// for X-Consumer-ID. It also deletes Proxy, whatever its case: CGI
// turns it into HTTP_PROXY, which many HTTP clients of a CGI upstream take
// for their outgoing proxy ("httpoxy", CVE-2016-5385 to 5388); no client
// has a reason to send it. It does not allocate.
func DropAmbiguousHeaders(h http.Header) { ScrubHeaders(h, false) }

// ScrubHeaders is DropAmbiguousHeaders and, when forwarding is set,
// DropForwarding, in one pass over h. It does not allocate.
func ScrubHeaders(h http.Header, forwarding bool) { scrub(h, forwarding) }

// Sanitize is the hygiene the server gives a request's header before
// routing, in this order: ScrubHeaders (forwarding as there),
// StripUpgrade, DropConnectionListed. The walk ScrubHeaders makes also
// sees whether h holds Connection, Upgrade or HTTP2-Settings; without
// them the other two have nothing to do (they look up only those keys)
// and are skipped, which saves most requests three lookups and two
// deletes of absent keys. FuzzSanitize holds it to the three calls.
func Sanitize(h http.Header, forwarding bool) {
	if !scrub(h, forwarding) {
		return
	}
	StripUpgrade(h)
	DropConnectionListed(h)
}

// SanitizeNames is Sanitize for a header whose names a parser classified
// as it read them (names, see Names): when none of them is one Sanitize
// acts on, it returns without walking h. Without NamesKnown in names it is
// Sanitize. The names must be a superset of h's keys: a field added
// after they were classified must be one Sanitize would leave alone.
// FuzzSanitize holds it to Sanitize.
func SanitizeNames(h http.Header, forwarding bool, names Names) {
	if names&NamesKnown != 0 && names&(namesDrop|namesHop) == 0 && (!forwarding || names&namesForwarding == 0) {
		return
	}
	Sanitize(h, forwarding)
}

// Names is what Sanitize would act on among a set of field names: the
// union of NameClass over them, with NamesKnown once the set is complete.
// The zero value knows nothing, and SanitizeNames then walks the header.
type Names uint8

const (
	// NamesKnown marks a set a parser collected over every field name
	// of a header block.
	NamesKnown Names = 1 << iota
	// namesDrop: a name ScrubHeaders always deletes.
	namesDrop
	// namesForwarding: a name DropForwarding deletes.
	namesForwarding
	// namesHop: Connection, Upgrade or HTTP2-Settings, which StripUpgrade
	// and DropConnectionListed act on.
	namesHop
)

// NameClass returns what Sanitize does with the canonical field name k:
// the one place that decides it, for the walk over a header and for a
// parser classifying names as it reads them (CanonicalizeName).
func NameClass(k string) Names {
	if !plainName(k) {
		return namesDrop
	}
	return plainNameClass(k)
}

// plainNameClass is NameClass for a name of letters, digits and '-'.
func plainNameClass[T string | []byte](k T) Names {
	switch {
	case eqFold(k, "Proxy"):
		return namesDrop
	case forwardingName(k):
		return namesForwarding
	case string(k) == "Connection" || string(k) == "Upgrade" || string(k) == "Http2-Settings":
		return namesHop
	}
	return 0
}

// CanonicalizeName makes the field name b canonical in place, as
// http.CanonicalHeaderKey does to a token (the first letter and each one
// after a hyphen upper case, the others lower case), in the same pass
// that checks it: it reports whether b is a token (ValidFieldName) and,
// when it is, its NameClass. A parser calls it on each name before the
// block becomes a string, so a name sent in another case ("x-api-key",
// as many clients send it) costs no string of its own, and the walk
// Sanitize would make over the header can be skipped (SanitizeNames).
func CanonicalizeName(b []byte) (Names, bool) {
	if len(b) == 0 {
		return 0, false
	}
	// One table lookup says what a byte is, and another what it becomes:
	// no branch per byte but the loop's.
	kinds := byte(nameToken | namePlain)
	after := byte(1) // 1 at the start and after '-': upper case there
	for i, c := range b {
		kinds &= nameKind[c]
		b[i] = c ^ nameFlip[after][c]
		after = 0
		if c == '-' {
			after = 1
		}
	}
	switch {
	case kinds&nameToken == 0:
		return 0, false
	case kinds&namePlain == 0:
		return namesDrop, true
	}
	return plainNameClass(b), true
}

// nameKind marks each byte's kinds for CanonicalizeName: a token's byte
// (tchar), a plain name's (plainByte).
var nameKind = func() (t [256]byte) {
	for c := 0; c < 256; c++ {
		if tchar[c] {
			t[c] |= nameToken
		}
		if plainByte[c] {
			t[c] |= namePlain
		}
	}
	return t
}()

const (
	nameToken = 1 << iota
	namePlain
)

// nameFlip is what CanonicalizeName XORs a byte with: 0x20 to make a
// lower-case letter upper case where one goes ([1], at the start and
// after '-'), or an upper-case one lower case elsewhere ([0]); 0 for
// every other byte.
var nameFlip = func() (t [2][256]byte) {
	for c := 'a'; c <= 'z'; c++ {
		t[1][c] = 0x20
		t[0][c-'a'+'A'] = 0x20
	}
	return t
}()

// scrub is ScrubHeaders; it reports whether h holds a key StripUpgrade or
// DropConnectionListed would act on.
func scrub(h http.Header, forwarding bool) (upgradeOrConnection bool) {
	for k := range h {
		switch c := NameClass(k); {
		case c == namesDrop || forwarding && c == namesForwarding:
			delete(h, k)
		case c == namesHop:
			upgradeOrConnection = true
		}
	}
	return upgradeOrConnection
}

// plainName reports whether k holds only ASCII letters, digits and '-'.
func plainName(k string) bool {
	for i := 0; i < len(k); i++ {
		if !plainByte[k[i]] {
			return false
		}
	}
	return true
}

// plainByte marks the bytes plainName accepts.
var plainByte = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-'
	}
	return t
}()

// DropConnectionListed removes from request headers h the fields the
// client named in Connection (RFC 9110 §7.6.1: they are meant for this hop
// only), then leaves in Connection only the tokens that name hop-by-hop
// fields ("upgrade", "te", "keep-alive"...) and "close". The server calls it
// before the gateway sets any header of its own: afterwards no client list
// can remove a header the gateway set (X-Forwarded-*, X-Request-ID,
// X-Consumer-*, forwarded JWT claims, request_headers rules), whichever way
// the request is forwarded. The hop-by-hop fields themselves stay: the
// proxy removes them, and reads Upgrade and TE: trailers before it does.
// h must have canonical keys, as the server's request headers do. It does
// not allocate unless Connection names a field to remove.
func DropConnectionListed(h http.Header) {
	conn, ok := h["Connection"]
	if !ok {
		return
	}
	drop := false
	for _, v := range conn {
		for t := range strings.SplitSeq(v, ",") {
			if t = TrimOWS(t); t != "" && !connectionOption(t) {
				drop = true
			}
		}
	}
	if !drop {
		return
	}
	var kept []string
	for _, v := range conn {
		for t := range strings.SplitSeq(v, ",") {
			t = TrimOWS(t)
			switch {
			case t == "":
			case connectionOption(t):
				kept = append(kept, t)
			default:
				// Any case: net/http may leave a key it cannot
				// canonicalise as it came.
				for k := range h {
					if strings.EqualFold(k, t) {
						delete(h, k)
					}
				}
			}
		}
	}
	if len(kept) == 0 {
		delete(h, "Connection")
		return
	}
	h["Connection"] = []string{strings.Join(kept, ", ")}
}

// connectionOption reports whether a Connection token is an option of the
// connection itself or names a hop-by-hop field (RFC 9110 §7.6.1), which
// the proxy handles and removes on its own.
func connectionOption(t string) bool {
	for _, o := range connectionOptions {
		if strings.EqualFold(t, o) {
			return true
		}
	}
	return false
}

var connectionOptions = [...]string{"close", "keep-alive", "upgrade", "te", "trailer",
	"transfer-encoding", "proxy-connection", "proxy-authenticate", "http2-settings"}

// DropForwarding removes what only a trusted proxy may tell the gateway
// about the client's connection: every X-Forwarded-* field (-For, -Host,
// -Proto, -Port, -Prefix, -Server, -Scheme, -Ssl, -Uri...), Forwarded
// (RFC 7239), X-Original-Forwarded-For and X-Real-IP, and X-Original-URL
// and X-Rewrite-URL (frameworks such as Symfony and IIS's URL Rewrite take
// them for the request path, which would let a client pass a path the
// gateway never matched), and the client-address fields CDNs and load
// balancers set (Client-IP, X-Client-IP, True-Client-IP,
// CF-Connecting-IP, Fastly-Client-IP, X-Cluster-Client-IP: many
// applications read HTTP_CLIENT_IP before X-Forwarded-For), whatever their
// case.
// The server calls it for requests from peers outside
// server.trusted_proxies: upstreams that trust such fields (to build
// redirects, decide on HTTPS, log a client address) get only what the
// gateway sets itself. It does not allocate.
func DropForwarding(h http.Header) {
	for k := range h {
		if forwardingName(k) {
			delete(h, k)
		}
	}
}

// forwardingName reports whether k names a field DropForwarding removes.
// It takes bytes too, for a parser classifying a name it has not made a
// string yet (CanonicalizeName).
func forwardingName[T string | []byte](k T) bool {
	if len(k) < len("Client-Ip") {
		return false
	}
	switch k[0] | 0x20 {
	case 'x':
		const xf = "X-Forwarded-"
		if len(k) > len(xf) && eqFold(k[:len(xf)], xf) {
			return true
		}
		return eqFold(k, "X-Real-Ip") || eqFold(k, "X-Original-Forwarded-For") ||
			eqFold(k, "X-Original-Url") || eqFold(k, "X-Rewrite-Url") ||
			eqFold(k, "X-Client-Ip") || eqFold(k, "X-Cluster-Client-Ip")
	case 'f':
		return eqFold(k, "Forwarded") || eqFold(k, "Fastly-Client-Ip")
	case 'c':
		return eqFold(k, "Client-Ip") || eqFold(k, "Cf-Connecting-Ip")
	case 't':
		return eqFold(k, "True-Client-Ip")
	}
	return false
}

// eqFold reports whether k is the ASCII name in any case, the lengths
// compared first: most names a request carries differ from each of the
// above in length. For an ASCII name it is strings.EqualFold: a k of the
// same length in bytes that holds a byte from 0x80 up has fewer runes
// than name, which EqualFold does not match either.
func eqFold[T string | []byte](k T, name string) bool {
	if len(k) != len(name) {
		return false
	}
	for i := 0; i < len(k); i++ {
		a, b := k[i], name[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
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
	websocket = len(up) == 1 && strings.EqualFold(TrimOWS(up[0]), "websocket") &&
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
			t = TrimOWS(t)
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
			if strings.EqualFold(TrimOWS(t), token) {
				return true
			}
		}
	}
	return false
}

// CutAuthScheme splits an Authorization value into its scheme and the
// rest (RFC 9110 §11.4), trimmed of spaces and tabs. The scheme ends at
// the first space or tab: many upstreams split credentials on any
// whitespace (Python's str.split, Django REST framework), so a value such
// as "Bearer<TAB>token" must be read as a bearer token here too, or a
// token the gateway did not verify would reach them.
func CutAuthScheme(v string) (scheme, rest string) {
	v = TrimOWS(v)
	i := strings.IndexAny(v, " \t")
	if i < 0 {
		return v, ""
	}
	return v[:i], TrimOWS(v[i+1:])
}

// First is h.Get(key) for a key already in canonical form: the first
// value, "" for none, without canonicalizing key again on every call as
// Get does. The header maps the gateway reads have canonical names: both
// servers and both upstream clients canonicalize the names they parse.
func First(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}
