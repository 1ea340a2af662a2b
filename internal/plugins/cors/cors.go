package cors

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// Name is the plugin's name in configuration.
const Name = "cors"

// Policy is one route's compiled CORS configuration. It is immutable and
// safe for concurrent use.
type Policy struct {
	anyOrigin   bool
	origins     map[string]bool
	methods     string
	methodSet   map[string]bool
	headers     string
	headerSet   map[string]bool
	anyHeader   bool
	expose      string
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
	p.expose = strings.Join(c.ExposeHeaders, ", ")
	if c.MaxAge > 0 {
		p.maxAge = strconv.FormatInt(int64(c.MaxAge.D().Seconds()), 10)
	}
	return p, nil
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

// Middleware decorates actual cross-origin responses. Upstream CORS headers
// are replaced, so a browser never sees two conflicting answers.
func (p *Policy) Middleware(next pipeline.Handler) pipeline.Handler {
	return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		origin, ok := p.allowOrigin(r.Header.Get("Origin"))
		if !ok {
			return next.ServeHTTP(w, r)
		}
		return next.ServeHTTP(&writer{ResponseWriter: w, p: p, origin: origin}, r)
	})
}

type writer struct {
	http.ResponseWriter
	p      *Policy
	origin string
	done   bool
}

func (w *writer) decorate() {
	if w.done {
		return
	}
	w.done = true
	h := w.Header()
	for k := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			delete(h, k)
		}
	}
	h.Set("Access-Control-Allow-Origin", w.origin)
	h.Add("Vary", "Origin")
	if w.p.credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if w.p.expose != "" {
		h.Set("Access-Control-Expose-Headers", w.p.expose)
	}
}

func (w *writer) WriteHeader(code int) {
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.decorate()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *writer) Write(b []byte) (int, error) {
	w.decorate()
	return w.ResponseWriter.Write(b)
}

func (w *writer) Flush() {
	w.decorate()
	http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection (hijack, deadlines).
func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
