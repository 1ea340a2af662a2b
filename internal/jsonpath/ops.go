package jsonpath

// The operations work on a document decoded by encoding/json into any
// (objects are map[string]any, arrays []any). They change the document in
// place where it is an object or array, and never fail: where the document
// does not have the path's shape (a missing key, a string where an object
// was expected) nothing happens there.

// Remove deletes the key the path ends with, in every object the path
// reaches.
func (p Path) Remove(doc any) {
	p.parents(doc, func(obj map[string]any, key string) { delete(obj, key) })
}

// Rename moves the value of the key the path ends with to the key to, in
// the same object, in every object the path reaches that has the key. A
// value already under to is replaced.
func (p Path) Rename(doc any, to string) {
	p.parents(doc, func(obj map[string]any, key string) {
		v, ok := obj[key]
		if !ok || key == to {
			return
		}
		delete(obj, key)
		obj[to] = v
	})
}

// Set sets the key the path ends with to v in every object the path
// reaches, creating the objects on the way that are missing (but not
// arrays: "items[].x" sets x in the elements items already has). v is
// shared, not copied: pass a scalar, or a value nobody changes.
func (p Path) Set(doc any, v any) {
	p.walk(doc, 0, true, func(obj map[string]any, key string) { obj[key] = v })
}

// parents calls f with every object the path reaches and the key it ends
// with.
func (p Path) parents(doc any, f func(map[string]any, string)) {
	p.walk(doc, 0, false, f)
}

func (p Path) walk(cur any, i int, create bool, f func(map[string]any, string)) {
	st := p.steps[i]
	if st.each {
		arr, ok := cur.([]any)
		if !ok {
			return
		}
		for _, e := range arr {
			p.walk(e, i+1, create, f)
		}
		return
	}
	obj, ok := cur.(map[string]any)
	if !ok {
		return
	}
	if i == len(p.steps)-1 {
		f(obj, st.key)
		return
	}
	next, ok := obj[st.key]
	if !ok || next == nil {
		if !create || p.steps[i+1].each {
			return
		}
		m := map[string]any{}
		obj[st.key] = m
		next = m
	}
	p.walk(next, i+1, create, f)
}
