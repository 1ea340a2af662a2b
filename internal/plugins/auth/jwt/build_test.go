package jwt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
)

// TestBuildIsPure checks that Build fetches nothing and starts nothing:
// the JWKS is fetched by Start, and a provider built and closed without
// Start never contacted the endpoint.
func TestBuildIsPure(t *testing.T) {
	testKeys(t)
	s := newIdP(t)
	p, err := Build(corpConfig(s.URL), nil, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := s.fetches.Load(); n != 0 {
		t.Fatalf("Build fetched the JWKS %d times, want 0", n)
	}
	p.Close()
	p.Start(context.Background())
	if n := s.fetches.Load(); n != 0 {
		t.Fatalf("Start after Close fetched the JWKS %d times, want 0", n)
	}

	q, err := Build(corpConfig(s.URL), nil, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	q.Start(context.Background())
	if n := s.fetches.Load(); n != 1 {
		t.Fatalf("Start fetched the JWKS %d times, want 1 before returning", n)
	}
}

// TestBuildKeyFileError checks that a key file problem is a *KeyFileError,
// so it can be reported at public_key_file, and other problems are not.
func TestBuildKeyFileError(t *testing.T) {
	dir := t.TempDir()
	notKey := filepath.Join(dir, "not.pem")
	writeTestFile(t, notKey, "hello\n")
	tests := []struct {
		name    string
		cfg     config.JWT
		keyFile bool
	}{
		{"missing file", config.JWT{Name: "a", PublicKeyFile: filepath.Join(dir, "missing.pem"), Algorithms: []string{"RS256"}}, true},
		{"not a key", config.JWT{Name: "a", PublicKeyFile: notKey, Algorithms: []string{"RS256"}}, true},
		{"bad algorithm", config.JWT{Name: "a", PublicKeyFile: notKey, Algorithms: []string{"none"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(&tt.cfg, nil, Options{})
			if err == nil {
				t.Fatal("Build() = nil error")
			}
			var kf *KeyFileError
			if errors.As(err, &kf) != tt.keyFile {
				t.Fatalf("Build() = %v; a *KeyFileError: %v, want %v", err, !tt.keyFile, tt.keyFile)
			}
		})
	}
}

func writeTestFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// buildStarted is Build, then Start.
func buildStarted(ctx context.Context, c *config.JWT, res Resolver, opts Options) (*Provider, error) {
	p, err := Build(c, res, opts)
	if err != nil {
		return nil, err
	}
	p.Start(ctx)
	return p, nil
}
