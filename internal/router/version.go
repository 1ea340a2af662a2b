package router

import (
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"

	"github.com/gantry-dev/gantry/internal/config"
)

type sourceKind uint8

const (
	fromPath   sourceKind = iota // a leading /v<N> or /v<N>.<M> segment
	fromHeader                   // the first value of a header
	fromQuery                    // the first value of a query parameter
)

type versionSource struct {
	kind sourceKind
	name string // canonical header name or query key
}

func (s versionSource) String() string {
	switch s.kind {
	case fromHeader:
		return "header:" + s.name
	case fromQuery:
		return "query:" + s.name
	}
	return "path"
}

// versioning is a compiled config.Versioning.
type versioning struct {
	from []versionSource
	def  string
}

// parseSource parses one entry of versioning.from.
func parseSource(s string) (versionSource, error) {
	kind, name, hasName := strings.Cut(s, ":")
	switch {
	case s == "path":
		return versionSource{kind: fromPath}, nil
	case kind == "header" && hasName && name != "":
		return versionSource{kind: fromHeader, name: textproto.CanonicalMIMEHeaderKey(name)}, nil
	case kind == "query" && hasName && name != "":
		return versionSource{kind: fromQuery, name: name}, nil
	}
	return versionSource{}, fmt.Errorf("unknown version source %q: want path, header:NAME or query:NAME", s)
}

// compileVersioning checks cfg.Versioning; nil stays nil.
func compileVersioning(cfg *config.Config, ps *config.Problems) *versioning {
	vc := cfg.Versioning
	if vc == nil {
		return nil
	}
	v := &versioning{def: lowerASCII(strings.TrimSpace(vc.Default))}
	if len(vc.From) == 0 {
		*ps = append(*ps, cfg.Problem("versioning.from", "must name at least one source: path, header:NAME or query:NAME"))
	}
	for i, s := range vc.From {
		src, err := parseSource(s)
		if err != nil {
			*ps = append(*ps, cfg.Problem(fmt.Sprintf("versioning.from[%d]", i), "%s", err))
			continue
		}
		v.from = append(v.from, src)
	}
	return v
}

// fromPath reports whether versions may come from the path; v may be nil.
func (v *versioning) fromPath() bool {
	if v == nil {
		return false
	}
	for _, s := range v.from {
		if s.kind == fromPath {
			return true
		}
	}
	return false
}

// extract returns the request's version (lowercase) and its path without a
// version segment. The first source that has a version wins; the path
// segment is removed only when the version came from it, so
// "/v2/orders/7" gives ("v2", "/orders/7") and "/v2" gives ("v2", "/").
// Without any, the version is the default. It does not allocate unless the
// version has upper-case letters or query escapes.
func (v *versioning) extract(r *http.Request, path string) (version, rest string) {
	for _, src := range v.from {
		var ver string
		switch src.kind {
		case fromPath:
			if ver, rest, ok := pathVersion(path); ok {
				return lowerASCII(ver), rest
			}
			continue
		case fromHeader:
			if r != nil {
				if vals := r.Header[src.name]; len(vals) > 0 {
					ver = strings.TrimSpace(vals[0])
				}
			}
		case fromQuery:
			if r != nil && r.URL != nil {
				ver = queryValue(r.URL.RawQuery, src.name)
			}
		}
		if ver != "" {
			return lowerASCII(ver), path
		}
	}
	return v.def, path
}

// pathVersion splits a leading version segment, /v<digits> or
// /v<digits>.<digits> ("V" too), off path.
func pathVersion(path string) (ver, rest string, ok bool) {
	if len(path) < 3 || path[0] != '/' || path[1] != 'v' && path[1] != 'V' {
		return "", path, false
	}
	i := digitsFrom(path, 2)
	if i == 2 {
		return "", path, false
	}
	if i < len(path) && path[i] == '.' {
		j := digitsFrom(path, i+1)
		if j == i+1 {
			return "", path, false
		}
		i = j
	}
	switch {
	case i == len(path):
		return path[1:], "/", true
	case path[i] == '/':
		return path[1:i], path[i:], true
	}
	return "", path, false
}

func digitsFrom(s string, i int) int {
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i
}

// queryValue returns the first value of key in a raw query string, like
// url.ParseQuery(raw).Get(key) without building the map. Pairs that fail to
// unescape are skipped, as ParseQuery does.
func queryValue(raw, key string) string {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if strings.Contains(pair, ";") {
			continue
		}
		k, val, _ := strings.Cut(pair, "=")
		if k != key {
			if !strings.ContainsAny(k, "%+") {
				continue
			}
			if uk, err := url.QueryUnescape(k); err != nil || uk != key {
				continue
			}
		}
		if strings.ContainsAny(val, "%+") {
			uv, err := url.QueryUnescape(val)
			if err != nil {
				continue
			}
			val = uv
		}
		return val
	}
	return ""
}

// lowerASCII lowercases the ASCII letters of s, so that versions compare
// the same whatever their script. It does not allocate when s has no
// upper-case letters, the common case.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
