package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gantry-dev/gantry/bench"
)

// startUpstream starts the upstream and waits for its address.
func (h *harness) startUpstream() error {
	p, addr, err := h.startListener("upstream", exec.Command(h.o.upstream, "-listen", "127.0.0.1:0"))
	if err != nil {
		return err
	}
	h.upstream, h.upstreamAddr = p, addr
	return nil
}

// startTLS makes the run's certificate and starts the upstream serving
// it, when list has a TLS scenario.
func (h *harness) startTLS(list []*scenario) error {
	need := false
	for _, s := range list {
		need = need || s.tlsFront || s.tlsUpstream
	}
	if !need {
		return nil
	}
	dir := h.path("tls")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var err error
	if h.certFile, h.keyFile, err = bench.SelfSigned(dir); err != nil {
		return err
	}
	pem, err := os.ReadFile(h.certFile)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	h.tlsClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	p, addr, err := h.startListener("upstream-tls", exec.Command(h.o.upstream, "-listen", "127.0.0.1:0", "-tls-cert", h.certFile, "-tls-key", h.keyFile))
	if err != nil {
		return err
	}
	h.upstreamTLS, h.upstreamTLSAddr = p, addr
	return nil
}

// scheme is what clients use to reach s.
func (s *scenario) scheme() string {
	if s.tlsFront {
		return "https://"
	}
	return "http://"
}

// startGoProxy starts one of the reference Go proxies (bin, logging as
// name) in front of the upstream.
func (h *harness) startGoProxy(s *scenario, bin, name string) error {
	p, addr, err := h.startListener(name, exec.Command(bin, "-listen", "127.0.0.1:0", "-upstream", "http://"+h.upstreamAddr))
	if err != nil {
		return err
	}
	s.proc = p
	s.url = "http://" + addr + s.path
	pid := p.pid()
	s.pids = func() []int { return []int{pid} }
	s.rssOf = s.pids
	return nil
}

// startListener starts one of the bench's own servers, which print
// "listening ADDR" once they accept connections.
func (h *harness) startListener(name string, cmd *exec.Cmd) (*proc, string, error) {
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	logFile, err := os.Create(h.path(name + ".log"))
	if err != nil {
		return nil, "", err
	}
	cmd.Stderr = logFile
	p, err := h.ps.start(name, cmd)
	if err != nil {
		return nil, "", err
	}
	line, _, err := readLineUntil(out, logFile, 10*time.Second, func(l string) bool { return strings.HasPrefix(l, "listening ") })
	if err != nil {
		return nil, "", fmt.Errorf("%s did not start: %w", name, err)
	}
	return p, strings.TrimPrefix(line, "listening "), nil
}

// freePort returns a loopback address nothing listens on right now, for
// the reference proxies, which cannot report a port they picked themselves.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (h *harness) accessLogPath(name string) string {
	switch h.o.accessLog {
	case "file":
		return h.path(name + "-access.log")
	case "null":
		return os.DevNull
	}
	return ""
}

// startNginx starts an NGINX master of its own (daemon off, its own pid
// file and temp directories) with two workers.
func (h *harness) startNginx(s *scenario) error {
	addr, err := freePort()
	if err != nil {
		return err
	}
	// One directory, configuration and log per NGINX (the plain one is
	// "nginx").
	name := s.key
	dir := h.path(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// Workers run as an unprivileged user when the harness is root; they
	// only need to reach the temp directories.
	os.Chmod(h.tmp, 0o755)
	px := bench.Proxy{Dir: dir, Listen: addr, Upstream: h.upstreamAddr, AccessLog: h.accessLogPath(name)}
	if s.tlsFront {
		px.CertFile, px.KeyFile = h.certFile, h.keyFile
	}
	if s.tlsUpstream {
		px.Upstream, px.UpstreamCA, px.UpstreamName = h.upstreamTLSAddr, h.certFile, bench.CertName
	}
	conf, err := px.Nginx()
	if err != nil {
		return err
	}
	confPath := h.path(name + ".conf")
	if err := os.WriteFile(confPath, conf, 0o644); err != nil {
		return err
	}
	logFile, err := os.Create(h.path(name + ".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(h.o.nginx, "-p", dir, "-e", dir+"/nginx-error.log", "-c", confPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	p, err := h.ps.start(name, cmd)
	if err != nil {
		return err
	}
	master := p.pid()
	deadline := time.Now().Add(15 * time.Second)
	for {
		workers := children(master)
		if len(workers) >= 2 && dialable(addr) {
			p.extra = workers
			break
		}
		if p.exited() || time.Now().After(deadline) {
			b, _ := os.ReadFile(dir + "/nginx-error.log")
			l, _ := os.ReadFile(h.path(name + ".log"))
			return fmt.Errorf("nginx did not start: %s %s", firstLines(string(b), 5), firstLines(string(l), 5))
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.proc = p
	s.url = s.scheme() + addr + s.path
	s.pids = func() []int { return append([]int{master}, children(master)...) }
	s.rssOf = func() []int { return children(master) }
	return nil
}

// startHAProxy starts HAProxy in the foreground (-db: one process, two
// threads), its access log on stdout into the access log file.
func (h *harness) startHAProxy(ctx context.Context, s *scenario) error {
	addr, dir, err := h.refDir("haproxy")
	if err != nil {
		return err
	}
	logPath := h.accessLogPath("haproxy")
	conf, err := bench.Proxy{Dir: dir, Listen: addr, Upstream: h.upstreamAddr, AccessLog: logPath}.HAProxy()
	if err != nil {
		return err
	}
	confPath := h.path("haproxy.cfg")
	if err := os.WriteFile(confPath, conf, 0o644); err != nil {
		return err
	}
	cmd := exec.Command(h.o.haproxy, "-db", "-f", confPath)
	if logPath != "" {
		f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer f.Close() // the child holds its own copy
		cmd.Stdout = f
	}
	return h.startRef(ctx, s, "haproxy", cmd, addr)
}

// startCaddy starts Caddy (a Go peer) on its Caddyfile, with its data and
// config directories in the run's temporary directory.
func (h *harness) startCaddy(ctx context.Context, s *scenario) error {
	addr, dir, err := h.refDir("caddy")
	if err != nil {
		return err
	}
	conf, err := bench.Proxy{Dir: dir, Listen: addr, Upstream: h.upstreamAddr, AccessLog: h.accessLogPath("caddy")}.Caddyfile()
	if err != nil {
		return err
	}
	confPath := h.path("Caddyfile")
	if err := os.WriteFile(confPath, conf, 0o644); err != nil {
		return err
	}
	cmd := exec.Command(h.o.caddy, "run", "--config", confPath, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_DATA_HOME="+dir)
	return h.startRef(ctx, s, "caddy", cmd, addr)
}

// startTraefik starts Traefik (a Go peer) on its static configuration,
// which points its file provider at the dynamic one.
func (h *harness) startTraefik(ctx context.Context, s *scenario) error {
	addr, dir, err := h.refDir("traefik")
	if err != nil {
		return err
	}
	static, dynamic, err := bench.Proxy{Dir: dir, Listen: addr, Upstream: h.upstreamAddr, AccessLog: h.accessLogPath("traefik")}.Traefik()
	if err != nil {
		return err
	}
	confPath := h.path("traefik.yaml")
	if err := os.WriteFile(confPath, static, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "traefik-dynamic.yaml"), dynamic, 0o644); err != nil {
		return err
	}
	cmd := exec.Command(h.o.traefik, "--configFile="+confPath)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	return h.startRef(ctx, s, "traefik", cmd, addr)
}

// refDir picks a free address for a reference proxy and makes its
// directory.
func (h *harness) refDir(name string) (addr, dir string, err error) {
	if addr, err = freePort(); err != nil {
		return "", "", err
	}
	dir = h.path(name)
	return addr, dir, os.MkdirAll(dir, 0o755)
}

// startRef starts a reference proxy that stays in the foreground as one
// process (what it prints and does not send elsewhere goes to NAME.log)
// and waits until a checked request goes through it: Traefik, for one,
// listens before its file provider has loaded the route.
func (h *harness) startRef(ctx context.Context, s *scenario, name string, cmd *exec.Cmd, addr string) error {
	logFile, err := os.Create(h.path(name + ".log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	if cmd.Stdout == nil {
		cmd.Stdout = logFile
	}
	cmd.Stderr = logFile
	p, err := h.ps.start(name, cmd)
	if err != nil {
		return err
	}
	s.url = "http://" + addr + s.path
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := check(ctx, s)
		if err == nil {
			break
		}
		if p.exited() || time.Now().After(deadline) || ctx.Err() != nil {
			l, _ := os.ReadFile(h.path(name + ".log"))
			return fmt.Errorf("%s did not start: %v; %s", name, err, firstLines(string(l), 5))
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.proc = p
	pid := p.pid()
	s.pids = func() []int { return []int{pid} }
	s.rssOf = s.pids
	return nil
}

func dialable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// gatewayEnv is what the scenario configs read. An https upstream's
// certificate is trusted through SSL_CERT_FILE (the config has no CA
// option of its own), for the scenario that needs it only.
func (h *harness) gatewayEnv(s *scenario) []string {
	env := append(os.Environ(),
		"BENCH_LISTEN=127.0.0.1:0",
		"BENCH_ADMIN=127.0.0.1:0",
		"BENCH_DATA="+h.dataDir(s),
		"BENCH_UPSTREAM=http://"+h.upstreamAddr,
		"BENCH_API_KEY="+bench.APIKey,
	)
	if h.certFile != "" {
		env = append(env, "BENCH_TLS_CERT="+h.certFile, "BENCH_TLS_KEY="+h.keyFile, "BENCH_UPSTREAM_TLS=https://"+h.upstreamTLSAddr)
	}
	if s.tlsUpstream {
		env = append(env, "SSL_CERT_FILE="+h.certFile)
	}
	if s.sink != nil {
		env = append(env, "BENCH_OTLP_ENDPOINT="+s.sink.endpoint())
	}
	return env
}

// dataDir is the scenario's storage directory: one per gateway, as two
// gateways on one config (the 10,000-route one and its idle twin) must not
// share a database file.
func (h *harness) dataDir(s *scenario) string { return filepath.Join(h.tmp, "data", s.key) }

// writeConfig writes the scenario's gateway config into the temp dir.
func (h *harness) writeConfig(s *scenario) (string, error) {
	var data []byte
	switch {
	case s.routes:
		data = bench.RoutesConfig(routesN)
	case s.tracing:
		data = bench.TracingConfig(s.sampleRatio)
	default:
		var err error
		if data, err = bench.Configs.ReadFile("configs/" + s.config); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(h.dataDir(s), 0o755); err != nil {
		return "", err
	}
	path := h.path(s.key + ".yaml")
	return path, os.WriteFile(path, data, 0o644)
}

// startGantry validates the scenario's config and starts a gateway on it.
// A config the gateway refuses (a feature not built yet) marks the
// scenario skipped instead of failing the run.
func (h *harness) startGantry(s *scenario) error {
	path, err := h.writeConfig(s)
	if err != nil {
		return err
	}
	validate := exec.Command(h.o.gantry, "validate", "-c", path)
	validate.Env = h.gatewayEnv(s)
	if out, err := validate.CombinedOutput(); err != nil {
		// The temp directory means nothing to a reader; the file name does.
		msg := strings.ReplaceAll(string(out), filepath.Dir(path)+string(filepath.Separator), "")
		s.skip = "config refused: " + firstLines(msg, 2)
		return nil
	}

	cmd := exec.Command(h.o.gantry, "run", "-c", path, "--access-log", orOff(h.accessLogPath("gantry-"+s.key)))
	cmd.Env = h.gatewayEnv(s)
	logFile, err := os.Create(h.path("gantry-" + s.key + ".log"))
	if err != nil {
		return err
	}
	cmd.Stdout = logFile
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	p, err := h.ps.start("gantry-"+s.key, cmd)
	if err != nil {
		return err
	}
	line, before, err := readLineUntil(stderr, logFile, 2*time.Minute, func(l string) bool {
		return strings.Contains(l, `"msg":"gantry started"`)
	})
	if err != nil {
		p.stop(syscall.SIGTERM, 5*time.Second)
		s.skip = "refused at start: " + firstLines(before, 2)
		return nil
	}
	var started struct {
		Listen string `json:"listen"`
		Admin  string `json:"admin"`
	}
	if err := json.Unmarshal([]byte(line), &started); err != nil || started.Listen == "" {
		return fmt.Errorf("gantry-%s: no listen address in %q", s.key, line)
	}
	s.proc = p
	s.url = s.scheme() + started.Listen + s.path
	if started.Admin != "" {
		s.admin = "http://" + started.Admin
	}
	pid := p.pid()
	s.pids = func() []int { return []int{pid} }
	s.rssOf = s.pids
	return nil
}

func orOff(path string) string {
	if path == "" {
		return "off"
	}
	return path
}

// check sends one request and verifies the answer is what the upstream
// (or, for an aggregate, the merge of its calls) sends.
func check(ctx context.Context, s *scenario) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return err
	}
	for _, hv := range s.header {
		k, v, _ := strings.Cut(hv, ":")
		req.Header.Set(k, strings.TrimSpace(v))
	}
	client := http.DefaultClient
	if s.client != nil {
		client = s.client
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d: %s", s.url, resp.StatusCode, firstLines(string(body), 2))
	}
	if s.expectHeader != "" && resp.Header.Get(s.expectHeader) == "" {
		return fmt.Errorf("GET %s: no %s header on the answer", s.url, s.expectHeader)
	}
	if len(s.aggregate) == 0 {
		if string(body) != string(bench.UpstreamBody) {
			return fmt.Errorf("GET %s: body %q, want the upstream's", s.url, body)
		}
		return nil
	}
	var merged map[string]json.RawMessage
	if err := json.Unmarshal(body, &merged); err != nil {
		return fmt.Errorf("GET %s: aggregate answer is not a JSON object: %w", s.url, err)
	}
	var keys []string
	for k := range merged {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, s.aggregate) {
		return fmt.Errorf("GET %s: aggregate keys %v, want %v", s.url, keys, s.aggregate)
	}
	return nil
}
