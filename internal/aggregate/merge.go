package aggregate

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
)

// merge writes the answer: one key per succeeded call, in config order,
// its answer shaped by select and rename; a flattened call's fields at the
// top level instead. When keys collide, the call later in the list wins,
// and the key keeps its first place.
func (h *handler) merge(rn *run) []byte {
	size := 2
	for _, v := range rn.results {
		if raw, ok := v.(*json.RawMessage); ok {
			size += len(*raw)
		}
	}
	buf := make([]byte, 0, size+64*len(h.calls))
	if !h.anyFlatten {
		buf = append(buf, '{')
		first := true
		for i, c := range h.calls {
			if rn.state[i] != succeeded {
				continue
			}
			if !first {
				buf = append(buf, ',')
			}
			first = false
			buf = appendString(buf, c.name)
			buf = append(buf, ':')
			buf = appendJSON(buf, c.shape(rn.results[i]))
		}
		return append(buf, '}')
	}
	var keys []string
	vals := map[string]any{}
	set := func(k string, v any) {
		if _, ok := vals[k]; !ok {
			keys = append(keys, k)
		}
		vals[k] = v
	}
	for i, c := range h.calls {
		if rn.state[i] != succeeded {
			continue
		}
		v := c.shape(rn.results[i])
		obj, ok := v.(map[string]any)
		if !c.cfg.Flatten || !ok {
			// Only an object can be flattened; anything else keeps its key.
			set(c.name, v)
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			set(k, obj[k])
		}
	}
	buf = append(buf, '{')
	for i, k := range keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendString(buf, k)
		buf = append(buf, ':')
		buf = appendJSON(buf, vals[k])
	}
	return append(buf, '}')
}

// shape applies select and rename to an answer: to the object, or to each
// object of an array (recursively, for a fan-out of arrays). Answers are
// shared with the cache and other calls, so shape copies, never modifies.
func (c *call) shape(v any) any {
	if len(c.selects) == 0 && len(c.renames) == 0 {
		return v
	}
	switch x := v.(type) {
	case map[string]any:
		return c.shapeObject(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = c.shape(e)
		}
		return out
	}
	return v
}

func (c *call) shapeObject(m map[string]any) map[string]any {
	var out map[string]any
	if len(c.selects) > 0 {
		out = make(map[string]any, len(c.selects))
		for _, path := range c.selects {
			pick(out, m, path)
		}
	} else {
		out = maps.Clone(m)
	}
	if len(c.renames) == 0 {
		return out
	}
	// Every rename reads the fields as they were, so {a: b, b: a} swaps.
	moved := make([]any, len(c.renames))
	found := make([]bool, len(c.renames))
	for i, r := range c.renames {
		moved[i], found[i] = out[r.from]
		delete(out, r.from)
	}
	for i, r := range c.renames {
		if found[i] {
			out[r.to] = moved[i]
		}
	}
	return out
}

// pick copies the field at path from src into dst, creating the objects on
// the way: select [address.city] keeps {"address": {"city": ...}}. A
// missing field is left out.
func pick(dst, src map[string]any, path []string) {
	v, ok := src[path[0]]
	if !ok {
		return
	}
	if len(path) == 1 {
		dst[path[0]] = v
		return
	}
	next, ok := v.(map[string]any)
	if !ok {
		return
	}
	sub, ok := dst[path[0]].(map[string]any)
	if !ok {
		sub = map[string]any{}
		dst[path[0]] = sub
	}
	pick(sub, next, path[1:])
	if len(sub) == 0 {
		delete(dst, path[0])
	}
}

// appendJSON appends v, a decoded answer (or a part of one), as JSON.
// Object keys are sorted, so the output is deterministic.
func appendJSON(dst []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...)
	case bool:
		return strconv.AppendBool(dst, x)
	case string:
		return appendString(dst, x)
	case json.Number:
		return append(dst, x...)
	case *json.RawMessage: // a raw answer (decode)
		return append(dst, *x...)
	case []any:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSON(dst, e)
		}
		return append(dst, ']')
	case map[string]any:
		// Small objects sort their keys on the stack.
		var arr [16]string
		keys := arr[:0]
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, k)
			dst = append(dst, ':')
			dst = appendJSON(dst, x[k])
		}
		return append(dst, '}')
	case float64:
		return strconv.AppendFloat(dst, x, 'g', -1, 64)
	}
	// Decoded answers hold only the types above.
	b, err := json.Marshal(v)
	if err != nil {
		return append(dst, "null"...)
	}
	return append(dst, b...)
}
