package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/invopop/jsonschema"
	"go.yaml.in/yaml/v3"

	"github.com/gantry-dev/gantry/docs"
	"github.com/gantry-dev/gantry/internal/config"
)

// Draft is the JSON Schema dialect Generate writes.
const Draft = "https://json-schema.org/draft/2020-12/schema"

// Patterns of the custom scalars, as their decoders in internal/config
// accept them (surrounding spaces aside).
const (
	// DurationPattern is a Go duration without a sign ("250ms", "1h30m",
	// "0").
	DurationPattern = `^\+?(0|([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$`
	// SizePattern is whole bytes or a whole number with a unit ("64KiB").
	SizePattern = `^[0-9]+ *(KiB|MiB|GiB|TiB|KB|MB|GB|TB|B)?$`
	// DecimalPattern is a plain non-negative decimal ("49.00", ".5").
	DecimalPattern = `^\+?([0-9]+(\.[0-9]+)?|\.[0-9]+)$`
	// EnvPattern is a value with a ${NAME} reference, expanded from the
	// environment before it is decoded, so it may stand for any type.
	EnvPattern = `\$\{[A-Za-z_][A-Za-z0-9_]*\}`
)

// Enums lists the values a key accepts, by key path in the reference's
// notation ("upstreams.<name>.balancer", "auth.jwt[].algorithms[]").
// TestEnumsMatchParse checks every value against config.Parse.
var Enums = map[string][]any{
	"version":                                {1},
	"server.engine":                          {"gantry", "net/http"},
	"server.tls.min_version":                 {"1.2", "1.3"},
	"server.tls.client_auth":                 {"none", "request", "require"},
	"storage.driver":                         {"sqlite", "postgres"},
	"counters.driver":                        {"memory", "redis"},
	"cache.store":                            {"memory", "redis"},
	"counters.on_failure":                    {"allow", "deny"},
	"counters.sync":                          {"exact", "batched"},
	"auth.mtls.consumer_from":                {"subject_cn", "san_dns", "san_uri", "san_email"},
	"auth.external[].on_failure":             {"deny", "allow"},
	"auth.jwt[].algorithms[]":                {"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"},
	"plans.<name>.quota.per":                 {"hour", "day", "month"},
	"plans.<name>.token_quota.per":           {"hour", "day", "month"},
	"routes[].llm.format":                    {"openai", "anthropic"},
	"upstreams.<name>.balancer":              {"round_robin", "least_conn", "p2c_ewma", "hash"},
	"upstreams.<name>.protocol":              {"auto", "http1"},
	"upstreams.<name>.lambda.payload_format": {"1.0", "2.0"},
	"telemetry.tracing.exporter":             {"otlp", "none"},
	"telemetry.tracing.propagators[]":        {"tracecontext", "baggage", "b3", "b3multi"},
}

// Patterns lists patterns of string keys beyond the custom scalars, by
// key path: those config.Validate checks with the same expressions.
var Patterns = map[string]string{
	"routes[].name":                 config.NamePattern,
	"auth.jwt[].name":               config.NamePattern,
	"auth.external[].name":          config.NamePattern,
	"consumers[].id":                config.ConsumerIDPattern,
	"consumers[].api_keys[].hash":   config.KeyHashPattern,
	"plans.<name>.pricing.currency": config.CurrencyPattern,
}

// NamePatterns lists the maps whose names (keys) config.Validate checks,
// by key path.
var NamePatterns = map[string]string{
	"upstreams": config.NamePattern,
	"plans":     config.NamePattern,
}

// Generate returns the JSON Schema of a configuration file, indented, with
// a final newline.
func Generate() ([]byte, error) {
	r := &jsonschema.Reflector{
		FieldNameTag:               "yaml",
		RequiredFromJSONSchemaTags: true,
		DoNotReference:             true,
		Mapper:                     scalar,
	}
	s := r.ReflectFromType(reflect.TypeFor[config.Config]())
	s.Version = Draft
	s.ID = ""
	s.Title = "Gantry configuration"
	s.Description = "A Gantry configuration file, format version 1. See docs/config.md."
	s.Definitions = jsonschema.Definitions{
		"env": {Type: "string", Pattern: EnvPattern, Description: "A ${NAME} reference to an environment variable, expanded before the value is decoded."},
	}
	rows, err := docRows(docs.Config)
	if err != nil {
		return nil, err
	}
	annotate(s, "", rows)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, fmt.Errorf("encoding the schema: %w", err)
	}
	return buf.Bytes(), nil
}

// scalar maps the custom scalar types to the shapes their UnmarshalYAML
// accepts.
func scalar(t reflect.Type) *jsonschema.Schema {
	switch t {
	case reflect.TypeFor[config.Duration]():
		return &jsonschema.Schema{AnyOf: []*jsonschema.Schema{
			{Type: "string", Pattern: DurationPattern},
			{Type: "integer", Const: 0},
		}}
	case reflect.TypeFor[config.Size]():
		return &jsonschema.Schema{AnyOf: []*jsonschema.Schema{
			{Type: "string", Pattern: SizePattern},
			{Type: "integer", Minimum: "0"},
		}}
	case reflect.TypeFor[config.Decimal]():
		return &jsonschema.Schema{AnyOf: []*jsonschema.Schema{
			{Type: "string", Pattern: DecimalPattern},
			{Type: "number", Minimum: "0"},
		}}
	}
	return nil
}

var envRef = &jsonschema.Schema{Ref: "#/$defs/env"}

// annotate walks s along key paths in the reference's notation and sets
// descriptions, defaults, enums and patterns; every leaf that is not a
// free string also accepts a ${NAME} reference.
func annotate(s *jsonschema.Schema, path string, rows map[string]row) {
	if rw, ok := rows[path]; ok && path != "" {
		s.Description = rw.meaning
		if v, ok := defaultValue(s, rw.dflt); ok {
			s.Default = v
		}
	}
	if e, ok := Enums[path]; ok {
		s.Enum = e
	}
	if p, ok := Patterns[path]; ok {
		s.Pattern = p
	}
	if p, ok := NamePatterns[path]; ok {
		s.PropertyNames = &jsonschema.Schema{Pattern: p}
	}
	switch {
	case s.Type == "object" && s.Properties != nil && s.Properties.Len() > 0:
		for k, v := range s.Properties.FromOldest() {
			annotate(v, join(path, k), rows)
		}
	case s.Type == "object" && s.AdditionalProperties != nil && s.AdditionalProperties.Type == "object":
		annotate(s.AdditionalProperties, path+".<name>", rows)
	case s.Type == "object" && s.AdditionalProperties != nil:
		annotate(s.AdditionalProperties, path+".<value>", rows)
	case s.Type == "array" && s.Items != nil:
		annotate(s.Items, path+"[]", rows)
	default:
		if s.Type == "string" && s.Enum == nil && s.Pattern == "" {
			return
		}
		withEnv(s)
	}
}

// withEnv makes leaf s accept a ${NAME} reference too, keeping its
// description and default on the outside.
func withEnv(s *jsonschema.Schema) {
	inner := *s
	inner.Description, inner.Default = "", nil
	alts := []*jsonschema.Schema{&inner}
	if len(inner.AnyOf) > 0 && inner.Type == "" && inner.Enum == nil {
		alts = inner.AnyOf
	}
	*s = jsonschema.Schema{Description: s.Description, Default: s.Default, AnyOf: append(alts, envRef)}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// row is one row of a key table in the reference.
type row struct {
	typ, dflt, meaning string
}

// docRows reads the key tables of the reference (tables whose header's
// first cell is "key path").
func docRows(doc string) (map[string]row, error) {
	rows := map[string]row{}
	inTable := false
	for line := range strings.Lines(doc) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			inTable = false
			continue
		}
		cells := splitRow(line)
		if len(cells) == 0 {
			continue
		}
		switch first := cells[0]; {
		case first == "key path":
			inTable = true
			continue
		case !inTable || strings.Trim(first, "-: ") == "":
			continue
		}
		if len(cells) < 4 {
			return nil, fmt.Errorf("docs/config.md: key table row with %d cells, want 4: %s", len(cells), line)
		}
		key := strings.Trim(cells[0], "`")
		rows[key] = row{typ: cells[1], dflt: cells[2], meaning: plain(cells[3])}
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("docs/config.md has no key table")
	}
	return rows, nil
}

// splitRow splits a Markdown table row into trimmed cells; \| is a pipe
// inside a cell.
func splitRow(line string) []string {
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	var cells []string
	var cur strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			cur.WriteByte('|')
			i++
		case line[i] == '|':
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(line[i])
		}
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

var (
	mdLink = regexp.MustCompile(`\[([^\]]+)\]\([^)]*\)`)
	mdBold = regexp.MustCompile(`\*\*([^*]+)\*\*`)
)

// plain turns a Markdown cell into plain text: links keep their text,
// emphasis and code marks go.
func plain(s string) string {
	s = mdLink.ReplaceAllString(s, "$1")
	s = mdBold.ReplaceAllString(s, "$1")
	s = strings.ReplaceAll(s, "*(extension)*", "(extension)")
	return strings.ReplaceAll(s, "`", "")
}

// docDefault is a default cell that is one code span, optionally followed
// by a remark in parentheses: "`15s`", "`0` (none)".
var docDefault = regexp.MustCompile("^`([^`]+)`( \\(.*\\))?$")

// defaultValue reads a default cell as a value of s's type; ok is false
// for cells that are prose ("none", "see below", "required").
func defaultValue(s *jsonschema.Schema, cell string) (any, bool) {
	m := docDefault.FindStringSubmatch(cell)
	if m == nil {
		return nil, false
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(m[1]), &n); err != nil || len(n.Content) != 1 || n.Content[0].Kind != yaml.ScalarNode {
		return nil, false
	}
	v := n.Content[0]
	switch {
	case s.Type == "string":
		return v.Value, true
	case s.Type == "integer" && v.ShortTag() == "!!int":
		var i int64
		if v.Decode(&i) == nil {
			return i, true
		}
	case s.Type == "number" && (v.ShortTag() == "!!int" || v.ShortTag() == "!!float"):
		var f float64
		if v.Decode(&f) == nil {
			return f, true
		}
	case s.Type == "boolean" && v.ShortTag() == "!!bool":
		var b bool
		if v.Decode(&b) == nil {
			return b, true
		}
	case s.Type == "" && len(s.AnyOf) > 0:
		// A custom scalar: the written form, a string.
		return v.Value, true
	}
	return nil, false
}
