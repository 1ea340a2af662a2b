package ui

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/gantry-dev/gantry/internal/testkit"
	"github.com/gantry-dev/gantry/internal/testkit/browser"
)

var update = flag.Bool("update", false, "rewrite the README's screenshots in docs/img")

const (
	adminToken = "dashboard-test-admin-token-0123456789"
	acmeKey    = "gk_acme-dashboard-test-key-0123456789"
)

// dashboardConfig has a token-protected admin listener with the dashboard,
// a keyed route to a live upstream, a route to an upstream that fails its
// health checks, a priced plan and a consumer from the file.
func dashboardConfig(t *testing.T, upstream string) string {
	return fmt.Sprintf(`version: 1
admin:
  listen: "127.0.0.1:0"
  token: %q
  ui: true
server:
  listen: "127.0.0.1:0"
storage:
  driver: sqlite
  dsn: %q
usage:
  flush_interval: 200ms
auth:
  api_key: {header: X-API-Key}
plans:
  pro:
    pricing: {currency: USD, monthly_fee: "49.00", included_requests: 100000, per_1000_over: "0.50"}
consumers:
  - id: acme
    plan: pro
    groups: [partners]
    api_keys: [{key: %q}]
upstreams:
  orders:
    targets: [{url: %q}]
  billing:
    targets: [{url: "http://127.0.0.1:9"}]
    health_check: {path: /healthz, interval: 100ms, timeout: 100ms, unhealthy_after: 1}
routes:
  - name: orders
    match: {path_prefix: /orders, methods: [GET, POST]}
    upstream: orders
    auth: [api_key]
    rate_limit: {requests: 5000, per: 1s}
  - name: billing
    match: {path_prefix: /billing}
    upstream: billing
`, adminToken, filepath.Join(t.TempDir(), "gantry.db"), acmeKey, upstream)
}

// eval runs a JavaScript expression in the page and returns its value;
// promises are awaited.
func eval[T any](b *browser.Browser, expr string) T {
	return browser.Run(b, 10*time.Second, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// waitJS waits until expr is truthy in the page.
func waitJS(b *browser.Browser, timeout time.Duration, expr string) {
	browser.Run(b, timeout+time.Second, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
}

// pageText is the visible text of the page's main element.
func pageText(b *browser.Browser) string {
	return eval[string](b, `document.querySelector('main').innerText`)
}

// clean fails the test when the page wrote console errors or threw since
// the last check, or misses what assistive technology needs: one h1, a
// label on every form control, a name on every button and chart, the
// current page marked in the navigation.
func clean(t *testing.T, b *browser.Browser, page string) {
	t.Helper()
	for _, p := range b.Problems() {
		t.Errorf("%s page: %s", page, p)
	}
	faults := eval[[]string](b, `(() => {
		const out = [];
		const h1 = document.querySelectorAll('h1').length;
		if (h1 !== 1) out.push(h1 + ' h1 elements');
		for (const c of document.querySelectorAll('input, select, textarea'))
			if (!c.labels.length && !c.getAttribute('aria-label')) out.push('unlabelled ' + c.outerHTML.slice(0, 80));
		for (const bt of document.querySelectorAll('button'))
			if (!bt.hidden && !bt.innerText.trim() && !bt.getAttribute('aria-label')) out.push('unnamed button ' + bt.outerHTML.slice(0, 80));
		for (const img of document.querySelectorAll('[role=img], img'))
			if (!img.getAttribute('aria-label') && !img.getAttribute('alt')) out.push('unnamed image ' + img.outerHTML.slice(0, 80));
		if (!document.querySelector('nav a[aria-current=page]')) out.push('no current page in the navigation');
		return out;
	})()`)
	for _, f := range faults {
		t.Errorf("%s page: %s", page, f)
	}
}

// submit submits a form as a person does (its submit event runs; form.submit()
// would skip it).
func submit(id string) chromedp.Action[chromedp.Void] {
	return chromedp.Click(chromedp.CSS("#" + id + " button[type=submit]"))
}

// open shows a page of the dashboard and waits for sel to be visible.
func open(t *testing.T, b *browser.Browser, page, sel string) {
	t.Helper()
	eval[string](b, `location.hash = '#/`+page+`'`)
	b.Do(10*time.Second, chromedp.WaitVisible(chromedp.CSS(sel)))
}

// proxied sends GET path to the gateway with an API key and returns the status.
func proxied(t *testing.T, g *testkit.Gantry, path, key string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, g.URL+path, nil)
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

func TestDashboard(t *testing.T) {
	b := browser.New(t)
	echo := testkit.NewEcho(t, "orders")
	cfgPath := testkit.WriteConfig(t, dashboardConfig(t, echo.URL))
	g := testkit.StartFile(t, cfgPath)
	shots := browser.ArtifactDir(t)
	t.Logf("screenshots in %s", shots)
	shot := func(name string) {
		t.Helper()
		b.Screenshot(shots, "dashboard-"+name)
	}

	// Sign in: a wrong token is refused on the page, the right one opens
	// the overview.
	b.Do(15*time.Second, chromedp.Navigate(g.AdminURL+"/ui/"), chromedp.WaitVisible(chromedp.ID("token")))
	shot("sign-in")
	b.Do(10*time.Second, chromedp.SendKeys(chromedp.ID("token"), "not-the-token"), submit("sign-in"))
	waitJS(b, 5*time.Second, `document.querySelector('main').innerText.includes('not the admin token')`)
	// The failed sign-in's 401 is logged by the browser as a failed load.
	b.ExpectProblem(5*time.Second, "status of 401")
	b.Do(10*time.Second, chromedp.SendKeys(chromedp.ID("token"), adminToken), submit("sign-in"),
		chromedp.WaitVisible(chromedp.ID("stat-rps")))
	clean(t, b, "sign-in")
	cookies := eval[string](b, `document.cookie`)
	if strings.Contains(cookies, "gantry_admin_session") {
		t.Errorf("document.cookie = %q: the session cookie must be HttpOnly", cookies)
	}

	t.Run("percentiles from two summaries", func(t *testing.T) {
		// The overview's arithmetic, run in the page: histogram_quantile
		// over the difference of two cumulative histograms.
		got := eval[[]any](b, `import('/ui/common/metrics.js').then(m => {
			const before = {at: '2026-12-06T09:00:00Z', requests: 100, errors: 1,
				duration: {count: 100, buckets: [{le: 0.001, count: 50}, {le: 0.01, count: 100}, {le: 0.1, count: 100}]}};
			const after = {at: '2026-12-06T09:00:02Z', requests: 300, errors: 11,
				duration: {count: 300, buckets: [{le: 0.001, count: 150}, {le: 0.01, count: 250}, {le: 0.1, count: 298}]}};
			const d = m.delta(before, after);
			const idle = m.delta(after, {...after, at: '2026-12-06T09:00:04Z'});
			return [d.rps, d.eps, d.errorRatio, d.p50, d.p99, m.quantile(0.5, {count: 0, buckets: []}), idle.rps, idle.p99];
		})`)
		// 200 requests in 2 s, 10 of them errors; of the 200, 100 took at
		// most 1 ms, 50 more at most 10 ms, 48 at most 100 ms, 2 longer.
		want := []any{100.0, 5.0, 0.05, 0.001, 0.1, nil, 0.0, nil}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("delta and quantile = %v, want %v", got, want)
		}
		clean(t, b, "overview")
	})

	t.Run("overview chart moves with traffic", func(t *testing.T) {
		var stop atomic.Bool
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				proxied(t, g, "/orders/list", acmeKey)
				time.Sleep(5 * time.Millisecond)
			}
		}()
		defer func() { stop.Store(true); wg.Wait() }()
		waitJS(b, 15*time.Second, `Number(document.querySelector('#stat-rps').dataset.value) > 0 &&
			Number(document.querySelector('#chart-traffic').dataset.max) > 0 &&
			Number(document.querySelector('#chart-traffic').dataset.points) >= 2 &&
			document.querySelector('#stat-p99').dataset.value !== ''`)
		clean(t, b, "overview")
		shot("overview")
		if *update {
			writeREADMEShots(t, b)
		}
	})

	t.Run("keyboard", func(t *testing.T) {
		// From the top of the page: Tab reaches the skip link, then the
		// navigation; Enter on "Routes" opens the routes page.
		eval[bool](b, `(document.activeElement && document.activeElement.blur(), true)`)
		b.Do(5*time.Second, chromedp.KeyEvent("\t"))
		if got := eval[string](b, `document.activeElement.className`); got != "skip-link" {
			t.Errorf("first Tab focused %q, want the skip link", got)
		}
		b.Do(5*time.Second, chromedp.KeyEvent("\t"), chromedp.KeyEvent("\t"))
		if got := eval[string](b, `document.activeElement.textContent`); got != "Routes" {
			t.Fatalf("third Tab focused %q, want the Routes link", got)
		}
		b.Do(10*time.Second, chromedp.KeyEvent("\r"), chromedp.WaitVisible(chromedp.ID("routes-table")))
		if got := eval[string](b, `document.activeElement.id`); got != "main" {
			t.Errorf("after opening a page the focus is on %q, want main", got)
		}
		clean(t, b, "routes")
	})

	t.Run("routes", func(t *testing.T) {
		open(t, b, "routes", "#routes-table")
		text := pageText(b)
		for _, want := range []string{"orders", "prefix /orders · GET POST", "api_key", "5000 per 1s", "billing", "prefix /billing"} {
			if !strings.Contains(text, want) {
				t.Errorf("routes page lacks %q:\n%s", want, text)
			}
		}
		clean(t, b, "routes")
		shot("routes")
	})

	t.Run("upstream health", func(t *testing.T) {
		open(t, b, "upstreams", "#upstreams section")
		// The failing target turns unhealthy after one probe; the page
		// refreshes on its own.
		waitJS(b, 10*time.Second, `(document.querySelector('[data-upstream=billing]')||{}).innerText?.includes('unhealthy')`)
		orders := eval[string](b, `document.querySelector('[data-upstream=orders]').innerText`)
		if !strings.Contains(orders, "healthy") || !strings.Contains(orders, echo.URL) || strings.Contains(orders, "unhealthy") {
			t.Errorf("orders upstream shows %q, want its target healthy", orders)
		}
		// The overview's traffic went to the orders target: its attempts
		// and p99 come from the metrics.
		cells := eval[[]string](b, `[...document.querySelectorAll('[data-upstream=orders] tbody tr')[0].children].map(c => c.innerText)`)
		if len(cells) != 9 || cells[4] == "0" || !strings.HasSuffix(cells[7], " ms") || cells[5] != "0 %" {
			t.Errorf("orders target row = %q, want attempts, 0 %% failed and a p99 in ms", cells)
		}
		clean(t, b, "upstreams")
		shot("upstreams")
	})

	t.Run("consumers and keys", func(t *testing.T) {
		open(t, b, "consumers", "#consumers-table")
		if text := pageText(b); !strings.Contains(text, "acme") || !strings.Contains(text, "pro") {
			t.Errorf("consumers page lacks the config's consumer acme on plan pro:\n%s", text)
		}
		b.Do(10*time.Second,
			chromedp.SendKeys(chromedp.ID("new-id"), "globex"),
			chromedp.SetValue(chromedp.ID("new-plan"), "pro"),
			chromedp.SendKeys(chromedp.ID("new-groups"), "trial"),
			submit("create-consumer"),
			chromedp.WaitVisible(chromedp.ID("create-key")))
		b.Do(10*time.Second, chromedp.Click(chromedp.ID("create-key")), chromedp.WaitVisible(chromedp.ID("new-key")))
		key := eval[string](b, `document.querySelector('#new-key').textContent`)
		if !strings.HasPrefix(key, "gk_") {
			t.Fatalf("new key shown as %q, want gk_...", key)
		}
		shot("consumers")
		if got := proxied(t, g, "/orders/x", key); got != http.StatusOK {
			t.Fatalf("a proxied request with the new key = %d, want 200", got)
		}
		// Shown once: opening the consumer again shows its prefix only.
		b.Do(10*time.Second, chromedp.Click(chromedp.CSS(`button[aria-label="Keys of globex"]`)),
			chromedp.WaitNotPresent(chromedp.ID("new-key")), chromedp.WaitVisible(chromedp.ID("keys-table")))
		if html := eval[string](b, `document.documentElement.outerHTML`); strings.Contains(html, key) {
			t.Errorf("the key is still in the page after reopening the consumer")
		}
		status, body := g.Admin("GET", "/admin/consumers/globex", adminToken)
		if status != 200 || strings.Contains(string(body), key) {
			t.Errorf("GET /admin/consumers/globex = %d and shows the key: %s", status, body)
		}

		// Revoke from the page: within 1 s the key no longer works.
		var k struct {
			Keys []struct{ ID string } `json:"keys"`
		}
		json.Unmarshal(body, &k)
		if len(k.Keys) != 1 {
			t.Fatalf("globex has %d keys, want 1", len(k.Keys))
		}
		b.Do(10*time.Second, chromedp.Click(chromedp.ID("revoke-"+k.Keys[0].ID)), chromedp.WaitVisible(chromedp.ID("confirm-revoke-"+k.Keys[0].ID)))
		b.Do(10*time.Second, chromedp.Click(chromedp.ID("confirm-revoke-"+k.Keys[0].ID)))
		clicked := time.Now()
		for {
			got := proxied(t, g, "/orders/x", key)
			if got == http.StatusUnauthorized {
				t.Logf("revoked key refused %s after the click", time.Since(clicked).Round(time.Millisecond))
				break
			}
			if time.Since(clicked) > time.Second {
				t.Fatalf("the revoked key still gets %d a second after revoking it on the page", got)
			}
			time.Sleep(20 * time.Millisecond)
		}
		waitJS(b, 5*time.Second, `document.querySelector('#keys-table').innerText.includes('revoked')`)
		clean(t, b, "consumers")
	})

	t.Run("a write without the CSRF token is refused", func(t *testing.T) {
		// The page's own cookie, from the page's origin, without the header.
		status := eval[int](b, `fetch('/admin/consumers', {method: 'POST', headers: {'Content-Type': 'application/json'},
			body: JSON.stringify({id: 'mallory'})}).then(r => r.status)`)
		if status != http.StatusForbidden {
			t.Errorf("POST /admin/consumers with the session cookie and no X-CSRF-Token = %d, want 403", status)
		}
		if s, body := g.Admin("GET", "/admin/consumers/mallory", adminToken); s != http.StatusNotFound {
			t.Errorf("the refused write created a consumer: %d %s", s, body)
		}
		b.ExpectProblem(5*time.Second, "status of 403") // logged as a failed load
	})

	t.Run("usage", func(t *testing.T) {
		// Wait for the ledger to have the overview's traffic.
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, body := g.Admin("GET", "/admin/usage?consumer=acme", adminToken)
			if strings.Contains(string(body), `"consumer": "acme"`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no usage for acme in the ledger: %s", body)
			}
			time.Sleep(100 * time.Millisecond)
		}
		open(t, b, "usage", "#usage-table")
		waitJS(b, 5*time.Second, `document.querySelector('#usage-table').innerText.includes('acme') && !!document.querySelector('#chart-usage canvas')`)
		csv := eval[string](b, `fetch(document.querySelector('#usage-csv').href).then(r => r.text())`)
		if !strings.HasPrefix(csv, "consumer,period,route,requests") || !strings.Contains(csv, "\nacme,") {
			t.Errorf("the CSV link gave %q, want the usage CSV with acme", csv)
		}
		b.Do(10*time.Second, chromedp.SetValue(chromedp.ID("usage-group"), "route"), submit("usage-form"))
		waitJS(b, 5*time.Second, `document.querySelector('#usage-table thead').innerText.includes('Route') && document.querySelector('#usage-table tbody').innerText.includes('orders')`)
		b.Do(10*time.Second, chromedp.SetValue(chromedp.ID("usage-group"), "model"), submit("usage-form"))
		waitJS(b, 5*time.Second, `document.querySelector('#usage-table thead').innerText.includes('Model') && document.querySelector('#usage-table tbody').innerText.includes('acme')`)
		clean(t, b, "usage")
		shot("usage")
	})

	t.Run("invoices", func(t *testing.T) {
		open(t, b, "invoices", "#invoice-total")
		b.Do(10*time.Second, chromedp.SetValue(chromedp.ID("invoice-consumer"), "acme"), submit("invoice-form"))
		waitJS(b, 5*time.Second, `document.querySelector('#invoice h2').innerText.includes('acme') && document.querySelector('#invoice-total').innerText === '49.00 USD'`)
		clean(t, b, "invoices")
		shot("invoices")
	})

	t.Run("narrow screen", func(t *testing.T) {
		b.Do(5*time.Second, chromedp.EmulateViewport(390, 844))
		defer b.Do(5*time.Second, chromedp.EmulateViewport(1280, 860))
		for _, p := range []struct{ page, sel string }{{"overview", "#chart-traffic canvas"}, {"routes", "#routes-table"}, {"consumers", "#consumers-table"}} {
			open(t, b, p.page, p.sel)
			if w := eval[[]int](b, `[document.documentElement.scrollWidth, window.innerWidth]`); w[0] > w[1] {
				t.Errorf("%s page is %d px wide on a %d px screen: it scrolls sideways", p.page, w[0], w[1])
			}
			clean(t, b, p.page)
			shot("narrow-" + p.page)
		}
	})

	t.Run("config and reload", func(t *testing.T) {
		open(t, b, "config", "#running-config")
		cfg := eval[string](b, `document.querySelector('#running-config').textContent`)
		if !strings.Contains(cfg, "[redacted]") || strings.Contains(cfg, adminToken) || strings.Contains(cfg, acmeKey) {
			t.Errorf("the running config shows a secret or no [redacted]:\n%s", cfg)
		}
		// Break the file: the route's upstream becomes unknown, on line 38.
		orig, err := os.ReadFile(cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		broken := strings.Replace(string(orig), "    upstream: orders\n", "    upstream: ordrs\n", 1)
		line := 1 + strings.Count(broken[:strings.Index(broken, "upstream: ordrs")], "\n")
		if err := os.WriteFile(cfgPath, []byte(broken), 0o600); err != nil {
			t.Fatal(err)
		}
		b.Do(10*time.Second, chromedp.Click(chromedp.ID("reload")), chromedp.WaitVisible(chromedp.ID("reload-problems")))
		problems := eval[string](b, `document.querySelector('#reload-problems').innerText`)
		if !strings.Contains(problems, fmt.Sprint(line)) || !strings.Contains(problems, "routes[0].upstream") || !strings.Contains(problems, "ordrs") {
			t.Errorf("reload problems shown as %q, want line %d, routes[0].upstream and ordrs", problems, line)
		}
		b.ExpectProblem(5*time.Second, "status of 400") // the refused reload, logged as a failed load
		shot("config")
		if err := os.WriteFile(cfgPath, orig, 0o600); err != nil {
			t.Fatal(err)
		}
	})
}

// writeREADMEShots writes the overview in the light and the dark theme to
// docs/img for the README.
func writeREADMEShots(t *testing.T, b *browser.Browser) {
	dir := filepath.Join("..", "..", "docs", "img")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b.Screenshot(dir, "dashboard")
	dark := emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}
	if _, err := chromedp.Call(b.Context(), emulation.SetEmulatedMedia, dark); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the charts draw again in the dark colours
	b.Screenshot(dir, "dashboard-dark")
	if _, err := chromedp.Call(b.Context(), emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{}); err != nil {
		t.Fatal(err)
	}
}

// TestDashboardWithoutToken: on a loopback admin listener without a token,
// where the admin API needs no credentials, the dashboard is on by default
// and opens without signing in, and its writes work without a session.
func TestDashboardWithoutToken(t *testing.T) {
	b := browser.New(t)
	echo := testkit.NewEcho(t, "orders")
	g := testkit.Start(t, fmt.Sprintf(`version: 1
admin:
  listen: "127.0.0.1:0"
server:
  listen: "127.0.0.1:0"
storage:
  driver: sqlite
  dsn: %q
upstreams:
  orders:
    targets: [{url: %q}]
routes:
  - name: orders
    match: {path_prefix: /orders}
    upstream: orders
`, filepath.Join(t.TempDir(), "gantry.db"), echo.URL))
	b.Do(15*time.Second, chromedp.Navigate(g.AdminURL+"/ui/"), chromedp.WaitVisible(chromedp.ID("stat-rps")))
	if n := eval[int](b, `document.querySelectorAll('#sign-in').length`); n != 0 {
		t.Errorf("the dashboard asks to sign in without an admin token")
	}
	if hidden := eval[bool](b, `document.getElementById('sign-out').hidden`); !hidden {
		t.Errorf("a sign-out button is shown without a session")
	}
	clean(t, b, "overview")
	open(t, b, "consumers", "#create-consumer")
	b.Do(10*time.Second, chromedp.SendKeys(chromedp.ID("new-id"), "initech"), submit("create-consumer"),
		chromedp.WaitVisible(chromedp.ID("create-key")))
	b.Do(10*time.Second, chromedp.Click(chromedp.ID("create-key")), chromedp.WaitVisible(chromedp.ID("new-key")))
	if status, body := g.Admin("GET", "/admin/consumers/initech", ""); status != http.StatusOK || !strings.Contains(string(body), `"prefix"`) {
		t.Errorf("GET /admin/consumers/initech = %d %s, want the consumer with its key", status, body)
	}
	clean(t, b, "consumers")
}
