package config

import (
	"reflect"
	"slices"
	"strings"
)

// interner gives a configuration's string values storage of their own, for
// as long as the configuration lives. The YAML parser leaves each value in
// a small allocation of its own between the tokens, nodes and key strings
// that the parse drops: kept as they are, the values of a large file pin
// the parser's pages, mostly empty, for the life of the configuration
// (measured with 10,000 routes: 6.4 MiB of heap spans in the 16- to 48-byte
// size classes held for 2.3 MiB of objects, 10 to 20% for the 16-byte
// one). The interner copies every
// value once, the same value once for all its uses (an upstream's name in
// each of its routes, "GET"), into slabs it fills one after another, so the
// values of a configuration sit together and the parser's pages are freed
// whole. Not safe for concurrent use; one parse owns one.
type interner struct {
	seen     map[string]string
	slab     strings.Builder
	slabList []string
}

// slabBytes is the size of one slab. A string that outlives its
// configuration (a route name kept as a metric label) keeps its slab
// alive, so slabs are small; a value longer than slabBytes/4 gets an
// allocation of its own rather than waste the end of a slab.
const slabBytes = 4 << 10

// intern returns s in the interner's storage.
func (in *interner) intern(s string) string {
	if s == "" {
		return ""
	}
	if v, ok := in.seen[s]; ok {
		return v
	}
	var v string
	if len(s) > slabBytes/4 {
		v = strings.Clone(s)
	} else {
		if in.slab.Cap()-in.slab.Len() < len(s) {
			// A new slab; the strings already handed out keep the old one.
			in.slab = strings.Builder{}
			in.slab.Grow(slabBytes)
		}
		// Within its capacity a Builder never moves or changes the bytes
		// it holds, so earlier strings of the slab stay as they were.
		start := in.slab.Len()
		in.slab.WriteString(s)
		v = in.slab.String()[start:]
	}
	if in.seen == nil {
		in.seen = make(map[string]string)
	}
	in.seen[v] = v
	return v
}

// listSlab is the number of strings in one slab of lists.
const listSlab = 256

// lists moves every []string reachable from v (struct fields, pointers,
// slice elements; not map values) into slabs of its own, each list with a
// capacity of its length so that an append reallocates instead of
// overwriting the next list. yaml allocates a small array per list (a
// route's methods, its hosts) while the parse's garbage is allocated, and
// would otherwise pin those pages too.
func (in *interner) lists(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			in.lists(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() {
				in.lists(f)
			}
		}
	case reflect.Slice:
		if v.Len() == 0 {
			return
		}
		if v.Type() == stringsType {
			v.Set(reflect.ValueOf(in.list(v.Interface().([]string))))
			return
		}
		for i := range v.Len() {
			in.lists(v.Index(i))
		}
	}
}

var stringsType = reflect.TypeFor[[]string]()

// list returns a copy of ss in the interner's list slabs.
func (in *interner) list(ss []string) []string {
	if len(ss) > listSlab/4 {
		return slices.Clone(ss)
	}
	if cap(in.slabList)-len(in.slabList) < len(ss) {
		in.slabList = make([]string, 0, listSlab)
	}
	start := len(in.slabList)
	in.slabList = append(in.slabList, ss...)
	return in.slabList[start:len(in.slabList):len(in.slabList)]
}
