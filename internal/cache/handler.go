package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// Route is one route's cache settings and reporting.
type Route struct {
	// Name is the route's name: its entries are purged by it.
	Name string
	// Fingerprint changes whenever the route's configuration does, so a
	// reload that changes the route stops serving its older entries.
	Fingerprint string
	Policy      Policy
	// ByConsumer keys entries by the consumer (vary_by: consumer); VaryBy
	// by these request headers (canonical names).
	ByConsumer bool
	VaryBy     []string
	// OnResult, when set, is told what the cache did with each request.
	OnResult func(Result)
}

// Fingerprint identifies a route's configuration: entries are keyed by
// it, so a reload that changes the route stops serving what it cached
// before.
func Fingerprint(rc *config.Route) (string, error) {
	b, err := json.Marshal(rc)
	if err != nil {
		return "", fmt.Errorf("fingerprinting route %s: %w", rc.Name, err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:8]), nil
}

// revalidationTimeout bounds a background revalidation, which no client
// waits for.
const revalidationTimeout = time.Minute

// Middleware returns the route's cache step. It must come after the steps
// that refuse or count requests (authentication, limits, admission) and
// right before the terminal.
func (c *Cache) Middleware(rt Route) pipeline.Middleware {
	return func(next pipeline.Handler) pipeline.Handler {
		return &handler{c: c, rt: rt, next: next}
	}
}

type handler struct {
	c    *Cache
	rt   Route
	next pipeline.Handler
}

var _ pipeline.Handler = (*handler)(nil)

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	x := pipeline.ExchangeOf(r)
	if !h.eligible(r, x) {
		h.report(x, Bypass)
		w.Header().Set("X-Cache", Bypass.header())
		return h.next.ServeHTTP(w, r)
	}
	ctx := r.Context()
	pk := h.primary(r, x)
	// A second round only when a coalesced answer turned out to vary on
	// a header this request differs in; by then the vary record is known.
	for range 2 {
		e, key := h.lookup(ctx, pk, r)
		now := h.c.now()
		if e != nil && e.Fresh(now) {
			return h.serve(w, r, x, e, now, Hit)
		}
		if r.Method == http.MethodHead {
			// HEAD is answered from GET's entries; a HEAD answer has no
			// body to store.
			h.report(x, Miss)
			w.Header().Set("X-Cache", Miss.header())
			return h.next.ServeHTTP(w, r)
		}
		if e != nil && !e.MustRevalidate && e.Age(now) < e.Lifetime+e.Stale {
			h.revalidate(r, x, pk, key, e)
			return h.serve(w, r, x, e, now, Stale)
		}
		cl, leader := h.c.join(key)
		if leader {
			return h.fill(w, r, x, pk, key, e, cl)
		}
		select {
		case <-cl.done:
		case <-ctx.Done():
			return pipeline.Error(pipeline.StatusClientClosed, ctx.Err())
		}
		if cl.e == nil {
			// The answer was not one to share (not storable, too large,
			// an error): this request asks on its own.
			h.report(x, Miss)
			w.Header().Set("X-Cache", Miss.header())
			return h.next.ServeHTTP(w, r)
		}
		if len(cl.e.Vary) == 0 || h.secondary(pk, cl.e.Vary, r) == cl.key {
			return h.serve(w, r, x, cl.e, h.c.now(), Hit)
		}
	}
	h.report(x, Miss)
	w.Header().Set("X-Cache", Miss.header())
	return h.next.ServeHTTP(w, r)
}

// eligible reports whether the cache may answer r: a GET or HEAD, not a
// range or a precondition other than If-None-Match and If-Modified-Since,
// not an upgrade, and from a consumer only on a route keyed by consumer.
func (h *handler) eligible(r *http.Request, x *pipeline.Exchange) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	hd := r.Header
	for _, k := range []string{"Range", "If-Range", "If-Match", "If-Unmodified-Since", "Upgrade"} {
		if _, ok := hd[k]; ok {
			return false
		}
	}
	if x != nil && x.Consumer != nil && !h.rt.ByConsumer {
		return false
	}
	return true
}

// authorized reports whether r carries credentials its entry is not keyed
// by (RFC 9111 section 3.5).
func (h *handler) authorized(r *http.Request, x *pipeline.Exchange) bool {
	if _, ok := r.Header["Authorization"]; !ok {
		return false
	}
	return !h.rt.ByConsumer || x == nil || x.Consumer == nil
}

// requestPath is the path the client asked for.
func requestPath(r *http.Request, x *pipeline.Exchange) string {
	if x != nil && x.RequestPath != "" {
		return x.RequestPath
	}
	return r.URL.Path
}

// keyBuilder collects the fields of a key, each ended by a zero byte, in
// a buffer that stays on the stack for keys of ordinary size.
type keyBuilder struct {
	b []byte
}

func (k *keyBuilder) field(parts ...string) {
	for _, p := range parts {
		k.b = append(k.b, p...)
	}
	k.b = append(k.b, 0)
}

// sum is the key: the first 128 bits of the fields' SHA-256, in hex.
func (k *keyBuilder) sum() string {
	h := sha256.Sum256(k.b)
	return hex.EncodeToString(h[:16])
}

// primary is r's key before the upstream's Vary: the route's fingerprint,
// host, version, path and query, and what the route varies by.
func (h *handler) primary(r *http.Request, x *pipeline.Exchange) string {
	var buf [256]byte
	k := keyBuilder{b: buf[:0]}
	k.field(h.rt.Fingerprint)
	k.field(hostname(r.Host))
	if x != nil {
		k.field(x.Version)
	}
	k.field(requestPath(r, x))
	k.field(r.URL.RawQuery)
	if h.rt.ByConsumer && x != nil && x.Consumer != nil {
		k.field("consumer:", x.Consumer.ID)
	}
	for _, name := range h.rt.VaryBy {
		k.field(name, ":", headerValue(r.Header, name))
	}
	return k.sum()
}

// hostname is host without its port, lowercase: nodes behind one name
// listen on different ports, and share entries (as NGINX's $host does).
func hostname(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(host)
}

// secondary is r's key under primary key pk for an answer that varies on
// names.
func (h *handler) secondary(pk string, names []string, r *http.Request) string {
	var buf [256]byte
	k := keyBuilder{b: buf[:0]}
	k.field(pk)
	for _, name := range names {
		k.field(name, ":", headerValue(r.Header, name))
	}
	return k.sum()
}

// headerValue joins a request header's field lines, as RFC 9111 section
// 4.1 lets a cache normalize them.
func headerValue(hd http.Header, name string) string {
	vs := hd.Values(name)
	switch len(vs) {
	case 0:
		return ""
	case 1:
		return strings.TrimSpace(vs[0])
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = strings.TrimSpace(v)
	}
	return strings.Join(out, ",")
}

// lookup returns r's entry and its key: the primary key's, or, when that
// holds a vary record, the entry under r's secondary key.
func (h *handler) lookup(ctx context.Context, pk string, r *http.Request) (*Entry, string) {
	e, err := h.c.store.Get(ctx, h.rt.Name, pk)
	if err != nil {
		h.c.warn("cache lookup failed", h.rt.Name, err)
		return nil, pk
	}
	if e == nil || !e.isVary() {
		return e, pk
	}
	sk := h.secondary(pk, e.Vary, r)
	v, err := h.c.store.Get(ctx, h.rt.Name, sk)
	if err != nil {
		h.c.warn("cache lookup failed", h.rt.Name, err)
		return nil, sk
	}
	if v != nil && v.isVary() {
		return nil, sk
	}
	return v, sk
}

// put stores e for r and returns its key: under the primary key, or under
// r's secondary key with a vary record under the primary.
func (h *handler) put(ctx context.Context, pk string, r *http.Request, e *Entry, now time.Time) string {
	ctx = context.WithoutCancel(ctx)
	keep := e.keep(now)
	key := pk
	if len(e.Vary) > 0 {
		key = h.secondary(pk, e.Vary, r)
		rec := &Entry{Vary: e.Vary, Route: e.Route, Path: e.Path}
		if err := h.c.store.Set(ctx, h.rt.Name, pk, rec, keep); err != nil {
			h.c.warn("cache store failed", h.rt.Name, err)
		}
	}
	if err := h.c.store.Set(ctx, h.rt.Name, key, e, keep); err != nil {
		h.c.warn("cache store failed", h.rt.Name, err)
	}
	return key
}

// outbound is the request a fill or revalidation sends: r without the
// client's own validators (the cache needs a whole answer to store), with
// the stale entry's validators when there is one.
func outbound(ctx context.Context, r *http.Request, stale *Entry) *http.Request {
	out := r.WithContext(ctx)
	out.Header = r.Header.Clone()
	out.Header.Del("If-None-Match")
	out.Header.Del("If-Modified-Since")
	if stale != nil {
		if v := stale.Header.Get("Etag"); v != "" {
			out.Header.Set("If-None-Match", v)
		}
		if v := stale.Header.Get("Last-Modified"); v != "" {
			out.Header.Set("If-Modified-Since", v)
		}
	}
	return out
}

// fetch sends out to the terminal through a capture and returns the entry
// to answer with, if any, whether it is a stale entry's refresh, and
// whether it may be stored; cw tells whether the answer was relayed
// instead.
func (h *handler) fetch(cw *capture, out *http.Request, x *pipeline.Exchange, stale *Entry) (e *Entry, refresh, keep bool, err error) {
	ex := exchange{requested: h.c.now(), authorized: h.authorized(out, x), route: h.rt.Name, path: requestPath(out, x)}
	cw.header = http.Header{}
	cw.max = h.rt.Policy.MaxBody
	cw.decide = func(status int, hd http.Header) bool {
		if status == http.StatusNotModified && stale != nil {
			return true
		}
		_, ok := newEntry(status, hd, nil, ex, h.rt.Policy)
		return ok
	}
	err = h.next.ServeHTTP(cw, out)
	if err != nil || cw.passing || !cw.wroteHeader {
		return nil, false, false, err
	}
	ex.received = h.c.now()
	if cw.status == http.StatusNotModified {
		e, ok := refreshed(stale, cw.header, ex, h.rt.Policy)
		if !ok {
			// Served this once, as confirmed, but no longer kept.
			e := *stale
			e.Stored, e.InitialAge, e.Lifetime = ex.received, 0, 0
			return &e, true, false, nil
		}
		return e, true, true, nil
	}
	e, ok := newEntry(cw.status, cw.header, cw.body, ex, h.rt.Policy)
	return e, false, ok, nil
}

// fill asks the terminal for r's answer as the leader of key's call,
// stores it when it may, and answers the client and the call's waiters.
func (h *handler) fill(w http.ResponseWriter, r *http.Request, x *pipeline.Exchange, pk, key string, stale *Entry, cl *call) error {
	defer h.c.finish(key, cl, nil, "")
	cw := &capture{w: w, onPass: func() { h.c.finish(key, cl, nil, "") }}
	e, refresh, keep, err := h.fetch(cw, outbound(r.Context(), r, stale), x, stale)
	switch {
	case cw.passing:
		h.report(x, Miss)
		return err
	case err != nil:
		// Nothing reached the client: the error is answered as it is,
		// and an answer that broke off becomes the gateway's 502.
		h.report(x, Miss)
		if ae, ok := errors.AsType[*pipeline.AbortedError](err); ok && ae.Status != 0 {
			return err
		}
		if errors.Is(err, http.ErrAbortHandler) {
			return pipeline.Error(http.StatusBadGateway, err)
		}
		return err
	case e == nil:
		// Buffered but not storable after all: relay it.
		cw.pass()
		h.report(x, Miss)
		return nil
	}
	now := h.c.now()
	storedAt := ""
	if keep {
		storedAt = h.put(r.Context(), pk, r, e, now)
	}
	h.c.finish(key, cl, e, storedAt)
	if refresh {
		return h.serve(w, r, x, e, now, Revalidated)
	}
	return h.serve(w, r, x, e, now, Miss)
}

// revalidate starts the background revalidation of the stale entry e
// under key, unless one is running.
func (h *handler) revalidate(r *http.Request, x *pipeline.Exchange, pk, key string, e *Entry) {
	if !h.c.startRevalidation(key) {
		return
	}
	// The request's own Exchange belongs to it: the terminal records the
	// upstream and attempts in a copy.
	var bx pipeline.Exchange
	if x != nil {
		bx = *x
		bx.Params = slices.Clone(x.Params)
	}
	ctx, cancel := context.WithTimeout(pipeline.WithExchange(context.WithoutCancel(r.Context()), &bx), revalidationTimeout)
	out := outbound(ctx, r, e)
	u := *r.URL
	out.URL, out.Body = &u, http.NoBody
	go func() {
		defer h.c.endRevalidation(key)
		defer cancel()
		cw := &capture{}
		ne, _, keep, err := h.fetch(cw, out, &bx, e)
		if err != nil || !keep {
			return
		}
		h.put(ctx, pk, out, ne, h.c.now())
	}()
}

// serve answers r from e: the entry's status, header and body with Age
// and X-Cache, or 304 when the client's own validators match it.
func (h *handler) serve(w http.ResponseWriter, r *http.Request, x *pipeline.Exchange, e *Entry, now time.Time, res Result) error {
	h.report(x, res)
	hd := w.Header()
	copyHeader(hd, e.Header)
	hd["Age"] = []string{formatSeconds(e.Age(now))}
	hd["X-Cache"] = resultValues[res]
	if notModified(r, e) {
		// As net/http's ServeContent answers a matching precondition.
		delete(hd, "Content-Type")
		delete(hd, "Content-Length")
		delete(hd, "Content-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	if e.Status != http.StatusNoContent && e.Status != http.StatusNotModified {
		hd["Content-Length"] = e.contentLength()
	}
	w.WriteHeader(e.Status)
	if r.Method != http.MethodHead && len(e.Body) > 0 {
		_, _ = w.Write(e.Body)
	}
	return nil
}

// notModified reports whether r's validators match the 200 entry e (RFC
// 9110 section 13.2.2): If-None-Match by weak comparison, else
// If-Modified-Since against Last-Modified.
func notModified(r *http.Request, e *Entry) bool {
	if e.Status != http.StatusOK {
		return false
	}
	if inm := r.Header.Values("If-None-Match"); len(inm) > 0 {
		etag := e.Header.Get("Etag")
		return etag != "" && matchETag(inm, etag)
	}
	ims := r.Header.Get("If-Modified-Since")
	if ims == "" {
		return false
	}
	t, err := http.ParseTime(ims)
	if err != nil {
		return false
	}
	lm, err := http.ParseTime(e.Header.Get("Last-Modified"))
	return err == nil && !lm.After(t)
}

// matchETag reports whether an If-None-Match list matches etag by weak
// comparison (RFC 9110 section 8.8.3.2).
func matchETag(list []string, etag string) bool {
	want := strings.TrimPrefix(etag, "W/")
	for _, l := range list {
		for t := range strings.SplitSeq(l, ",") {
			t = strings.TrimSpace(t)
			if t == "*" || (t != "" && strings.TrimPrefix(t, "W/") == want) {
				return true
			}
		}
	}
	return false
}

func (h *handler) report(x *pipeline.Exchange, res Result) {
	if x != nil {
		x.Cache = res.String()
	}
	if h.rt.OnResult != nil {
		h.rt.OnResult(res)
	}
}
