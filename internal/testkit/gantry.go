package testkit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds ./cmd/gantry once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gantry-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "gantry")
		touchSources()
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "./cmd/gantry")
		cmd := exec.Command("go", args...)
		cmd.Dir = moduleRoot()
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// touchSources stats every source file the binary is built from. go test
// caches a package's result by what the test process itself reads, and the
// build runs in a child process: without this, `go test ./...` would replay
// an end-to-end pass after the gateway's code changed.
func touchSources() {
	filepath.WalkDir(moduleRoot(), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		// .html, .css and .js: the web pages embedded in the binary.
		switch filepath.Ext(p) {
		case ".go", ".yaml", ".sql", ".html", ".css", ".js":
			os.Stat(p)
		}
		if filepath.Base(p) == "go.mod" {
			os.Stat(p)
		}
		return nil
	})
}

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Gantry is a running gantry process.
type Gantry struct {
	t          testing.TB
	Cmd        *exec.Cmd
	ConfigPath string
	// URL is the client-facing base URL, Addr its host:port.
	URL, Addr string
	// AdminURL is the admin base URL.
	AdminURL string
	// PortalURL is the consumer portal's base URL, "" without a portal.
	PortalURL string
	stdout    *syncBuffer
	stderr    *syncBuffer
	exited    chan struct{}
	exitErr   error
}

// WriteConfig writes yaml into a fresh temp dir and returns the file path.
func WriteConfig(t testing.TB, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gantry.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Start runs `gantry run --config` on yaml and waits until it listens. The
// config should listen on 127.0.0.1:0 (client and admin); the bound
// addresses are read from the start-up log line. The process is stopped
// when the test ends.
func Start(t testing.TB, yaml string, env ...string) *Gantry {
	t.Helper()
	return StartFile(t, WriteConfig(t, yaml), env...)
}

// StartFile is Start with an existing config file.
func StartFile(t testing.TB, path string, env ...string) *Gantry {
	t.Helper()
	if e := os.Getenv("GANTRY_TEST_ENGINE"); e != "" {
		if err := withEngine(path, e); err != nil {
			t.Fatal(err)
		}
	}
	g := &Gantry{t: t, ConfigPath: path, stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	g.Cmd = exec.Command(Binary(t), "run", "--config", path)
	// Race-built binaries sleep 1 s at exit unless told not to.
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	g.Cmd.Env = append(append(os.Environ(), "GORACE="+gorace), env...)
	g.Cmd.Stdout = g.stdout
	pr, pw := io.Pipe()
	g.Cmd.Stderr = io.MultiWriter(g.stderr, pw)
	if err := g.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		g.exitErr = g.Cmd.Wait()
		pw.Close()
		close(g.exited)
	}()
	t.Cleanup(func() {
		g.Stop()
		if t.Failed() {
			t.Logf("gantry stderr:\n%s", g.stderr.String())
		}
	})
	started := make(chan map[string]any, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "gantry started" {
				started <- m
				break
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case m := <-started:
		g.Addr, _ = m["listen"].(string)
		adm, _ := m["admin"].(string)
		scheme := "http"
		if servesTLS(readFile(path)) {
			scheme = "https"
		}
		g.URL = scheme + "://" + g.Addr
		g.AdminURL = "http://" + adm
		if p, _ := m["portal"].(string); p != "" {
			g.PortalURL = "http://" + p
		}
	case <-g.exited:
		t.Fatalf("gantry exited before listening: %v\nstderr:\n%s", g.exitErr, g.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("gantry did not start within 30s\nstderr:\n%s", g.stderr.String())
	}
	return g
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

// Signal sends sig to the process.
func (g *Gantry) Signal(sig os.Signal) {
	g.t.Helper()
	if err := g.Cmd.Process.Signal(sig); err != nil {
		g.t.Fatalf("signal %v: %v", sig, err)
	}
}

// Wait waits up to d for the process to exit and returns its exit code
// (-1 if it did not exit).
func (g *Gantry) Wait(d time.Duration) int {
	select {
	case <-g.exited:
		if g.Cmd.ProcessState != nil {
			return g.Cmd.ProcessState.ExitCode()
		}
		return -1
	case <-time.After(d):
		return -1
	}
}

// Stop sends SIGTERM and waits; it kills the process after 10 s.
func (g *Gantry) Stop() {
	select {
	case <-g.exited:
		return
	default:
	}
	g.Cmd.Process.Signal(syscall.SIGTERM)
	if g.Wait(10*time.Second) == -1 {
		g.Cmd.Process.Kill()
		<-g.exited
	}
}

// Stdout returns what the process wrote to stdout (the access log).
func (g *Gantry) Stdout() string { return g.stdout.String() }

// Stderr returns the process log.
func (g *Gantry) Stderr() string { return g.stderr.String() }

// Admin calls the admin API and returns status and body.
func (g *Gantry) Admin(method, path, token string) (int, []byte) {
	g.t.Helper()
	req, _ := http.NewRequest(method, g.AdminURL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatalf("admin %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// servesTLS reports whether the config file sets server.tls; other
// sections (an upstream's tls) name certificate files too.
func servesTLS(file string) bool {
	var cfg struct {
		Server struct {
			TLS any `yaml:"tls"`
		} `yaml:"server"`
	}
	return yaml.Unmarshal([]byte(file), &cfg) == nil && cfg.Server.TLS != nil
}
