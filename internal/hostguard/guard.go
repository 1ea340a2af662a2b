package hostguard

import (
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/apijson"
	"github.com/gantry-dev/gantry/internal/wire"
)

// Guard refuses what a web page could make a browser send to a listener of
// the gateway's own (the admin listener, the consumer portal; #13): a Host
// that is not one of the listener's own names (DNS rebinding: evil.example
// resolving to 127.0.0.1), an Origin that is not the listener's own,
// and (through BodyAllowed) a write whose body is not JSON, a "simple"
// request a page may send anywhere without asking. It applies with or without a
// token, to every path but the open ones given to Wrap. It is read-only
// after New and safe for concurrent use.
type Guard struct {
	// hosts are the accepted host names and addresses, lower case,
	// without brackets or trailing dot, each with the ports it is
	// accepted with; an empty port list accepts any port and none.
	hosts map[string][]string
	// origins are accepted Origin values besides the listener's own, in
	// the form normalOrigin returns.
	origins map[string]bool
	// port is the bound port of the listener, "" when unknown.
	port string
}

// New builds the guard of a listener configured on listen and bound to
// addr (nil when not known), accepting hosts and origins besides its own
// (such as admin.allowed_hosts and admin.allowed_origins). Entries were
// checked by config validation; malformed ones are ignored.
func New(listen string, addr net.Addr, hosts, origins []string) *Guard {
	g := &Guard{hosts: map[string][]string{}, origins: map[string]bool{}}
	own := []string{"localhost", "127.0.0.1", "::1"}
	if h, _, err := net.SplitHostPort(listen); err == nil {
		own = append(own, h)
	}
	if ta, ok := addr.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		g.port = strconv.Itoa(ta.Port)
		if ip.IsUnspecified() {
			// Listening on every interface: the machine's own addresses.
			own = append(own, interfaceAddrs()...)
		} else {
			own = append(own, ip.Unmap().String())
		}
	}
	for _, h := range own {
		if h = wire.CanonicalHost(h); h != "" && h != "0.0.0.0" && h != "::" {
			g.hosts[h] = nil
		}
	}
	for _, e := range hosts {
		h, port, ok := wire.SplitHost(e)
		if !ok {
			continue
		}
		if port == "" {
			g.hosts[h] = nil
			continue
		}
		if ports, seen := g.hosts[h]; !seen || ports != nil {
			g.hosts[h] = append(ports, port)
		}
	}
	for _, o := range origins {
		if n, ok := normalOrigin(o); ok {
			g.origins[n] = true
		}
	}
	return g
}

func interfaceAddrs() []string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []string
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap().WithZone("").String())
		}
	}
	return out
}

// Wrap returns h behind the guard. Paths in open are served to any Host
// and Origin: read-only, no secrets, and scraped or probed by machines that
// address the listener by whatever name or address they know it under
// (/healthz, /readyz, /metrics).
func (g *Guard) Wrap(h http.Handler, open map[string]bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !open[r.URL.Path] {
			if !g.hostAllowed(r.Host) {
				apijson.Error(w, http.StatusForbidden, "forbidden", "host not allowed")
				return
			}
			if o, ok := r.Header["Origin"]; ok && !g.originAllowed(o, r.Host) {
				apijson.Error(w, http.StatusForbidden, "forbidden", "origin not allowed")
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// hostAllowed reports whether a Host header names this listener.
func (g *Guard) hostAllowed(hostHeader string) bool {
	h, port, ok := wire.SplitHost(hostHeader)
	if !ok {
		return false
	}
	ports, found := g.hosts[h]
	if !found {
		return false
	}
	if ports == nil {
		return true
	}
	for _, p := range ports {
		if p == port {
			return true
		}
	}
	return false
}

// originAllowed reports whether the Origin values (one is expected) are
// the listener's own origin, http://<accepted host>[:port] with the port the
// request came to or the bound port, or are among the allowed origins.
// "null" and anything unparsable are foreign.
func (g *Guard) originAllowed(values []string, hostHeader string) bool {
	if len(values) != 1 {
		return false
	}
	o, ok := normalOrigin(values[0])
	if !ok {
		return false
	}
	if g.origins[o] {
		return true
	}
	rest, ok := strings.CutPrefix(o, "http://")
	if !ok || !g.hostAllowed(rest) {
		return false
	}
	_, port, _ := wire.SplitHost(rest)
	_, reqPort, _ := wire.SplitHost(hostHeader)
	if port == "" {
		port = "80"
	}
	if reqPort == "" {
		reqPort = "80"
	}
	return port == reqPort || port == g.port
}

// BodyAllowed reports whether r may carry its body: a write (POST, PUT,
// PATCH, DELETE) with a body must declare it application/json (parameters
// such as charset allowed), since a form or text/plain body is what a page
// can send cross-site without a preflight. Other methods are not checked.
func BodyAllowed(r *http.Request) bool {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return r.ContentLength == 0 || isJSON(r.Header.Get("Content-Type"))
	}
	return true
}

func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

// normalOrigin returns an Origin (or an allowed_origins entry) as
// "scheme://host[:port]" in lower case, the default port dropped. Only
// http and https origins without path, query or user info are accepted.
func normalOrigin(o string) (string, bool) {
	scheme, rest, ok := strings.Cut(o, "://")
	if !ok {
		return "", false
	}
	scheme = strings.ToLower(scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	h, port, ok := wire.SplitHost(rest)
	if !ok {
		return "", false
	}
	if port == "80" && scheme == "http" || port == "443" && scheme == "https" {
		port = ""
	}
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	if port != "" {
		return scheme + "://" + h + ":" + port, true
	}
	return scheme + "://" + h, true
}
