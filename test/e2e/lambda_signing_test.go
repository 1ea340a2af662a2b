package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

func TestLambdaSigning(t *testing.T) {
	creds := []string{"AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=secret", "AWS_SESSION_TOKEN=tok"}
	tests := []struct {
		name     string
		function string
		env      []string
		signed   bool
	}{
		{"credentials in the environment", "shop-api", creds, true},
		// An ARN with a version qualifier has colons, which the path
		// escapes and the signature's canonical URI escapes again.
		{"function ARN", "arn:aws:lambda:us-east-1:123456789012:function:shop-api:live", creds, true},
		{"no credentials", "shop-api", noAWSCredentials, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeLambda(t, nil)
			g := testkit.Start(t, base(fmt.Sprintf(`upstreams:
  fn: {lambda: {function: %q, region: us-east-1, endpoint: %q}}
routes:
  - name: fn
    match: {path_prefix: /}
    upstream: fn
`, tt.function, f.URL)), tt.env...)
			start := time.Now().UTC()
			// The client's own credentials-looking headers belong to the
			// event, never to the invoke request.
			r := get(t, g.URL+"/sig", "X-Request-ID: sig-1", "Authorization: Bearer user-token",
				"X-Amz-Security-Token: forged", "X-Amz-Invocation-Type: Event", "X-Amz-Date: 20000101T000000Z")
			if r.Status != 200 {
				t.Fatalf("status %d %s", r.Status, r.Body)
			}
			inv := f.invocation(t, "sig-1")
			if inv.Function != tt.function {
				t.Errorf("invoked function %q, want %q", inv.Function, tt.function)
			}
			if want := strings.TrimPrefix(f.URL, "http://"); inv.Host != want {
				t.Errorf("invoke Host = %q, want the endpoint's %q", inv.Host, want)
			}
			if got := inv.Event.Headers["authorization"]; got != "Bearer user-token" {
				t.Errorf("event header authorization = %q, want the client's", got)
			}
			h := inv.Header
			for _, name := range []string{"X-Amz-Invocation-Type", "X-Amz-Date", "X-Amz-Security-Token", "Authorization"} {
				if len(h.Values(name)) > 1 {
					t.Errorf("invoke request has %s %q: the client's value got through", name, h.Values(name))
				}
			}
			if !tt.signed {
				for _, name := range []string{"Authorization", "X-Amz-Security-Token", "X-Amz-Date"} {
					if v := h.Get(name); v != "" {
						t.Errorf("unsigned invoke carries %s: %q", name, v)
					}
				}
				return
			}
			auth := h.Get("Authorization")
			if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") || !strings.Contains(auth, "/us-east-1/lambda/aws4_request") {
				t.Fatalf("Authorization = %q, want SigV4 for AKIDEXAMPLE in us-east-1/lambda", auth)
			}
			if got := h.Get("X-Amz-Security-Token"); got != "tok" {
				t.Errorf("X-Amz-Security-Token = %q, want tok", got)
			}
			date, err := time.Parse("20060102T150405Z", h.Get("X-Amz-Date"))
			if err != nil {
				t.Fatalf("X-Amz-Date %q: %v", h.Get("X-Amz-Date"), err)
			}
			if d := date.Sub(start); d < -5*time.Minute || d > 5*time.Minute {
				t.Errorf("X-Amz-Date %v is %v from now", date, d)
			}
			if err := checkSigV4(inv, "secret"); err != nil {
				t.Error(err)
			}
		})
	}
}

// checkSigV4 recomputes inv's AWS Signature Version 4 with secret, as the
// Lambda service would, and reports a mismatch.
func checkSigV4(inv invocation, secret string) error {
	h := inv.Header
	rest, ok := strings.CutPrefix(h.Get("Authorization"), "AWS4-HMAC-SHA256 ")
	if !ok {
		return fmt.Errorf("authorization %q is not AWS4-HMAC-SHA256", h.Get("Authorization"))
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/") // key id, date, region, service, aws4_request
	if len(scope) != 5 || fields["SignedHeaders"] == "" || fields["Signature"] == "" {
		return fmt.Errorf("authorization %q lacks Credential, SignedHeaders or Signature", h.Get("Authorization"))
	}
	amzDate := h.Get("X-Amz-Date")
	if !strings.HasPrefix(amzDate, scope[1]) {
		return fmt.Errorf("credential date %s is not the day of X-Amz-Date %s", scope[1], amzDate)
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	for _, must := range []string{"host", "x-amz-date", "x-amz-security-token"} {
		if !slices.Contains(signed, must) {
			return fmt.Errorf("SignedHeaders %q lacks %s", fields["SignedHeaders"], must)
		}
	}
	var canon strings.Builder
	for _, name := range signed {
		vals := h.Values(name)
		switch name {
		case "host":
			vals = []string{inv.Host}
		case "content-length":
			if len(vals) == 0 {
				vals = []string{strconv.Itoa(len(inv.Payload))}
			}
		}
		for i, v := range vals {
			vals[i] = strings.Join(strings.Fields(v), " ")
		}
		fmt.Fprintf(&canon, "%s:%s\n", name, strings.Join(vals, ","))
	}
	payloadHash := sha256Hex(inv.Payload)
	if x := h.Get("X-Amz-Content-Sha256"); x != "" && x != payloadHash {
		return fmt.Errorf("X-Amz-Content-Sha256 %s, payload hashes to %s", x, payloadHash)
	}
	creq := strings.Join([]string{inv.Method, awsEscapePath(inv.EscapedPath), "", canon.String(), fields["SignedHeaders"], payloadHash}, "\n")
	sts := strings.Join([]string{"AWS4-HMAC-SHA256", amzDate, strings.Join(scope[1:], "/"), sha256Hex([]byte(creq))}, "\n")
	key := []byte("AWS4" + secret)
	for _, part := range scope[1:] {
		key = hmacSHA256(key, part)
	}
	if want := hex.EncodeToString(hmacSHA256(key, sts)); fields["Signature"] != want {
		return fmt.Errorf("signature %s, want %s for canonical request:\n%s", fields["Signature"], want, creq)
	}
	return nil
}

// awsEscapePath is SigV4's canonical URI for services other than S3: the
// path as sent, URI-encoded once more except for unreserved bytes and "/".
func awsEscapePath(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~/", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func TestLambdaConfigRefused(t *testing.T) {
	creds := []string{"AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=secret"}
	tests := []struct {
		name     string
		sections string
		env      []string
		// want are substrings of the refusal; none means accepted.
		want []string
	}{
		{
			name: "no endpoint and no credentials",
			sections: `upstreams:
  fn: {lambda: {function: shop-api, region: us-east-1}}
routes:
  - {name: fn, match: {path_prefix: /}, upstream: fn}
`,
			want: []string{"upstreams.fn.lambda"},
		},
		{
			name: "no endpoint with credentials",
			sections: `upstreams:
  fn: {lambda: {function: shop-api, region: us-east-1}}
routes:
  - {name: fn, match: {path_prefix: /}, upstream: fn}
`,
			env: creds,
		},
		{
			name: "endpoint without credentials",
			sections: `upstreams:
  fn: {lambda: {function: shop-api, region: us-east-1, endpoint: "http://127.0.0.1:9001"}}
routes:
  - {name: fn, match: {path_prefix: /}, upstream: fn}
`,
		},
		{
			name: "aggregate call to a function",
			sections: `upstreams:
  fn: {lambda: {function: shop-api, region: us-east-1, endpoint: "http://127.0.0.1:9001"}}
  svc: {targets: [{url: "http://127.0.0.1:9002"}]}
routes:
  - name: dash
    match: {path: /dash}
    aggregate:
      calls:
        - {name: user, upstream: svc, path: /users/1}
        - {name: thumbs, upstream: fn, path: /thumbs}
`,
			want: []string{"routes[0].aggregate", "aggregate calls need an upstream with targets"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(testkit.Binary(t), "validate", "--config", testkit.WriteConfig(t, base(tt.sections)))
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "AWS_") {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			cmd.Env = append(cmd.Env, tt.env...)
			out, err := cmd.CombinedOutput()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("validate refused a valid config: %v\n%s", err, out)
				}
				return
			}
			if err == nil {
				t.Fatalf("validate accepted the config:\n%s", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("validate output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
