package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/gantry-dev/gantry/examples"
)

// TestSchemaAndValidateAgree prints the schema with `gantry schema`, and
// checks that the quickstart passes both it and `gantry validate`, and that
// the quickstart with a misspelt key fails both.
func TestSchemaAndValidateAgree(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"schema"}, &out, &errOut); code != exitOK {
		t.Fatalf("gantry schema exited %d: %s", code, errOut.String())
	}
	doc, err := jsonschema.UnmarshalJSON(&out)
	if err != nil {
		t.Fatalf("gantry schema printed no JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("gantry.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("gantry.schema.json")
	if err != nil {
		t.Fatalf("the schema does not compile: %v", err)
	}
	good := string(examples.Quickstart)
	bad := strings.Replace(good, "{path_prefix: /echo}", "{path_prefx: /echo}", 1)
	if bad == good {
		t.Fatal("the quickstart has no path_prefix to misspell")
	}
	tests := []struct {
		name    string
		text    string
		wantOK  bool
		wantOut string
	}{
		{name: "quickstart", text: good, wantOK: true, wantOut: "ok"},
		{name: "misspelt key", text: bad, wantOK: false, wantOut: `unknown key "path_prefx" (did you mean "path_prefix"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v any
			if err := yaml.Unmarshal([]byte(tt.text), &v); err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(v)
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(inst); (err == nil) != tt.wantOK {
				t.Errorf("schema validation error = %v, want ok %v", err, tt.wantOK)
			}
			file := filepath.Join(t.TempDir(), "gantry.yaml")
			if err := os.WriteFile(file, []byte(tt.text), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errOut bytes.Buffer
			code := run([]string{"validate", file}, &out, &errOut)
			if (code == exitOK) != tt.wantOK || !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("gantry validate exited %d with %q, want ok %v and %q", code, out.String(), tt.wantOK, tt.wantOut)
			}
		})
	}
}
