package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	gjwt "github.com/golang-jwt/jwt/v5"

	"github.com/gantry-dev/gantry/internal/testkit"
	"github.com/gantry-dev/gantry/internal/testkit/browser"
)

const (
	globexKey = "gk_globex-portal-test-key-0123456789"
	jwtSecret = "portal-test-jwt-secret-0123456789abcdef"
)

// portalConfig has a portal titled "Acme API", a keyed route, a plan with
// a rate limit, a quota and pricing, and globex from the file; acme is
// made through the admin API, so that its keys are its own to revoke.
func portalConfig(t *testing.T, upstream string) string {
	return fmt.Sprintf(`version: 1
admin:
  listen: "127.0.0.1:0"
  token: %q
portal:
  listen: "127.0.0.1:0"
  title: Acme API
  jwt: [idp]
server:
  listen: "127.0.0.1:0"
storage:
  driver: sqlite
  dsn: %q
usage:
  flush_interval: 200ms
auth:
  api_key: {header: X-API-Key}
  jwt:
    - name: idp
      secret: %q
      algorithms: [HS256]
plans:
  pro:
    rate_limit: {requests: 100, per: 1s}
    quota: {requests: 1000, per: month}
    pricing: {currency: USD, monthly_fee: "49.00", included_requests: 3, per_1000_over: "0.50"}
consumers:
  - id: globex
    plan: pro
    api_keys: [{key: %q}]
    jwt_subjects: [client-globex]
upstreams:
  orders:
    targets: [{url: %q}]
routes:
  - name: orders
    match: {path_prefix: /orders}
    upstream: orders
    auth: [api_key]
`, adminToken, filepath.Join(t.TempDir(), "gantry.db"), jwtSecret, globexKey, upstream)
}

// adminJSON calls the admin API with the token and decodes the answer.
func adminJSON(t *testing.T, g *testkit.Gantry, method, path string, out any) int {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		body = bytes.NewReader([]byte(`{"id": "acme", "plan": "pro"}`))
		if strings.HasSuffix(path, "/keys") {
			body = nil
		}
	}
	req, _ := http.NewRequest(method, g.AdminURL+path, body)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return res.StatusCode
}

type usageRows struct {
	Rows []struct {
		Consumer string `json:"consumer"`
		Requests int64  `json:"requests"`
	} `json:"rows"`
}

func (u usageRows) total(consumer string) (n int64, others []string) {
	for _, r := range u.Rows {
		if r.Consumer != consumer {
			others = append(others, r.Consumer)
		}
		n += r.Requests
	}
	return n, others
}

func TestPortal(t *testing.T) {
	b := browser.New(t)
	echo := testkit.NewEcho(t, "orders")
	g := testkit.Start(t, portalConfig(t, echo.URL))
	if g.PortalURL == "" {
		t.Fatal("the start-up log names no portal address")
	}
	shots := browser.ArtifactDir(t)
	t.Logf("screenshots in %s", shots)
	shot := func(name string) {
		t.Helper()
		b.Screenshot(shots, "portal-"+name)
	}

	// acme, with a key of its own; traffic of both consumers.
	if s := adminJSON(t, g, http.MethodPost, "/admin/consumers", nil); s != http.StatusCreated {
		t.Fatalf("creating acme = %d", s)
	}
	var first struct{ ID, Key string }
	if s := adminJSON(t, g, http.MethodPost, "/admin/consumers/acme/keys", &first); s != http.StatusCreated {
		t.Fatalf("creating acme's key = %d", s)
	}
	const acmeRequests, globexRequests = 7, 2
	for range acmeRequests {
		if s := proxied(t, g, "/orders/a", first.Key); s != http.StatusOK {
			t.Fatalf("acme's request = %d", s)
		}
	}
	for range globexRequests {
		proxied(t, g, "/orders/g", globexKey)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var u usageRows
		adminJSON(t, g, http.MethodGet, "/admin/usage?consumer=acme", &u)
		if n, _ := u.total("acme"); n == acmeRequests {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ledger did not get acme's %d requests: %+v", acmeRequests, u)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Sign in: a wrong key is refused on the page, acme's opens its plan.
	b.Do(15*time.Second, chromedp.Navigate(g.PortalURL+"/"), chromedp.WaitVisible(chromedp.ID("credential")))
	if title := eval[string](b, `document.title`); title != "Sign in · Acme API" {
		t.Errorf("title = %q, want the portal's", title)
	}
	shot("sign-in")
	b.Do(10*time.Second, chromedp.SendKeys(chromedp.ID("credential"), "gk_not-a-key"), submit("sign-in"))
	waitJS(b, 5*time.Second, `document.querySelector('main').innerText.includes('not valid')`)
	b.ExpectProblem(5*time.Second, "status of 401") // the refused sign-in, logged as a failed load
	b.Do(10*time.Second, chromedp.SendKeys(chromedp.ID("credential"), first.Key), submit("sign-in"),
		chromedp.WaitVisible(chromedp.ID("limits-table")))
	if c := eval[string](b, `document.cookie`); strings.Contains(c, "gantry_portal_session") {
		t.Errorf("document.cookie = %q: the session cookie must be HttpOnly", c)
	}
	if html := eval[string](b, `document.documentElement.outerHTML`); strings.Contains(html, first.Key) {
		t.Error("the page keeps the key it signed in with")
	}

	t.Run("plan and remaining quota", func(t *testing.T) {
		if got := eval[string](b, `document.querySelector('#plan-name').textContent`); got != "pro" {
			t.Errorf("plan shown as %q, want pro", got)
		}
		want := fmt.Sprint(1000 - acmeRequests)
		if got := eval[string](b, `document.querySelector('#quota-remaining').textContent`); got != want {
			t.Errorf("remaining quota shown as %q, want %s", got, want)
		}
		// Reading the quota took none of it.
		b.Do(10*time.Second, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("quota-remaining")))
		if got := eval[string](b, `document.querySelector('#quota-remaining').textContent`); got != want {
			t.Errorf("after a reload the remaining quota is %q, want still %s", got, want)
		}
		if text := pageText(b); !strings.Contains(text, "100 requests per 1s") || !strings.Contains(text, "1,000 requests per month") {
			t.Errorf("plan page lacks the limits:\n%s", text)
		}
		clean(t, b, "plan")
		shot("plan")
		if *update {
			dir := filepath.Join("..", "..", "docs", "img")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			b.Screenshot(dir, "portal")
		}
	})

	t.Run("usage equals the admin API's", func(t *testing.T) {
		open(t, b, "usage", "#usage-table")
		from := eval[string](b, `document.querySelector('#usage-from').value`)
		to := eval[string](b, `document.querySelector('#usage-to').value`)
		var u usageRows
		adminJSON(t, g, http.MethodGet, "/admin/usage?consumer=acme&from="+from+"&to="+to, &u)
		want, _ := u.total("acme")
		if got := eval[string](b, `document.querySelector('#usage-total').textContent`); got != fmt.Sprint(want) || want != acmeRequests {
			t.Errorf("usage total shown as %q; /admin/usage says %d (sent %d)", got, want, acmeRequests)
		}
		waitJS(b, 5*time.Second, `!!document.querySelector('#chart-usage canvas')`)
		csv := eval[string](b, `fetch(document.querySelector('#usage-csv').href).then(r => r.text())`)
		if !strings.HasPrefix(csv, "consumer,period,route,requests") || !strings.Contains(csv, "\nacme,") || strings.Contains(csv, "globex") {
			t.Errorf("the CSV link gave %q, want acme's usage only", csv)
		}
		// The page's own session asking for globex gets acme's rows.
		var asked usageRows
		body := eval[string](b, `fetch('/portal/api/usage?consumer=globex').then(r => r.text())`)
		json.Unmarshal([]byte(body), &asked)
		if n, others := asked.total("acme"); n != acmeRequests || len(others) > 0 {
			t.Errorf("?consumer=globex from acme's session gave %d requests and rows of %v: %s", n, others, body)
		}
		clean(t, b, "usage")
		shot("usage")
	})

	t.Run("invoices", func(t *testing.T) {
		var inv struct{ Total, Currency string }
		adminJSON(t, g, http.MethodGet, "/admin/invoices/acme", &inv)
		open(t, b, "invoices", "#invoice-total")
		want := inv.Total + " " + inv.Currency
		waitJS(b, 5*time.Second, `document.querySelector('#invoice-total').innerText === `+fmt.Sprintf("%q", want))
		if want != "49.50 USD" {
			t.Errorf("/admin/invoices/acme total = %q, want 49.50 USD (4 requests over, a started thousand)", want)
		}
		clean(t, b, "invoices")
		shot("invoices")
	})

	t.Run("another consumer cannot read acme's", func(t *testing.T) {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		post := func(body string) int {
			req, _ := http.NewRequest(http.MethodPost, g.PortalURL+"/portal/api/session", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res.StatusCode
		}
		getJSON := func(path string, hdr map[string]string, out any) int {
			req, _ := http.NewRequest(http.MethodGet, g.PortalURL+path, nil)
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if out != nil {
				json.NewDecoder(res.Body).Decode(out)
			}
			return res.StatusCode
		}
		// The key as a header is no credential of the portal.
		if s := getJSON("/portal/api/usage?consumer=acme", map[string]string{"X-API-Key": globexKey}, nil); s != http.StatusUnauthorized {
			t.Errorf("usage with globex's key in a header = %d, want 401", s)
		}
		// A token of the idp provider whose subject is not globex's (nor
		// anyone's) is refused; globex's own signs it in, as on a route.
		sign := func(sub string) string {
			tok, err := gjwt.NewWithClaims(gjwt.SigningMethodHS256, gjwt.MapClaims{"sub": sub, "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(jwtSecret))
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		if s := post(`{"token": "` + sign("client-nobody") + `"}`); s != http.StatusUnauthorized {
			t.Errorf("a token naming no consumer = %d, want 401", s)
		}
		if s := post(`{"token": "` + sign("client-globex") + `"}`); s != http.StatusCreated {
			t.Fatalf("globex signing in with its token = %d", s)
		}
		var me struct{ Consumer string }
		if getJSON("/portal/api/me", nil, &me); me.Consumer != "globex" {
			t.Errorf("signed in with globex's token as %q", me.Consumer)
		}
		if s := post(`{"key": "` + globexKey + `"}`); s != http.StatusCreated {
			t.Fatalf("globex signing in = %d", s)
		}
		var u usageRows
		getJSON("/portal/api/usage?consumer=acme", nil, &u)
		if n, others := u.total("globex"); n != globexRequests || len(others) > 0 {
			t.Errorf("globex asking for acme's usage got %d requests and rows of %v, want its own %d", n, others, globexRequests)
		}
		var inv struct{ Consumer string }
		getJSON("/portal/api/invoices?consumer=acme", nil, &inv)
		if inv.Consumer != "globex" {
			t.Errorf("globex's invoice names %q", inv.Consumer)
		}
		var keys struct{ Keys []struct{ ID string } }
		getJSON("/portal/api/keys", nil, &keys)
		for _, k := range keys.Keys {
			if k.ID == first.ID {
				t.Errorf("globex's key list shows acme's key %s", first.ID)
			}
		}
	})

	t.Run("a write without the CSRF token is refused", func(t *testing.T) {
		status := eval[int](b, `fetch('/portal/api/keys', {method: 'POST', headers: {'Content-Type': 'application/json'}}).then(r => r.status)`)
		if status != http.StatusForbidden {
			t.Errorf("POST /portal/api/keys without X-CSRF-Token = %d, want 403", status)
		}
		var c struct{ Keys []struct{ ID string } }
		adminJSON(t, g, http.MethodGet, "/admin/consumers/acme", &c)
		if len(c.Keys) != 1 {
			t.Errorf("acme has %d keys after the refused write, want 1", len(c.Keys))
		}
		b.ExpectProblem(5*time.Second, "status of 403") // logged as a failed load
	})

	t.Run("key rotation", func(t *testing.T) {
		open(t, b, "keys", "#keys-table")
		b.Do(10*time.Second, chromedp.Click(chromedp.ID("create-key")), chromedp.WaitVisible(chromedp.ID("new-key")))
		second := eval[string](b, `document.querySelector('#new-key').textContent`)
		if !strings.HasPrefix(second, "gk_") {
			t.Fatalf("new key shown as %q", second)
		}
		shot("keys")
		if s := proxied(t, g, "/orders/r", second); s != http.StatusOK {
			t.Fatalf("a proxied request with the new key = %d, want 200", s)
		}
		// Shown once: the keys page again shows prefixes only.
		open(t, b, "plan", "#limits-table")
		open(t, b, "keys", "#keys-table")
		if html := eval[string](b, `document.documentElement.outerHTML`); strings.Contains(html, second) || strings.Contains(html, first.Key) {
			t.Error("a key's secret is in the page after reopening it")
		}
		clean(t, b, "keys")
		// Revoke the old key, the one this session signed in with: within
		// 1 s it is refused, and the page asks to sign in again.
		b.Do(10*time.Second, chromedp.Click(chromedp.ID("revoke-"+first.ID)), chromedp.WaitVisible(chromedp.ID("confirm-revoke-"+first.ID)))
		b.Do(10*time.Second, chromedp.Click(chromedp.ID("confirm-revoke-"+first.ID)))
		clicked := time.Now()
		for {
			s := proxied(t, g, "/orders/r", first.Key)
			if s == http.StatusUnauthorized {
				t.Logf("revoked key refused %s after the click", time.Since(clicked).Round(time.Millisecond))
				break
			}
			if time.Since(clicked) > time.Second {
				t.Fatalf("the revoked key still gets %d a second after revoking it in the portal", s)
			}
			time.Sleep(20 * time.Millisecond)
		}
		b.Do(10*time.Second, chromedp.WaitVisible(chromedp.ID("credential")))
		if text := pageText(b); !strings.Contains(text, "revoked") {
			t.Errorf("after revoking its own key the page says:\n%s", text)
		}
		if s := proxied(t, g, "/orders/r", second); s != http.StatusOK {
			t.Errorf("the new key after revoking the old = %d, want 200", s)
		}
		// The new key signs in, back on the keys page, where it is the
		// current one and the old one is revoked.
		b.Do(10*time.Second, chromedp.SendKeys(chromedp.ID("credential"), second), submit("sign-in"),
			chromedp.WaitVisible(chromedp.ID("keys-table")))
		rows := eval[string](b, `document.querySelector('#keys-table tbody').innerText`)
		if !strings.Contains(rows, "signed in with") || !strings.Contains(rows, "revoked") {
			t.Errorf("keys after rotation:\n%s", rows)
		}
		clean(t, b, "keys")
	})

	t.Run("narrow screen", func(t *testing.T) {
		b.Do(5*time.Second, chromedp.EmulateViewport(390, 844))
		defer b.Do(5*time.Second, chromedp.EmulateViewport(1280, 860))
		for _, p := range []struct{ page, sel string }{{"plan", "#limits-table"}, {"usage", "#usage-table"}, {"keys", "#keys-table"}} {
			open(t, b, p.page, p.sel)
			if w := eval[[]int](b, `[document.documentElement.scrollWidth, window.innerWidth]`); w[0] > w[1] {
				t.Errorf("%s page is %d px wide on a %d px screen: it scrolls sideways", p.page, w[0], w[1])
			}
			clean(t, b, p.page)
			shot("narrow-" + p.page)
		}
	})
}
