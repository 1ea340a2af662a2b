package jsonpath

import (
	"errors"
	"fmt"
	"strings"
)

// MaxLen bounds a path's length in bytes: a path comes from configuration,
// and a longer one is a mistake, not a document shape.
const MaxLen = 1024

// Path is a parsed path. The zero value is not a usable path; get one from
// Parse. A Path is immutable and safe for concurrent use.
type Path struct {
	src   string
	steps []step
}

// step is one move down a document: into the key of an object, or, when
// each is set, into every element of an array.
type step struct {
	key  string
	each bool
}

// Parse parses s by the package's grammar. Errors name the byte offset of
// the problem.
func Parse(s string) (Path, error) {
	if s == "" {
		return Path{}, errors.New("empty path: want names separated by dots, like meta.channel or items[].cost")
	}
	if len(s) > MaxLen {
		return Path{}, fmt.Errorf("path longer than %d bytes", MaxLen)
	}
	p := Path{src: s}
	var name strings.Builder
	named := false // the current segment has a name (possibly empty-escaped)
	i := 0
	segStart := true
	for i < len(s) {
		c := s[i]
		switch c {
		case '\\':
			if i+1 >= len(s) {
				return Path{}, fmt.Errorf("at %d: a backslash must be followed by the character it escapes", i)
			}
			name.WriteByte(s[i+1])
			named = true
			i += 2
			continue
		case '.':
			if segStart && !named {
				return Path{}, fmt.Errorf("at %d: empty name before '.'", i)
			}
			if named {
				p.steps = append(p.steps, step{key: name.String()})
				name.Reset()
				named = false
			}
			segStart = true
			i++
			if i == len(s) {
				return Path{}, fmt.Errorf("at %d: the path ends with '.': want a name after it", i-1)
			}
			continue
		case '[':
			if i+1 >= len(s) || s[i+1] != ']' {
				return Path{}, fmt.Errorf("at %d: '[' must be followed by ']' (only [] is supported, for every element)", i)
			}
			if named {
				p.steps = append(p.steps, step{key: name.String()})
				name.Reset()
				named = false
			} else if segStart && len(p.steps) > 0 {
				return Path{}, fmt.Errorf("at %d: [] must follow a name", i)
			}
			p.steps = append(p.steps, step{each: true})
			segStart = false
			i += 2
			if i < len(s) && s[i] != '.' && s[i] != '[' {
				return Path{}, fmt.Errorf("at %d: want '.' or [] after []", i)
			}
			continue
		case ']':
			return Path{}, fmt.Errorf("at %d: ']' without '['", i)
		}
		if !segStart && !named {
			// Only after "[]", which the check above already refused.
			return Path{}, fmt.Errorf("at %d: want '.' before a name", i)
		}
		name.WriteByte(c)
		named = true
		i++
	}
	if !named {
		return Path{}, errors.New("the path must end with a name, the key the operation works on")
	}
	p.steps = append(p.steps, step{key: name.String()})
	return p, nil
}

// ParseName parses s as one name: the new key of a rename. Like a path's
// names, a backslash escapes the next character.
func ParseName(s string) (string, error) {
	p, err := Parse(s)
	if err != nil {
		return "", err
	}
	if len(p.steps) != 1 {
		return "", fmt.Errorf("want one name (the key's new name in the same object), got the path %q", s)
	}
	return p.steps[0].key, nil
}

// String returns the path as it was parsed.
func (p Path) String() string { return p.src }
