// Package bench holds the benchmark suite that `make bench` runs against
// NGINX: the gateway configuration of each scenario, the configurations of
// the reference proxies (NGINX and HAProxy, and with PEERS=go the Go peers
// Caddy and Traefik, built from bench/peers), the wrk report script and
// the upstream's response. The
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
	"net"
	"strconv"
	"strings"
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

// The reference proxies' configuration templates, by name.
//
//go:embed nginx.conf.tmpl haproxy.cfg.tmpl Caddyfile.tmpl traefik.yaml.tmpl traefik-dynamic.yaml.tmpl
var refTemplates embed.FS

var refTmpl = template.Must(template.New("").Option("missingkey=error").ParseFS(refTemplates, "*.tmpl"))

// UpstreamBody is the upstream's answer to every request: 100 bytes of
// JSON, the size the project's performance anchors were measured with.
var UpstreamBody = []byte(`{"id":42,"name":"Ada Lovelace","plan":"pro","active":true,"tags":["a","b"],"score":9.5,"pad":"xxxx"}`)

// APIKey is the key the authenticating scenarios send; configs read it
// from BENCH_API_KEY.
const APIKey = "bench-key-0123456789abcdef"

// Proxy fills a reference proxy's configuration: the same settings for
// each (NGINX, HAProxy, Caddy, Traefik), rendered by the method of its
// name.
type Proxy struct {
	// Dir holds the pid file, error log, temp directories and the second
	// file of a configuration in two (Traefik's dynamic one).
	Dir string
	// Listen is the host:port the proxy serves on.
	Listen string
	// Upstream is the host:port of the upstream.
	Upstream string
	// AccessLog is the access log file; "" turns logging off. HAProxy
	// logs on its stdout, which the harness points at this file.
	AccessLog string
	// CertFile and KeyFile, when set, make the proxy serve HTTPS (TLS 1.3)
	// with that certificate. NGINX only.
	CertFile, KeyFile string
	// UpstreamCA, when set, makes the proxy speak HTTPS to the upstream,
	// verifying its certificate against this CA file for UpstreamName
	// (required then), reusing TLS sessions. NGINX only.
	UpstreamCA, UpstreamName string
}

// Nginx returns the NGINX configuration file.
func (p Proxy) Nginx() ([]byte, error) { return p.render("nginx.conf.tmpl", nil) }

// HAProxy returns the HAProxy configuration file.
func (p Proxy) HAProxy() ([]byte, error) { return p.render("haproxy.cfg.tmpl", nil) }

// Caddyfile returns Caddy's configuration in its Caddyfile format.
func (p Proxy) Caddyfile() ([]byte, error) {
	host, port, err := net.SplitHostPort(p.Listen)
	if err != nil {
		return nil, fmt.Errorf("caddy config: %w", err)
	}
	return p.render("Caddyfile.tmpl", map[string]string{"Host": host, "Port": port})
}

// Traefik returns Traefik's static configuration and its dynamic one,
// which the static one expects in Dir/traefik-dynamic.yaml.
func (p Proxy) Traefik() (static, dynamic []byte, err error) {
	if static, err = p.render("traefik.yaml.tmpl", nil); err != nil {
		return nil, nil, err
	}
	if dynamic, err = p.render("traefik-dynamic.yaml.tmpl", nil); err != nil {
		return nil, nil, err
	}
	return static, dynamic, nil
}

// render fills template name with p's fields plus extra.
func (p Proxy) render(name string, extra map[string]string) ([]byte, error) {
	if p.Dir == "" || p.Listen == "" || p.Upstream == "" {
		return nil, fmt.Errorf("%s: Dir, Listen and Upstream are required", name)
	}
	if (p.CertFile == "") != (p.KeyFile == "") || (p.UpstreamCA != "" && p.UpstreamName == "") {
		return nil, fmt.Errorf("%s: CertFile and KeyFile go together, and UpstreamCA needs UpstreamName", name)
	}
	data := map[string]string{"Dir": p.Dir, "Listen": p.Listen, "Upstream": p.Upstream, "AccessLog": p.AccessLog,
		"CertFile": p.CertFile, "KeyFile": p.KeyFile, "UpstreamCA": p.UpstreamCA, "UpstreamName": p.UpstreamName}
	for k, v := range extra {
		data[k] = v
	}
	var b bytes.Buffer
	if err := refTmpl.ExecuteTemplate(&b, name, data); err != nil {
		return nil, fmt.Errorf("rendering %s: %w", name, err)
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

// TracingConfig returns the plain scenario's configuration with
// OpenTelemetry tracing on: spans exported over OTLP/HTTP to the collector
// at ${BENCH_OTLP_ENDPOINT}, ratio being the share of requests (without a
// sampled parent) that are sampled. Tracing off is the plain config
// itself, which has no telemetry section.
func TracingConfig(ratio float64) []byte {
	plain, err := Configs.ReadFile("configs/plain.yaml")
	if err != nil {
		panic(err) // embedded at build time
	}
	r := strconv.FormatFloat(ratio, 'f', -1, 64)
	if !strings.Contains(r, ".") {
		r += ".0"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Gantry plain with tracing on at sample ratio %s (bench.TracingConfig).\n", r)
	b.Write(plain)
	fmt.Fprintf(&b, `telemetry:
  tracing:
    exporter: otlp
    endpoint: ${BENCH_OTLP_ENDPOINT}
    sample_ratio: %s
    service_name: gantry
`, r)
	return b.Bytes()
}
