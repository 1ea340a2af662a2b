package config

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gantry-dev/gantry/internal/jsonpath"
)

// Traffic shaping on a route: a split of its requests between upstreams,
// sticky sides, a mirror, and JSON body transforms. *(extension)*

// Defaults of the shaping keys.
const (
	DefaultStickyTTL             = Duration(24 * time.Hour)
	DefaultMirrorQueue           = 1000
	DefaultMirrorWorkers         = 4
	DefaultMirrorTimeout         = Duration(5 * time.Second)
	DefaultTransformMaxBody Size = 1 << 20
	// MaxMirrorWorkers bounds mirror.workers.
	MaxMirrorWorkers = 64
)

// SplitSide is one side of a route's split: an upstream that takes the
// requests its match selects, or a share of the rest by weight.
// *(extension)*
type SplitSide struct {
	// Upstream names the upstream of this side (one with targets).
	Upstream string `yaml:"upstream" json:"upstream,omitempty"`
	// Weight is this side's share of the requests no match selected,
	// relative to the other weighted sides. A side has a weight or a
	// match, not both.
	Weight int `yaml:"weight" json:"weight,omitempty"`
	// Match selects the requests this side takes, before any weight.
	Match *SplitMatch `yaml:"match" json:"match,omitempty"`
}

// SplitMatch selects requests by exact header and cookie values; all
// must hold. *(extension)*
type SplitMatch struct {
	// Headers that must be present with exactly these values.
	Headers map[string]string `yaml:"headers" json:"headers,omitempty"`
	// Cookies that must be present with exactly these values.
	Cookies map[string]string `yaml:"cookies" json:"cookies,omitempty"`
}

// Sticky keeps a client on the side of a split it got first, by a cookie
// the gateway sets. *(extension)*
type Sticky struct {
	// Cookie names the gateway's cookie.
	Cookie string `yaml:"cookie" json:"cookie,omitempty"`
	// TTL is the cookie's Max-Age. Default 24h.
	TTL Duration `yaml:"ttl" json:"ttl,omitempty"`
}

// Mirror sends a copy of a share of the route's admitted requests to
// another upstream and discards its answer. *(extension)*
type Mirror struct {
	// Upstream names the upstream that gets the copies (one with targets).
	Upstream string `yaml:"upstream" json:"upstream,omitempty"`
	// Sample is the share of requests copied, above 0 and at most 1.
	// Default 1.
	Sample float64 `yaml:"sample" json:"sample,omitempty"`
	// Queue bounds the copies waiting to be sent; one more is dropped.
	// Default 1000.
	Queue int `yaml:"queue" json:"queue,omitempty"`
	// Timeout bounds one copy, its answer included. Default 5s.
	Timeout Duration `yaml:"timeout" json:"timeout,omitempty"`
	// Workers is how many copies are sent at once. Default 4.
	Workers int `yaml:"workers" json:"workers,omitempty"`
}

// Transform changes JSON request and response bodies. *(extension)*
type Transform struct {
	// RequestBody applies to the request body before it is sent upstream.
	RequestBody *BodyTransform `yaml:"request_body" json:"request_body,omitempty"`
	// ResponseBody applies to the upstream's answer before the client
	// gets it.
	ResponseBody *BodyTransform `yaml:"response_body" json:"response_body,omitempty"`
	// MaxBodyBytes bounds the bodies transformed; a larger one passes
	// unchanged. Default 1MiB.
	MaxBodyBytes Size `yaml:"max_body_bytes" json:"max_body_bytes,omitempty"`
}

// BodyTransform is the operations on one JSON body, applied in the order
// remove, rename, set. Paths are dotted, with [] for every element of an
// array ("items[].cost"). *(extension)*
type BodyTransform struct {
	// Set sets paths to scalar values, creating missing objects.
	Set map[string]JSONValue `yaml:"set" json:"set,omitempty"`
	// Remove deletes paths.
	Remove []string `yaml:"remove" json:"remove,omitempty"`
	// Rename gives the key a path ends with a new name in the same object.
	Rename map[string]string `yaml:"rename" json:"rename,omitempty"`
}

// JSONValue is a YAML scalar sent as JSON: a string, a number, true,
// false or null, held as its JSON text. The zero value is null.
type JSONValue []byte

// Raw returns the value as JSON.
func (v JSONValue) Raw() json.RawMessage {
	if len(v) == 0 {
		return json.RawMessage("null")
	}
	return json.RawMessage(v)
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (v *JSONValue) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a string, number, true, false or null")
	}
	var x any
	if err := n.Decode(&x); err != nil {
		return err
	}
	switch x.(type) {
	case nil, string, bool, int, int64, uint64, float64:
	default:
		return fmt.Errorf("want a string, number, true, false or null, got %q", n.Value)
	}
	b, err := json.Marshal(x)
	if err != nil {
		return fmt.Errorf("value %q cannot be JSON: %w", n.Value, err)
	}
	*v = b
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (v JSONValue) MarshalYAML() (any, error) {
	var x any
	err := json.Unmarshal(v.Raw(), &x)
	return x, err
}

// MarshalJSON implements json.Marshaler.
func (v JSONValue) MarshalJSON() ([]byte, error) { return v.Raw(), nil }

// UnmarshalJSON implements json.Unmarshaler; it takes scalars only.
func (v *JSONValue) UnmarshalJSON(b []byte) error {
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		return err
	}
	switch x.(type) {
	case nil, string, bool, float64:
	default:
		return fmt.Errorf("want a string, number, true, false or null")
	}
	*v = append(JSONValue(nil), b...)
	return nil
}

func (c *Config) shapingDefaults(r *Route, path string) {
	if s := r.Sticky; s != nil {
		setDuration(c, &s.TTL, path+".sticky.ttl", DefaultStickyTTL)
	}
	if m := r.Mirror; m != nil {
		if m.Sample == 0 && !c.has(path+".mirror.sample") {
			m.Sample = 1
		}
		if m.Queue == 0 && !c.has(path+".mirror.queue") {
			m.Queue = DefaultMirrorQueue
		}
		if m.Workers == 0 && !c.has(path+".mirror.workers") {
			m.Workers = DefaultMirrorWorkers
		}
		setDuration(c, &m.Timeout, path+".mirror.timeout", DefaultMirrorTimeout)
	}
	if t := r.Transform; t != nil {
		setSize(c, &t.MaxBodyBytes, path+".transform.max_body_bytes", DefaultTransformMaxBody)
	}
}

// validateShaping checks the route's split, sticky, mirror and transform.
func (c *Config) validateShaping(l *problemList, p string, r *Route) {
	if r.Split != nil {
		c.validateSplit(l, p, r)
	}
	if s := r.Sticky; s != nil {
		if r.Split == nil {
			l.add(p+".sticky", "applies to routes with a split only")
		}
		if !isToken(s.Cookie) || strings.ContainsAny(s.Cookie, "=;,") {
			l.add(p+".sticky.cookie", "want a cookie name (letters, digits, - and _), got %q", s.Cookie)
		}
		positive(l, p+".sticky.ttl", int64(s.TTL), `a duration like "24h"`)
	}
	if m := r.Mirror; m != nil {
		mp := p + ".mirror"
		if r.Aggregate != nil {
			l.add(mp, "applies to upstream and split routes only")
		}
		c.checkTargetsRef(l, mp+".upstream", m.Upstream)
		if !(m.Sample > 0 && m.Sample <= 1) {
			l.add(mp+".sample", "want a share above 0 and at most 1, like 0.05, got %v", m.Sample)
		}
		atLeastOne(l, mp+".queue", m.Queue)
		if m.Workers < 1 || m.Workers > MaxMirrorWorkers {
			l.add(mp+".workers", "want 1 to %d, got %d", MaxMirrorWorkers, m.Workers)
		}
		positive(l, mp+".timeout", int64(m.Timeout), `a duration like "5s"`)
	}
	if t := r.Transform; t != nil {
		tp := p + ".transform"
		positive(l, tp+".max_body_bytes", int64(t.MaxBodyBytes), `a size like "1MiB"`)
		checkBodyTransform(l, tp+".request_body", t.RequestBody)
		checkBodyTransform(l, tp+".response_body", t.ResponseBody)
	}
}

func (c *Config) validateSplit(l *problemList, p string, r *Route) {
	sp := p + ".split"
	if r.Upstream != "" || r.Aggregate != nil {
		l.add(sp, "set one of upstream, split or aggregate")
	}
	if len(r.Split) == 0 {
		l.add(sp, "want a list of sides like {upstream: NAME, weight: 90}")
		return
	}
	weighted := 0
	for i, s := range r.Split {
		ip := index(sp, i)
		if s == nil {
			l.add(ip, "want a side like {upstream: NAME, weight: 90}")
			continue
		}
		c.checkTargetsRef(l, ip+".upstream", s.Upstream)
		switch {
		case s.Match != nil && s.Weight != 0:
			l.add(ip, "set either weight or match, not both: a matched side takes what its match selects")
		case s.Match != nil:
			checkSplitMatch(l, ip+".match", s.Match)
		case s.Weight < 1:
			l.add(ip+".weight", "want at least 1 (or a match), got %d", s.Weight)
		default:
			weighted++
		}
	}
	if weighted == 0 {
		l.add(sp, "want at least one side with a weight, for the requests no match selects")
	}
}

func checkSplitMatch(l *problemList, p string, m *SplitMatch) {
	if len(m.Headers) == 0 && len(m.Cookies) == 0 {
		l.add(p, "want headers or cookies to match")
	}
	for _, h := range slices.Sorted(maps.Keys(m.Headers)) {
		checkHeaderName(l, join(p+".headers", h), h, true)
	}
	for _, k := range slices.Sorted(maps.Keys(m.Cookies)) {
		if !isToken(k) {
			l.add(join(p+".cookies", k), "want a cookie name, got %q", k)
		}
	}
}

// checkTargetsRef checks that name is an upstream with targets, not a
// lambda function.
func (c *Config) checkTargetsRef(l *problemList, p, name string) {
	u := c.Upstreams[name]
	switch {
	case name == "":
		l.add(p, "required: one of %s", known(c.Upstreams))
	case u == nil:
		l.add(p, "unknown upstream %q (known: %s)", name, known(c.Upstreams))
	case u.Lambda != nil:
		l.add(p, "upstream %q is a lambda function; want an upstream with targets", name)
	}
}

func checkBodyTransform(l *problemList, p string, b *BodyTransform) {
	if b == nil {
		return
	}
	for _, k := range slices.Sorted(maps.Keys(b.Set)) {
		if _, err := jsonpath.Parse(k); err != nil {
			l.add(join(p+".set", k), "%s", err.Error())
		}
	}
	for i, k := range b.Remove {
		if _, err := jsonpath.Parse(k); err != nil {
			l.add(index(p+".remove", i), "%s", err.Error())
		}
	}
	for _, k := range slices.Sorted(maps.Keys(b.Rename)) {
		if _, err := jsonpath.Parse(k); err != nil {
			l.add(join(p+".rename", k), "%s", err.Error())
		}
		if _, err := jsonpath.ParseName(b.Rename[k]); err != nil {
			l.add(join(p+".rename", k), "new name: %s", err.Error())
		}
	}
}
