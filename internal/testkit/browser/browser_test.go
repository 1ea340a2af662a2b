package browser

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestProblems checks that what New records is what makes a page unclean:
// console errors, uncaught exceptions and Content-Security-Policy
// violations, and nothing on a clean page.
func TestProblems(t *testing.T) {
	pages := map[string]string{
		"/clean":     `<!doctype html><link rel=icon href="data:,"><title>ok</title><p id=done>ok</p><script src="/log.js"></script>`,
		"/log.js":    `console.log("fine"); console.warn("also fine")`,
		"/error":     `<!doctype html><link rel=icon href="data:,"><title>e</title><p id=done>e</p><script src="/error.js"></script>`,
		"/error.js":  `console.error("broken widget")`,
		"/throw":     `<!doctype html><link rel=icon href="data:,"><title>t</title><p id=done>t</p><script src="/throw.js"></script>`,
		"/throw.js":  `throw new Error("kaboom")`,
		"/csp":       `<!doctype html><link rel=icon href="data:,"><title>c</title><p id=done>c</p><script>document.title = "inline"</script>`,
		"/shot-page": `<!doctype html><link rel=icon href="data:,"><title>s</title><p id=done style="font-size:40px">screenshot</p>`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if strings.HasSuffix(r.URL.Path, ".js") {
			w.Header().Set("Content-Type", "text/javascript")
		} else {
			w.Header().Set("Content-Type", "text/html")
		}
		w.Header().Set("Content-Security-Policy", "script-src 'self'")
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)

	b := New(t)
	tests := []struct {
		path string
		want string // a problem containing this; "" for none
	}{
		{"/clean", ""},
		{"/error", "broken widget"},
		{"/throw", "kaboom"},
		{"/csp", "Content Security Policy"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			b.Do(10*time.Second, chromedp.Navigate(srv.URL+tt.path), chromedp.WaitVisible(chromedp.ID("done")))
			// Console events arrive apart from the load; give them a moment.
			time.Sleep(200 * time.Millisecond)
			got := b.Problems()
			if tt.want == "" {
				if len(got) != 0 {
					t.Errorf("Problems() on a clean page = %q, want none", got)
				}
				return
			}
			if len(got) == 0 || !strings.Contains(strings.Join(got, "\n"), tt.want) {
				t.Errorf("Problems() = %q, want one containing %q", got, tt.want)
			}
		})
	}

	b.Do(10*time.Second, chromedp.Navigate(srv.URL+"/shot-page"), chromedp.WaitVisible(chromedp.ID("done")))
	dir := t.TempDir()
	p := b.Screenshot(dir, "page")
	png, err := os.ReadFile(p)
	if err != nil || filepath.Dir(p) != dir || len(png) < 100 || string(png[1:4]) != "PNG" {
		t.Errorf("Screenshot() wrote %s (%d bytes, %v), want a PNG in %s", p, len(png), err, dir)
	}
}

func TestArtifactDir(t *testing.T) {
	want := filepath.Join(t.TempDir(), "shots")
	t.Setenv(EnvArtifacts, want)
	if got := ArtifactDir(t); got != want {
		t.Errorf("ArtifactDir() = %q, want %q", got, want)
	}
	if st, err := os.Stat(want); err != nil || !st.IsDir() {
		t.Errorf("ArtifactDir() did not create %s: %v", want, err)
	}
}

// recorder is a testing.TB that records Fatalf and Skipf and ends the
// goroutine as they do.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Skipf(format string, args ...any) {
	r.skip = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestChromiumMissing: without Chromium the browser tests skip, and fail
// when CI requires the services.
func TestChromiumMissing(t *testing.T) {
	saved := candidates
	candidates = []string{filepath.Join(t.TempDir(), "no-chromium")}
	t.Cleanup(func() { candidates = saved })
	t.Setenv(EnvChromium, "")
	tests := []struct {
		name      string
		require   string
		wantFatal bool
	}{
		{name: "locally", require: "", wantFatal: false},
		{name: "under CI", require: "1", wantFatal: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvRequire, tt.require)
			r := &recorder{TB: t}
			done := make(chan string)
			go func() {
				var path string
				defer func() { done <- path }()
				path = Chromium(r)
			}()
			if path := <-done; path != "" {
				t.Fatalf("Chromium() = %q without a browser", path)
			}
			if got := r.fatal != ""; got != tt.wantFatal || (r.fatal == "") == (r.skip == "") {
				t.Errorf("Chromium() fatal %q, skip %q; want fatal: %v", r.fatal, r.skip, tt.wantFatal)
			}
		})
	}
	t.Setenv(EnvChromium, "/bin/sh") // any executable: the variable wins
	if got := Chromium(t); got != "/bin/sh" {
		t.Errorf("Chromium() with %s=/bin/sh = %q", EnvChromium, got)
	}
}
