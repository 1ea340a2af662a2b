package bench

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/server"
)

func TestUpstreamBody(t *testing.T) {
	if len(UpstreamBody) != 100 {
		t.Errorf("len(UpstreamBody) = %d, want 100", len(UpstreamBody))
	}
	var v map[string]any
	if err := json.Unmarshal(UpstreamBody, &v); err != nil {
		t.Errorf("UpstreamBody is not a JSON object: %v", err)
	}
}

func setBenchEnv(t *testing.T) {
	t.Setenv("BENCH_LISTEN", "127.0.0.1:0")
	t.Setenv("BENCH_ADMIN", "127.0.0.1:0")
	t.Setenv("BENCH_DATA", t.TempDir())
	t.Setenv("BENCH_UPSTREAM", "http://127.0.0.1:9")
	t.Setenv("BENCH_API_KEY", APIKey)
	cert, key, err := SelfSigned(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("BENCH_TLS_CERT", cert)
	t.Setenv("BENCH_TLS_KEY", key)
	t.Setenv("BENCH_UPSTREAM_TLS", "https://127.0.0.1:9")
}

// loadAndCompile runs what `gantry validate` runs on a config file.
func loadAndCompile(t *testing.T, name string, data []byte) error {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("config.Load(%s): %v", name, err)
	}
	return server.Plan(cfg)
}

// Every scenario's config must be one the gateway runs, as
// `gantry validate` checks it. (The harness reports a refused config as a
// skipped scenario, but a refusal here means the config drifted from the
// contract.)
func TestConfigsCompile(t *testing.T) {
	setBenchEnv(t)
	names, err := fs.Glob(Configs, "configs/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"configs/aggregate.yaml", "configs/auth.yaml", "configs/cache.yaml", "configs/https_front.yaml", "configs/https_upstream.yaml", "configs/plain.yaml", "configs/policy.yaml"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("configs = %v, want %v", names, want)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			data, err := Configs.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := loadAndCompile(t, filepath.Base(name), data); err != nil {
				t.Errorf("Compile(%s) = %v, want ok", name, err)
			}
		})
	}
}

func TestRoutesConfig(t *testing.T) {
	setBenchEnv(t)
	for _, n := range []int{10, 1000} {
		data := RoutesConfig(n)
		if err := loadAndCompile(t, "routes.yaml", data); err != nil {
			t.Fatalf("RoutesConfig(%d) does not compile: %v", n, err)
		}
		if got := strings.Count(string(data), "  - name: r"); got != n {
			t.Errorf("RoutesConfig(%d) has %d routes", n, got)
		}
		target := RoutesTarget(n)
		if !strings.Contains(string(data), strings.Replace(target, "/42", "/{id}", 1)) {
			t.Errorf("RoutesTarget(%d) = %s names no route in the config", n, target)
		}
	}
}

func TestProxyRender(t *testing.T) {
	dir := t.TempDir()
	on := Proxy{Dir: dir, Listen: "127.0.0.1:18080", Upstream: "127.0.0.1:19000", AccessLog: "/dev/null"}
	off := Proxy{Dir: dir, Listen: "127.0.0.1:18080", Upstream: "127.0.0.1:19000"}
	traefik := func(p Proxy) ([]byte, error) {
		static, dynamic, err := p.Traefik()
		return append(static, dynamic...), err
	}
	tests := []struct {
		name      string
		render    func(Proxy) ([]byte, error)
		p         Proxy
		want      []string
		notWanted string
		wantErr   bool
	}{
		{
			name: "nginx access log", render: Proxy.Nginx, p: on,
			want: []string{"worker_processes 2;", "keepalive 64;", "server 127.0.0.1:19000;", "listen 127.0.0.1:18080 reuseport;", "access_log /dev/null combined buffer=64k flush=1s;", "pid " + dir + "/nginx.pid;"},
		},
		{name: "nginx no access log", render: Proxy.Nginx, p: off, want: []string{"access_log off;"}, notWanted: "combined"},
		{name: "nginx missing upstream", render: Proxy.Nginx, p: Proxy{Dir: dir, Listen: "127.0.0.1:18080"}, wantErr: true},
		{name: "nginx plain has no TLS", render: Proxy.Nginx, p: off, want: []string{"proxy_pass http://app;"}, notWanted: "ssl"},
		{
			name: "nginx HTTPS front", render: Proxy.Nginx, p: Proxy{Dir: dir, Listen: "127.0.0.1:18080", Upstream: "127.0.0.1:19000", CertFile: "/c.pem", KeyFile: "/k.pem"},
			want:      []string{"listen 127.0.0.1:18080 ssl reuseport;", "ssl_certificate /c.pem;", "ssl_certificate_key /k.pem;", "ssl_protocols TLSv1.3;", "proxy_pass http://app;"},
			notWanted: "proxy_ssl",
		},
		{
			name: "nginx https upstream", render: Proxy.Nginx, p: Proxy{Dir: dir, Listen: "127.0.0.1:18080", Upstream: "127.0.0.1:19443", UpstreamCA: "/ca.pem", UpstreamName: "localhost"},
			want: []string{"listen 127.0.0.1:18080 reuseport;", "server 127.0.0.1:19443;", "keepalive 64;", "proxy_pass https://app;", "proxy_ssl_verify on;",
				"proxy_ssl_trusted_certificate /ca.pem;", "proxy_ssl_name localhost;", "proxy_ssl_server_name on;", "proxy_ssl_session_reuse on;"},
			notWanted: "ssl_certificate ",
		},
		{name: "nginx certificate without key", render: Proxy.Nginx, p: Proxy{Dir: dir, Listen: "127.0.0.1:18080", Upstream: "127.0.0.1:19000", CertFile: "/c.pem"}, wantErr: true},
		{name: "nginx upstream CA without name", render: Proxy.Nginx, p: Proxy{Dir: dir, Listen: "127.0.0.1:18080", Upstream: "127.0.0.1:19000", UpstreamCA: "/ca.pem"}, wantErr: true},
		{
			name: "haproxy access log", render: Proxy.HAProxy, p: on,
			want: []string{"nbthread 2", "bind 127.0.0.1:18080\n", "server app 127.0.0.1:19000 pool-max-conn 64", "http-reuse always",
				"log stdout format raw local0", "option httplog", "option forwardfor",
				"http-request set-header X-Request-ID %[unique-id]", "http-response set-header X-Request-ID %[unique-id]"},
		},
		{name: "haproxy no access log", render: Proxy.HAProxy, p: off, want: []string{"no log"}, notWanted: "httplog"},
		{name: "haproxy missing listen", render: Proxy.HAProxy, p: Proxy{Dir: dir, Upstream: "127.0.0.1:19000"}, wantErr: true},
		{
			name: "caddy access log", render: Proxy.Caddyfile, p: on,
			want: []string{"http://:18080 {", "bind 127.0.0.1", "reverse_proxy 127.0.0.1:19000 {", "keepalive_idle_conns_per_host 64",
				"output file /dev/null {", "header_up X-Request-ID {http.request.uuid}", "storage file_system " + dir},
		},
		{name: "caddy no access log", render: Proxy.Caddyfile, p: off, notWanted: "log {"},
		{name: "caddy listen without port", render: Proxy.Caddyfile, p: Proxy{Dir: dir, Listen: "127.0.0.1", Upstream: "127.0.0.1:19000"}, wantErr: true},
		{
			name: "traefik access log", render: traefik, p: on,
			want: []string{`address: "127.0.0.1:18080"`, `filename: "` + dir + `/traefik-dynamic.yaml"`, `filePath: "/dev/null"`,
				`- url: "http://127.0.0.1:19000"`, "maxIdleConnsPerHost: 64", "passHostHeader: false"},
		},
		{name: "traefik no access log", render: traefik, p: off, notWanted: "accessLog"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.render(tt.p)
			if (err != nil) != tt.wantErr {
				t.Fatalf("render error = %v, wantErr %v", err, tt.wantErr)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(got), w) {
					t.Errorf("render lacks %q:\n%s", w, got)
				}
			}
			if tt.notWanted != "" && strings.Contains(string(got), tt.notWanted) {
				t.Errorf("render contains %q:\n%s", tt.notWanted, got)
			}
		})
	}
}

// The Traefik files must be YAML of the shape Traefik reads: a typo in
// the indentation would leave the route out and every request a 404.
func TestTraefikYAML(t *testing.T) {
	static, dynamic, err := Proxy{Dir: "/d", Listen: "127.0.0.1:1", Upstream: "127.0.0.1:2", AccessLog: "/dev/null"}.Traefik()
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		EntryPoints map[string]struct{ Address string } `yaml:"entryPoints"`
		Providers   struct{ File struct{ Filename string } }
		AccessLog   struct {
			FilePath string `yaml:"filePath"`
		} `yaml:"accessLog"`
	}
	if err := yaml.Unmarshal(static, &s); err != nil {
		t.Fatalf("static config: %v", err)
	}
	if s.EntryPoints["web"].Address != "127.0.0.1:1" || s.Providers.File.Filename != "/d/traefik-dynamic.yaml" || s.AccessLog.FilePath != "/dev/null" {
		t.Errorf("static config = %+v", s)
	}
	var d struct {
		HTTP struct {
			Routers map[string]struct {
				EntryPoints []string `yaml:"entryPoints"`
				Service     string
			}
			Services map[string]struct {
				LoadBalancer struct {
					Servers          []struct{ URL string }
					ServersTransport string `yaml:"serversTransport"`
				} `yaml:"loadBalancer"`
			}
			ServersTransports map[string]struct {
				MaxIdleConnsPerHost int `yaml:"maxIdleConnsPerHost"`
			} `yaml:"serversTransports"`
		}
	}
	if err := yaml.Unmarshal(dynamic, &d); err != nil {
		t.Fatalf("dynamic config: %v", err)
	}
	r := d.HTTP.Routers["app"]
	lb := d.HTTP.Services[r.Service].LoadBalancer
	if len(r.EntryPoints) != 1 || r.EntryPoints[0] != "web" || len(lb.Servers) != 1 || lb.Servers[0].URL != "http://127.0.0.1:2" ||
		d.HTTP.ServersTransports[lb.ServersTransport].MaxIdleConnsPerHost != 64 {
		t.Errorf("dynamic config = %+v", d)
	}
}

// checkConfig runs a proxy's own configuration check on the rendered
// file where the proxy is installed (bench/run installs NGINX and HAProxy;
// PEERS=go builds Caddy into bin/).
func checkConfig(t *testing.T, name string, conf []byte, args func(path string) []string) {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/" + name); err != nil {
			if bin, err = filepath.Abs(filepath.Join("..", "bin", name)); err != nil || !executable(bin) {
				t.Skipf("%s is not installed", name)
			}
		}
	}
	path := filepath.Join(t.TempDir(), name+".conf")
	if err := os.WriteFile(path, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args(path)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir(), "XDG_DATA_HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%s %v: %v\n%s", bin, args(path), err, out)
	}
}

func executable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

func TestNginxConfigAccepted(t *testing.T) {
	dir := t.TempDir()
	conf, err := Proxy{Dir: dir, Listen: "127.0.0.1:1", Upstream: "127.0.0.1:2", AccessLog: filepath.Join(dir, "access.log")}.Nginx()
	if err != nil {
		t.Fatal(err)
	}
	checkConfig(t, "nginx", conf, func(path string) []string {
		return []string{"-t", "-q", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", path}
	})
}

// The TLS variants, with a certificate SelfSigned made: NGINX loads the
// certificate, key and CA file when it checks.
func TestNginxTLSConfigAccepted(t *testing.T) {
	dir := t.TempDir()
	cert, key, err := SelfSigned(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []Proxy{
		{Dir: dir, Listen: "127.0.0.1:1", Upstream: "127.0.0.1:2", CertFile: cert, KeyFile: key},
		{Dir: dir, Listen: "127.0.0.1:1", Upstream: "127.0.0.1:2", UpstreamCA: cert, UpstreamName: CertName},
	} {
		conf, err := p.Nginx()
		if err != nil {
			t.Fatal(err)
		}
		checkConfig(t, "nginx", conf, func(path string) []string {
			return []string{"-t", "-q", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", path}
		})
	}
}

// SelfSigned's certificate verifies for the name and the address the
// scenarios use, with itself as the only root.
func TestSelfSigned(t *testing.T) {
	cert, key, err := SelfSigned(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || leaf.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("key is %T, want ECDSA", leaf.PublicKey)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	for _, name := range []string{CertName, "127.0.0.1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name}); err != nil {
			t.Errorf("Verify(%s): %v", name, err)
		}
	}
}

func TestHAProxyConfigAccepted(t *testing.T) {
	for _, log := range []string{"/dev/null", ""} {
		conf, err := Proxy{Dir: t.TempDir(), Listen: "127.0.0.1:1", Upstream: "127.0.0.1:2", AccessLog: log}.HAProxy()
		if err != nil {
			t.Fatal(err)
		}
		checkConfig(t, "haproxy", conf, func(path string) []string { return []string{"-c", "-q", "-f", path} })
	}
}

func TestCaddyfileAccepted(t *testing.T) {
	conf, err := Proxy{Dir: t.TempDir(), Listen: "127.0.0.1:1", Upstream: "127.0.0.1:2", AccessLog: "/dev/null"}.Caddyfile()
	if err != nil {
		t.Fatal(err)
	}
	checkConfig(t, "caddy", conf, func(path string) []string { return []string{"validate", "--adapter", "caddyfile", "--config", path} })
}

// The tracing scenarios run the plain config plus the tracing
// section, and nothing else.
func TestTracingConfig(t *testing.T) {
	plainData, err := Configs.ReadFile("configs/plain.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var plain map[string]any
	if err := yaml.Unmarshal(plainData, &plain); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		ratio float64
		text  string
	}{{1, "sample_ratio: 1.0\n"}, {0.01, "sample_ratio: 0.01\n"}} {
		data := TracingConfig(tt.ratio)
		if !strings.Contains(string(data), tt.text) {
			t.Errorf("TracingConfig(%v) lacks %q:\n%s", tt.ratio, tt.text, data)
		}
		var got map[string]any
		if err := yaml.Unmarshal(data, &got); err != nil {
			t.Fatalf("TracingConfig(%v) is not YAML: %v", tt.ratio, err)
		}
		tel, _ := got["telemetry"].(map[string]any)
		tr, _ := tel["tracing"].(map[string]any)
		want := map[string]any{"exporter": "otlp", "endpoint": "${BENCH_OTLP_ENDPOINT}", "sample_ratio": tt.ratio, "service_name": "gantry"}
		if len(tel) != 1 || len(tr) != len(want) {
			t.Errorf("TracingConfig(%v) telemetry = %v, want tracing %v", tt.ratio, tel, want)
		}
		for k, v := range want {
			if tr[k] != v {
				t.Errorf("TracingConfig(%v) tracing.%s = %v (%T), want %v", tt.ratio, k, tr[k], tr[k], v)
			}
		}
		delete(got, "telemetry")
		a, _ := yaml.Marshal(got)
		b, _ := yaml.Marshal(plain)
		if string(a) != string(b) {
			t.Errorf("TracingConfig(%v) without telemetry differs from plain.yaml:\n%s\nwant\n%s", tt.ratio, a, b)
		}
	}
}
