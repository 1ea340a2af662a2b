// Package bench holds the benchmark suite that `make bench` runs against
// NGINX: the gateway configuration of each scenario, the NGINX reference
// configuration, the wrk report script and the upstream's response. The
// programs live under bench/cmd: benchrun (the harness), upstream and
// gantryprof (the gateway in-process with CPU and allocation profiles).
//
// Nothing here is on the gateway's request path; it only drives the built
// binaries over loopback.
package bench

import (
	"bytes"
	"embed"
	"fmt"
	"text/template"
)

// Configs holds the gateway configuration of each scenario, by file name
// (configs/plain.yaml, ...). They read the BENCH_* environment variables.
//
//go:embed configs/*.yaml
var Configs embed.FS

// WrkScript is the wrk Lua script that prints one JSON line of results.
//
//go:embed wrk/report.lua
var WrkScript string

//go:embed nginx.conf.tmpl
var nginxTemplate string

var nginxTmpl = template.Must(template.New("nginx.conf").Option("missingkey=error").Parse(nginxTemplate))

// UpstreamBody is the upstream's answer to every request: 100 bytes of
// JSON, the size the project's performance anchors were measured with.
var UpstreamBody = []byte(`{"id":42,"name":"Ada Lovelace","plan":"pro","active":true,"tags":["a","b"],"score":9.5,"pad":"xxxx"}`)

// APIKey is the key the authenticating scenarios send; configs read it
// from BENCH_API_KEY.
const APIKey = "bench-key-0123456789abcdef"

// Nginx fills the NGINX reference configuration.
type Nginx struct {
	// Dir holds the pid file, error log and temp directories.
	Dir string
	// Listen is the host:port NGINX serves on.
	Listen string
	// Upstream is the host:port of the upstream.
	Upstream string
	// AccessLog is the access log file; "" turns logging off.
	AccessLog string
}

// Render returns the NGINX configuration file.
func (n Nginx) Render() ([]byte, error) {
	if n.Dir == "" || n.Listen == "" || n.Upstream == "" {
		return nil, fmt.Errorf("nginx config: Dir, Listen and Upstream are required")
	}
	var b bytes.Buffer
	if err := nginxTmpl.Execute(&b, n); err != nil {
		return nil, fmt.Errorf("rendering nginx config: %w", err)
	}
	return b.Bytes(), nil
}

// RoutesConfig returns a gateway configuration with n routes (n >= 10) in
// the router benchmark's mix, by i%10: 0-5 static paths, 6-7 parameter
// patterns, 8 prefixes, 9 static paths on a host of their own. Every route
// goes to upstream app. The listen, admin, data and upstream settings read
// the same BENCH_* variables as the other configs.
func RoutesConfig(n int) []byte {
	var b bytes.Buffer
	b.Grow(n * 96)
	fmt.Fprintf(&b, `# %d routes; requests hit %s.
version: 1
server:
  listen: ${BENCH_LISTEN}
admin:
  listen: ${BENCH_ADMIN}
storage:
  dsn: ${BENCH_DATA}/routes.db
upstreams:
  app:
    targets: [{url: "${BENCH_UPSTREAM}"}]
routes:
`, n, RoutesTarget(n))
	for i := range n {
		fmt.Fprintf(&b, "  - name: r%d\n    upstream: app\n", i)
		switch i % 10 {
		case 0, 1, 2, 3, 4, 5:
			fmt.Fprintf(&b, "    match: {path: /svc%d/items/list, methods: [GET]}\n", i)
		case 6:
			fmt.Fprintf(&b, "    match: {path: \"/svc%d/users/{id}\", methods: [GET, PUT]}\n", i)
		case 7:
			fmt.Fprintf(&b, "    match: {path: \"/svc%d/users/{id}/orders/{order}\"}\n", i)
		case 8:
			fmt.Fprintf(&b, "    match: {path_prefix: /svc%d/assets/}\n", i)
		case 9:
			fmt.Fprintf(&b, "    match: {hosts: [tenant%d.example.com], path: /svc%d/items/list}\n", i, i)
		}
	}
	return b.Bytes()
}

// RoutesTarget is the request path the many-routes scenario sends: a
// parameter route in the last tenth of the table.
func RoutesTarget(n int) string {
	return fmt.Sprintf("/svc%d/users/42", n-4)
}
