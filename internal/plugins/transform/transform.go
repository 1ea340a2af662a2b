package transform

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/jsonpath"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// Name is the step's name in a route's recipe.
const Name = "transform"

// Directions, the first argument of Config.OnResult.
const (
	Request  = "request"
	Response = "response"
)

// Results, the second argument of Config.OnResult (the values of
// gantry_transform_bodies_total's result label).
const (
	Applied  = "transformed"
	TooLarge = "too_large"
	Encoded  = "encoded"
	Streamed = "streamed"
	Invalid  = "invalid"
)

// Config is one route's transform.
type Config struct {
	// Transform is the route's transform block.
	Transform *config.Transform
	// OnResult is told what became of every JSON body; nil for nothing.
	OnResult func(direction, result string)
	// BodyError turns a failure to read the client's body into the
	// request's error; nil returns it as a *pipeline.BodyError.
	BodyError func(r *http.Request, err error) error
}

// Ops are one body's compiled operations.
type Ops struct {
	remove []jsonpath.Path
	rename []rename
	set    []set
}

type rename struct {
	from jsonpath.Path
	to   string
}

type set struct {
	path jsonpath.Path
	v    any
}

// Compile compiles b, nil for none. Paths apply in sorted order within an
// operation.
func Compile(b *config.BodyTransform) (*Ops, error) {
	if b == nil {
		return nil, nil
	}
	ops := &Ops{}
	var errs []error
	for _, s := range b.Remove {
		p, err := jsonpath.Parse(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("remove %q: %w", s, err))
			continue
		}
		ops.remove = append(ops.remove, p)
	}
	for _, k := range slices.Sorted(maps.Keys(b.Rename)) {
		p, err := jsonpath.Parse(k)
		if err != nil {
			errs = append(errs, fmt.Errorf("rename %q: %w", k, err))
			continue
		}
		to, err := jsonpath.ParseName(b.Rename[k])
		if err != nil {
			errs = append(errs, fmt.Errorf("rename %q: %w", k, err))
			continue
		}
		ops.rename = append(ops.rename, rename{p, to})
	}
	for _, k := range slices.Sorted(maps.Keys(b.Set)) {
		p, err := jsonpath.Parse(k)
		if err != nil {
			errs = append(errs, fmt.Errorf("set %q: %w", k, err))
			continue
		}
		v, err := decode(b.Set[k].Raw())
		if err != nil {
			errs = append(errs, fmt.Errorf("set %q: %w", k, err))
			continue
		}
		ops.set = append(ops.set, set{p, v})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return ops, nil
}

// Apply transforms the JSON document body and returns the result, or an
// error when body is not one JSON value.
func (o *Ops) Apply(body []byte) ([]byte, error) {
	doc, err := decode(body)
	if err != nil {
		return nil, err
	}
	for _, p := range o.remove {
		p.Remove(doc)
	}
	for _, r := range o.rename {
		r.from.Rename(doc, r.to)
	}
	for _, s := range o.set {
		s.path.Set(doc, s.v)
	}
	var b bytes.Buffer
	b.Grow(len(body))
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(doc); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func decode(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

// New returns the route's transform step, nil when it has none.
func New(c Config) (pipeline.Middleware, error) {
	t := c.Transform
	if t == nil || (t.RequestBody == nil && t.ResponseBody == nil) {
		return nil, nil
	}
	req, err := Compile(t.RequestBody)
	if err != nil {
		return nil, fmt.Errorf("transform.request_body: %w", err)
	}
	res, err := Compile(t.ResponseBody)
	if err != nil {
		return nil, fmt.Errorf("transform.response_body: %w", err)
	}
	tr := &transformer{req: req, res: res, limit: int64(t.MaxBodyBytes), onResult: c.OnResult, bodyError: c.BodyError}
	if tr.limit <= 0 {
		tr.limit = int64(config.DefaultTransformMaxBody)
	}
	if tr.onResult == nil {
		tr.onResult = func(string, string) {}
	}
	if tr.bodyError == nil {
		tr.bodyError = func(_ *http.Request, err error) error { return &pipeline.BodyError{Err: err} }
	}
	return tr.middleware, nil
}

type transformer struct {
	req, res  *Ops
	limit     int64
	onResult  func(direction, result string)
	bodyError func(*http.Request, error) error
}

func (t *transformer) middleware(next pipeline.Handler) pipeline.Handler {
	return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if t.req != nil {
			if err := t.request(r); err != nil {
				return err
			}
		}
		if t.res == nil || r.Method == http.MethodHead {
			return next.ServeHTTP(w, r)
		}
		rw := &responseWriter{ResponseWriter: w, t: t}
		err := next.ServeHTTP(rw, r)
		return rw.finish(err)
	})
}

// request transforms r's body in place when it qualifies.
func (t *transformer) request(r *http.Request) error {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 || !isJSON(r.Header.Get("Content-Type")) {
		return nil
	}
	if skip := t.skip(r.Header, r.ContentLength); skip != "" {
		t.onResult(Request, skip)
		return nil
	}
	body := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(r.Body, body); err != nil {
		return t.bodyError(r, err)
	}
	out, err := t.req.Apply(body)
	if err != nil {
		t.onResult(Request, Invalid)
		out = body
	} else {
		t.onResult(Request, Applied)
	}
	r.Body = io.NopCloser(bytes.NewReader(out))
	r.ContentLength = int64(len(out))
	if _, ok := r.Header["Content-Length"]; ok {
		r.Header.Set("Content-Length", strconv.Itoa(len(out)))
	}
	return nil
}

// skip says why a JSON body of length n (-1 unknown) with header h passes
// unchanged, or "" when it is transformed.
func (t *transformer) skip(h http.Header, n int64) string {
	if ce := h.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return Encoded
	}
	if n < 0 || len(h["Trailer"]) > 0 {
		return Streamed
	}
	if n > t.limit {
		return TooLarge
	}
	return ""
}

// isJSON reports whether a Content-Type is application/json or a +json
// type.
func isJSON(ct string) bool {
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}
