package bench

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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
	want := []string{"configs/aggregate.yaml", "configs/auth.yaml", "configs/plain.yaml", "configs/policy.yaml"}
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

func TestNginxRender(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name      string
		n         Nginx
		want      []string
		wantErr   bool
		notWanted string
	}{
		{
			name: "access log",
			n:    Nginx{Dir: dir, Listen: "127.0.0.1:18080", Upstream: "127.0.0.1:19000", AccessLog: "/dev/null"},
			want: []string{"worker_processes 2;", "keepalive 64;", "server 127.0.0.1:19000;", "listen 127.0.0.1:18080 reuseport;", "access_log /dev/null combined buffer=64k flush=1s;", "pid " + dir + "/nginx.pid;"},
		},
		{
			name:      "no access log",
			n:         Nginx{Dir: dir, Listen: "127.0.0.1:18080", Upstream: "127.0.0.1:19000"},
			want:      []string{"access_log off;"},
			notWanted: "combined",
		},
		{name: "missing upstream", n: Nginx{Dir: dir, Listen: "127.0.0.1:18080"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.n.Render()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Render() error = %v, wantErr %v", err, tt.wantErr)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(got), w) {
					t.Errorf("Render() lacks %q:\n%s", w, got)
				}
			}
			if tt.notWanted != "" && strings.Contains(string(got), tt.notWanted) {
				t.Errorf("Render() contains %q", tt.notWanted)
			}
		})
	}
}

// nginx -t checks the rendered file for real where NGINX is installed.
func TestNginxConfigAccepted(t *testing.T) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		t.Skip("nginx is not installed; bench/run installs it")
	}
	dir := t.TempDir()
	conf, err := Nginx{Dir: dir, Listen: "127.0.0.1:1", Upstream: "127.0.0.1:2", AccessLog: filepath.Join(dir, "access.log")}.Render()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-t", "-q", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", path).CombinedOutput()
	if err != nil {
		t.Errorf("nginx -t: %v\n%s", err, out)
	}
}
