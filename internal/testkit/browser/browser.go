package browser

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Environment variables the package reads.
const (
	EnvChromium  = "GANTRY_TEST_CHROMIUM"
	EnvArtifacts = "GANTRY_TEST_ARTIFACTS"
	EnvRequire   = "GANTRY_TEST_REQUIRE_SERVICES"
)

// candidates are where Chromium is looked for after GANTRY_TEST_CHROMIUM.
var candidates = []string{"/usr/bin/chromium", "chromium", "chromium-browser"}

// Chromium returns the path of the Chromium binary. When there is none it
// skips the test, or fails it when GANTRY_TEST_REQUIRE_SERVICES is set.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, c := range append([]string{os.Getenv(EnvChromium)}, candidates...) {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	if os.Getenv(EnvRequire) != "" {
		t.Fatalf("chromium not installed (%s is set): apt-get install chromium, or set %s", EnvRequire, EnvChromium)
	}
	t.Skipf("chromium not installed; apt-get install chromium, or set %s", EnvChromium)
	return ""
}

// Browser is one headless Chromium with one tab, ended when the test ends.
type Browser struct {
	t   testing.TB
	ctx context.Context

	mu       sync.Mutex
	problems []string
}

// New starts Chromium with a fresh profile in a temporary directory. The
// flags keep it off the network (no updates, sync or background fetches),
// which the test machines do not have.
func New(t testing.TB) *Browser {
	t.Helper()
	path := Chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 860),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &Browser{t: t, ctx: ctx}
	// Console starts the browser and subscribes to the console API, uncaught
	// exceptions and the browser log, where Content-Security-Policy
	// violations and failed loads are reported.
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				if ctx.Err() == nil {
					b.problem("reading the console: %v", err)
				}
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() || m.Type == "assert" {
				b.problem("%s (%s:%d)", m.String(), m.URL, m.Line+1)
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		acancel()
		<-done
	})
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium %s: %v", path, err)
	}
	return b
}

func (b *Browser) problem(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, fmt.Sprintf(format, args...))
}

// Problems returns the console errors, exceptions and browser log errors
// seen since the last call, and forgets them.
func (b *Browser) Problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.problems
	b.problems = nil
	return p
}

// ExpectProblem waits up to timeout for a problem containing want (a
// failed load the test provoked, say), and forgets the problems that
// contain it; the others stay for the next Problems. It fails the test
// when none comes. Chromium reports console messages on its own
// schedule, so a problem an action caused may arrive after the action
// has returned: draining with Problems at once can miss it, and it then
// shows up as the next page's problem.
func (b *Browser) ExpectProblem(timeout time.Duration, want string) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if b.forget(want) {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("no page problem containing %q within %v; problems: %q", want, timeout, b.Problems())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// forget drops the problems that contain want and reports whether there
// was one.
func (b *Browser) forget(want string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	kept := b.problems[:0]
	for _, p := range b.problems {
		if !strings.Contains(p, want) {
			kept = append(kept, p)
		}
	}
	found := len(kept) < len(b.problems)
	b.problems = kept
	return found
}

// Do runs steps in the tab, failing the test on an error or when they take
// longer than timeout.
func (b *Browser) Do(timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%v; page problems: %q", err, b.Problems())
	}
}

// Run runs one action in the tab and returns its value, failing the test
// on an error or when it takes longer than timeout.
func Run[T any](b *Browser, timeout time.Duration, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%v; page problems: %q", err, b.Problems())
	}
	return v
}

// Context is the tab's context, for chromedp calls the helpers do not
// cover.
func (b *Browser) Context() context.Context { return b.ctx }

// ArtifactDir is where screenshots go: GANTRY_TEST_ARTIFACTS (created if
// missing) or the test's temporary directory.
func ArtifactDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv(EnvArtifacts)
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Screenshot captures the whole page as PNG into dir/name.png and returns
// the file's path.
func (b *Browser) Screenshot(dir, name string) string {
	b.t.Helper()
	png := Run(b, 15*time.Second, chromedp.FullScreenshot(100))
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return p
}
