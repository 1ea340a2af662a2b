package proxy

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/gantry-dev/gantry/internal/forward"
	"github.com/gantry-dev/gantry/internal/h1"
	"github.com/gantry-dev/gantry/internal/upstream"
	"github.com/gantry-dev/gantry/internal/wire"
)

// The direct path forwards a plain HTTP/1.1 exchange without
// httputil.ReverseProxy: the outbound request is built from pooled values
// straight into the HTTP/1.1 client (package h1), and the response is
// copied by the handler itself. It makes the decisions ReverseProxy makes
// (hop-by-hop headers, TE: trailers, trailers, flushing of streams) and the
// handler's own (rewrite, modifyResponse) through the same functions, so
// both paths send and answer the same; it saves ReverseProxy's request
// clone, header copy, trace context and per-attempt context, which on a
// 100-byte answer cost about as much as the gateway's own work.
//
// Protocol upgrades, request bodies of unknown length or over h1.MaxBody,
// Expect: 100-continue and h2c targets take ReverseProxy, and so do https
// targets unless their upstream is declared protocol http1.

// directTarget reports whether the direct path may send to t. An https
// target of an upstream that leaves the protocol to ALPN may speak h2 to
// net/http's Transport, and an answer over h2 is not the same to clients as
// one over HTTP/1.1 (its framing, trailers, 1xx and header normalization
// differ), so only a declared HTTP/1.1 upstream, whose every request is
// HTTP/1.1 over TLS on both paths, takes the direct path; its fast client
// then has a TLS configuration.
func (h *handler) directTarget(t *upstream.Target) bool {
	if t.H2C {
		return false
	}
	return t.Scheme == "http" || (t.Scheme == "https" && h.fast.TLSClientConfig != nil)
}

// direct reports whether r can take the direct path (its target decides
// too: see serveDirect's caller).
func direct(r *http.Request) bool {
	if r.ContentLength < 0 || r.ContentLength > h1.MaxBody || len(r.Trailer) > 0 || len(r.TransferEncoding) > 0 {
		return false
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
	default:
		return false
	}
	h := r.Header
	if _, ok := h["Upgrade"]; ok {
		return false
	}
	if _, ok := h["Expect"]; ok {
		return false
	}
	return !wire.HasToken(h["Connection"], "upgrade")
}

// outbound is the request of one direct attempt, pooled: the URL, the
// header map (cleared, its buckets kept) and the fields are reused across
// requests.
type outbound struct {
	req    http.Request
	url    url.URL
	hdr    http.Header
	ob     h1.Outbound
	fields [forward.MaxForwardFields]wire.Field
}

var outbounds = sync.Pool{New: func() any { return &outbound{hdr: make(http.Header, 16)} }}

func (o *outbound) release() {
	if len(o.hdr) > 0 {
		clear(o.hdr)
	}
	o.req = http.Request{}
	o.url = url.URL{}
	// Only the fields this request used hold strings to let go of.
	clear(o.fields[:min(len(o.ob.Extra), len(o.fields))])
	o.ob = h1.Outbound{}
	outbounds.Put(o)
}

// serveDirect runs attempt a over the direct path, with the request body to
// send: replay, or else body of the client's length (nil for none). It
// reports whether the response was aborted after it started, as serve
// does, and taken false, having sent nothing, when a header rule made the
// request one the HTTP/1.1 client does not take (an Expect header).
func (h *handler) serveDirect(a *attempt, replay []byte, body io.ReadCloser, length int64) (aborted, taken bool) {
	in, x, t := a.in, a.x, a.target
	o := outbounds.Get().(*outbound)
	defer o.release()

	path := x.Path
	if path == "" {
		path = in.URL.Path
	}
	u := &o.url
	u.Scheme, u.Host = t.Scheme, t.Addr
	setPath(u, t, path, h.escape(path))
	u.RawQuery, u.ForceQuery = in.URL.RawQuery, in.URL.ForceQuery

	// The header: without header rules or trace context to add, the
	// client's fields go as they came, filtered while the head is
	// written, with the gateway's after them (h1.Outbound); otherwise a
	// header map is built and edited. Both send the same fields
	// (FuzzOutboundHead).
	hd := in.Header
	if h.reqRules.EditsHeader() || a.injects() {
		hd = o.hdr
		forward.CopyEndToEnd(hd, in.Header)
		forward.SetHeaders(hd, in, x, h.trusted)
		a.inject(hd)
		h.reqRules.Apply(hd)
	} else {
		o.ob = h1.Outbound{Keep: forward.EndToEnd, Extra: forward.ForwardFields(o.fields[:0], in, x, h.trusted)}
	}
	// The answer's header comes as a list, copied to the client's without
	// a map of its own, unless response rules edit it as a map.
	o.ob.List = !h.resRules.EditsHeader()
	host := t.Host
	if rh := h.reqRules.Host(); rh != "" {
		host = rh
	}
	o.req = http.Request{
		Method: in.Method, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: hd, Host: host,
	}
	switch {
	case len(replay) > 0:
		a.body.rc = io.NopCloser(bytes.NewReader(replay))
		o.req.Body, o.req.ContentLength = &a.body, int64(len(replay))
	case body != nil && length > 0:
		a.body.rc = body
		o.req.Body, o.req.ContentLength = &a.body, length
	}
	res, err := h.fast.SendOutbound(in.Context(), &o.req, &o.ob, a)
	if err == h1.ErrUnsupported {
		// Sent nothing, body untouched: ReverseProxy takes it.
		return false, false
	}
	if err != nil {
		a.err = err
		return false, true
	}
	if err := h.onResponse(a, res); err != nil {
		_ = res.Body.Close()
		a.err = err
		return false, true
	}

	// Streams (unknown length, server-sent events) reach the client as
	// they come, their header at once; other bodies go through the
	// server's buffer.
	flush := res.ContentLength == -1 || eventStream(h1.Value(res, o.ob.Answer, "Content-Type"))

	// The client's header takes the upstream's values as they are: the
	// response is this request's alone. An answer read as a list (no
	// response rules; no trailers, h1 reads those answers as maps) goes
	// down as a list to the serving engine, which writes its fields after
	// the gateway's: no map of it is built. A map merges in one walk, or,
	// when rules edit it, takes the steps one by one.
	dst := a.w.Header()
	announced := len(res.Trailer)
	if res.Header == nil {
		a.w.writeHeaderFields(res.StatusCode, forward.KeepFields(dst, o.ob.Answer))
	} else {
		if h.resRules.EditsHeader() {
			forward.RemoveHopByHop(res.Header)
			h.editResponse(dst, res.Header)
			for k, vv := range res.Header {
				forward.AddValues(dst, k, vv)
			}
		} else {
			forward.MergeResponse(dst, res.Header)
		}
		if announced > 0 {
			keys := make([]string, 0, announced)
			for k := range res.Trailer {
				keys = append(keys, k)
			}
			dst.Add("Trailer", strings.Join(keys, ", "))
		}
		a.w.WriteHeader(res.StatusCode)
	}
	if flush {
		_ = a.w.FlushError()
	}
	if err := copyBody(&a.w, res.Body, flush); err != nil {
		_ = res.Body.Close()
		return true, true
	}
	_ = res.Body.Close()

	if len(res.Trailer) == 0 {
		return false, true
	}
	_ = a.w.FlushError()
	if len(res.Trailer) == announced {
		for k, vv := range res.Trailer {
			dst[k] = append(dst[k], vv...)
		}
		return false, true
	}
	for k, vv := range res.Trailer {
		k = http.TrailerPrefix + k
		dst[k] = append(dst[k], vv...)
	}
	return false, true
}

// Informational relays a 1xx answer (103 Early Hints) to the client: the
// headers set so far with the upstream's added, as ReverseProxy sends
// them; then the header is restored for the final answer.
func (a *attempt) Informational(code int, hdr http.Header) error {
	h := a.w.Header()
	saved := h.Clone()
	for k, vv := range hdr {
		h[k] = append(h[k], vv...)
	}
	a.w.WriteHeader(code)
	restoreHeader(h, saved)
	return nil
}

// restoreHeader makes h what saved holds.
func restoreHeader(h, saved http.Header) {
	clear(h)
	for k, vv := range saved {
		h[k] = vv
	}
}

// copyBody copies the upstream's body to the client, flushing after every
// write when flush is set. It returns the first read or write error.
func copyBody(w *responseWriter, body io.Reader, flush bool) error {
	bp := buffers.p.Get().(*[bufferSize]byte)
	defer buffers.p.Put(bp)
	buf := bp[:]
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			nw, werr := w.Write(buf[:n])
			if werr != nil {
				return werr
			}
			if nw != n {
				return io.ErrShortWrite
			}
			if flush {
				if err := w.FlushError(); err != nil && w.err != nil {
					return err
				}
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// eventStream reports whether a Content-Type is text/event-stream, whose
// events must not wait in a buffer.
func eventStream(ct string) bool {
	v := strings.TrimSpace(ct)
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = strings.TrimSpace(v[:i])
	}
	return strings.EqualFold(v, "text/event-stream")
}
