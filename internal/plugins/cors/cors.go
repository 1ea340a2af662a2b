package cors

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// Policy is one route's compiled CORS configuration. It is immutable and
// safe for concurrent use.
type Policy struct {
	anyOrigin bool
	origins   map[string]bool
	methods   string
	methodSet map[string]bool
	headers   string
	headerSet map[string]bool
	anyHeader bool
	// exposeValue is the Access-Control-Expose-Headers value, shared by
	// every response (read-only).
	exposeValue []string
	credentials bool
	maxAge      string
}

// New compiles c. Methods default to the simple methods, plus those of the
// route when given.
func New(c *config.CORS, routeMethods []string) (*Policy, error) {
	p := &Policy{origins: map[string]bool{}, methodSet: map[string]bool{}, headerSet: map[string]bool{}, credentials: c.AllowCredentials}
	for _, o := range c.Origins {
		if o == "*" {
			p.anyOrigin = true
			continue
		}
		p.origins[strings.ToLower(strings.TrimSuffix(o, "/"))] = true
	}
	methods := c.Methods
	if len(methods) == 0 {
		methods = routeMethods
	}
	if len(methods) == 0 {
		methods = []string{"GET", "HEAD", "POST"}
	}
	for _, m := range methods {
		p.methodSet[strings.ToUpper(m)] = true
	}
	p.methods = strings.Join(sortedKeys(p.methodSet), ", ")
	for _, h := range c.Headers {
		if h == "*" {
			p.anyHeader = true
		}
		p.headerSet[strings.ToLower(h)] = true
	}
	p.headers = strings.Join(c.Headers, ", ")
	p.exposeValue = []string{exposeList(c.ExposeHeaders)}
	if c.MaxAge > 0 {
		p.maxAge = strconv.FormatInt(int64(c.MaxAge.D().Seconds()), 10)
	}
	return p, nil
}

// gatewayHeaders are the response headers the gateway itself sets that a
// script needs to read: the request ID, and the rate limit's state and
// back-off. None is CORS-safelisted, so every decorated response exposes
// them, after the route's own expose_headers.
var gatewayHeaders = []string{"X-Request-ID", "Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"}

// exposeList is the Access-Control-Expose-Headers value: the configured
// names, then the gateway's own not already named (case-insensitively).
func exposeList(configured []string) string {
	seen := make(map[string]bool, len(configured)+len(gatewayHeaders))
	var names []string
	for _, n := range append(slices.Clone(configured), gatewayHeaders...) {
		if k := strings.ToLower(n); !seen[k] {
			seen[k] = true
			names = append(names, n)
		}
	}
	return strings.Join(names, ", ")
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// IsPreflight reports whether r is a CORS preflight request.
func IsPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != ""
}

func (p *Policy) allowOrigin(origin string) (string, bool) {
	if origin == "" {
		return "", false
	}
	if p.anyOrigin && !p.credentials {
		return "*", true
	}
	if p.anyOrigin || p.origins[strings.ToLower(origin)] {
		return origin, true
	}
	return "", false
}

// Preflight answers a preflight request: 204 with the allowed origin,
// methods and headers, or 403 when the origin, method or a header is not
// allowed.
func (p *Policy) Preflight(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Add("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
	origin, ok := p.allowOrigin(r.Header.Get("Origin"))
	if !ok {
		return pipeline.Errorf(http.StatusForbidden, pipeline.CodeForbidden, "CORS origin not allowed")
	}
	if m := r.Header.Get("Access-Control-Request-Method"); !p.methodSet[strings.ToUpper(m)] {
		return pipeline.Errorf(http.StatusForbidden, pipeline.CodeForbidden, "CORS method not allowed")
	}
	for _, line := range r.Header.Values("Access-Control-Request-Headers") {
		for _, name := range strings.Split(line, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			if name != "" && !p.anyHeader && !p.headerSet[name] {
				return pipeline.Errorf(http.StatusForbidden, pipeline.CodeForbidden, "CORS header %q not allowed", name)
			}
		}
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", p.methods)
	switch {
	case p.anyHeader:
		// "*" is literal for credentialed requests, so echo what was asked.
		if req := r.Header.Values("Access-Control-Request-Headers"); len(req) > 0 {
			h.Set("Access-Control-Allow-Headers", strings.Join(req, ", "))
		}
	case p.headers != "":
		h.Set("Access-Control-Allow-Headers", p.headers)
	}
	if p.credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if p.maxAge != "" {
		h.Set("Access-Control-Max-Age", p.maxAge)
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Decorate applies the policy to a final response header for a request
// from origin (its Origin header): for an allowed origin, any
// Access-Control-* header already there (an upstream's) is replaced by the
// policy's, so a browser never sees two conflicting answers; for another
// origin, or none, h is left as it is. The server calls it once per
// response, for relayed answers and its own errors alike.
func (p *Policy) Decorate(h http.Header, origin string) {
	allowed, ok := p.allowOrigin(origin)
	if !ok {
		return
	}
	for k := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			delete(h, k)
		}
	}
	h["Access-Control-Allow-Origin"] = []string{allowed}
	h.Add("Vary", "Origin")
	if p.credentials {
		h["Access-Control-Allow-Credentials"] = []string{"true"}
	}
	h["Access-Control-Expose-Headers"] = p.exposeValue
}
