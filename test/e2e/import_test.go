package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// importInto runs `gantry import` on a sample of internal/importer with
// the given flags, writing the result into dir.
func importInto(t *testing.T, dir, format string, flags ...string) string {
	t.Helper()
	out := filepath.Join(dir, "10-imported.yaml")
	src := filepath.Join("..", "..", "internal", "importer", "testdata", format+".yaml")
	args := append(append([]string{"import", format, "-o", out}, flags...), src)
	cmd := exec.Command(testkit.Binary(t), args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("gantry %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "items not translated") {
		t.Errorf("gantry import printed no summary:\n%s", stderr.String())
	}
	return out
}

// imported is one request through an imported configuration and where it
// must arrive.
type imported struct {
	method, path string
	headers      []string
	status       int
	upstream     []string // the Echo names it may reach
	upPath       string   // the path the upstream sees
	upHeader     [2]string
}

func checkImported(t *testing.T, g *testkit.Gantry, tests []imported) {
	t.Helper()
	for _, tt := range tests {
		r := do(t, tt.method, g.URL+tt.path, "", tt.headers...)
		if r.Status != tt.status {
			t.Errorf("%s %s = %d, want %d: %s", tt.method, tt.path, r.Status, tt.status, r.Body)
			continue
		}
		if tt.status != 200 {
			continue
		}
		up := r.Header.Get("X-Upstream")
		if tt.method == "HEAD" {
			if !slices.Contains(tt.upstream, up) {
				t.Errorf("HEAD %s reached %q, want one of %v", tt.path, up, tt.upstream)
			}
			continue
		}
		seen := r.seen(t)
		ok := false
		for _, u := range tt.upstream {
			ok = ok || u == up
		}
		if !ok || seen.Method != tt.method || seen.Path != tt.upPath {
			t.Errorf("%s %s reached %s as %s %s, want one of %v as %s %s", tt.method, tt.path, up, seen.Method, seen.Path, tt.upstream, tt.method, tt.upPath)
		}
		if k, v := tt.upHeader[0], tt.upHeader[1]; k != "" {
			if got := strings.Join(seen.Header[k], ","); got != v {
				t.Errorf("%s %s: upstream header %s = %q, want %q", tt.method, tt.path, k, got, v)
			}
		}
	}
}

// TestImportKongServes imports the Kong sample, points its services at
// stand-in upstreams and sends requests through the gateway.
func TestImportKongServes(t *testing.T) {
	catalog, orders, accounts := testkit.NewEcho(t, "catalog"), testkit.NewEcho(t, "orders"), testkit.NewEcho(t, "accounts")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "00-gateway.yaml"), base(""))
	importInto(t, dir, "kong", "--target", "catalog="+catalog.URL, "--target", "orders="+orders.URL, "--target", "accounts="+accounts.URL)
	g := testkit.StartFile(t, dir)

	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": "acme-issuer", "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte("9b2f6c1e8a4d7f3b0e5c2a9d6f1b4e7c"))
	if err != nil {
		t.Fatal(err)
	}
	orderHeaders := []string{"Host: api.shop.example.com", "X-Shop-Region: eu", "X-Api-Key: mobile-7f3a9c2e4b1d8f60"}
	checkImported(t, g, []imported{
		{method: "GET", path: "/products/42", status: 200, upstream: []string{"catalog"}, upPath: "/v2/products/42"},
		{method: "HEAD", path: "/products/42", status: 200, upstream: []string{"catalog"}, upPath: "/v2/products/42"},
		{method: "GET", path: "/search/books", status: 200, upstream: []string{"catalog"}, upPath: "/v2/books"},
		{method: "POST", path: "/search/books", status: 405},
		{method: "GET", path: "/orders/7", headers: orderHeaders, status: 200, upstream: []string{"orders"}, upPath: "/api/7", upHeader: [2]string{"X-Gateway", "gantry"}},
		{method: "GET", path: "/orders/7", headers: orderHeaders, status: 200, upstream: []string{"orders"}, upPath: "/api/7", upHeader: [2]string{"X-Api-Key", ""}},
		{method: "GET", path: "/orders/7", headers: orderHeaders[:2], status: 401},
		{method: "GET", path: "/accounts/me", headers: []string{"Authorization: Bearer " + token}, status: 200, upstream: []string{"accounts"}, upPath: "/me", upHeader: [2]string{"X-Consumer-Id", "partner-acme"}},
		{method: "GET", path: "/accounts/me", status: 401},
	})
}

// TestImportGatewayAPIServes imports the Gateway API sample with its
// Services pointed at stand-in upstreams.
func TestImportGatewayAPIServes(t *testing.T) {
	cart, v1, v2 := testkit.NewEcho(t, "cart"), testkit.NewEcho(t, "catalog-v1"), testkit.NewEcho(t, "catalog-v2")
	dir := t.TempDir()
	out := importInto(t, dir, "gateway-api", "--target", "cart="+cart.URL, "--target", "catalog-v1="+v1.URL, "--target", "catalog-v2="+v2.URL)
	// The Gateway's HTTP listener became server.listen; the test listens
	// on a free loopback port instead.
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	const listener = "server:\n  listen: :8080\n"
	if !strings.Contains(string(b), listener) {
		t.Fatalf("the Gateway's listener is not in the import:\n%s", b)
	}
	writeFile(t, out, strings.Replace(string(b), listener, "", 1))
	writeFile(t, filepath.Join(dir, "00-gateway.yaml"), base(""))
	g := testkit.StartFile(t, dir)

	host := "Host: shop.example.com"
	checkImported(t, g, []imported{
		{method: "POST", path: "/cart/items", headers: []string{host, "X-Debug: 1"}, status: 200, upstream: []string{"cart"}, upPath: "/cart/items", upHeader: [2]string{"X-Shop-Channel", "web"}},
		{method: "GET", path: "/cart", headers: []string{host, "X-Debug: 1"}, status: 200, upstream: []string{"cart"}, upPath: "/cart", upHeader: [2]string{"X-Debug", ""}},
		{method: "DELETE", path: "/cart", headers: []string{host}, status: 405},
		{method: "GET", path: "/api/v1/catalog/shoes", headers: []string{host}, status: 200, upstream: []string{"catalog-v1", "catalog-v2"}, upPath: "/catalog/shoes"},
		{method: "GET", path: "/healthz", headers: []string{host}, status: 200, upstream: []string{"cart"}, upPath: "/status"},
		{method: "GET", path: "/items/9", headers: []string{host, "X-Canary: true"}, status: 200, upstream: []string{"catalog-v2"}, upPath: "/items/9"},
		{method: "GET", path: "/items/9", headers: []string{host}, status: 404},
		{method: "GET", path: "/cart", headers: []string{"Host: other.example.com"}, status: 404},
	})
}

// TestImportOpenAPIServes imports the OpenAPI sample onto one stand-in
// upstream; a second file of the config directory adds a consumer.
func TestImportOpenAPIServes(t *testing.T) {
	inv := testkit.NewEcho(t, "inventory")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "00-gateway.yaml"), base(""))
	importInto(t, dir, "openapi", "--upstream", "inventory", "--target", "inventory="+inv.URL)
	writeFile(t, filepath.Join(dir, "20-consumers.yaml"), "consumers:\n  - id: warehouse-app\n    api_keys: [{key: inv-4c8e1a7f0b3d9e26}]\n")
	g := testkit.StartFile(t, dir)

	key := "X-Inventory-Key: inv-4c8e1a7f0b3d9e26"
	checkImported(t, g, []imported{
		{method: "GET", path: "/v1/items", headers: []string{key}, status: 200, upstream: []string{"inventory"}, upPath: "/v1/items"},
		{method: "GET", path: "/v1/items", status: 401},
		{method: "GET", path: "/v1/items/sku-1", headers: []string{key}, status: 200, upstream: []string{"inventory"}, upPath: "/v1/items/sku-1"},
		{method: "DELETE", path: "/v1/items/sku-1", headers: []string{key}, status: 200, upstream: []string{"inventory"}, upPath: "/v1/items/sku-1"},
		{method: "PUT", path: "/v1/items/sku-1/stock/berlin", headers: []string{key}, status: 200, upstream: []string{"inventory"}, upPath: "/v1/items/sku-1/stock/berlin"},
		{method: "POST", path: "/v1/items", headers: []string{key}, status: 405},
		{method: "GET", path: "/v1/health", status: 200, upstream: []string{"inventory"}, upPath: "/v1/health"},
		{method: "GET", path: "/items", headers: []string{key}, status: 404},
	})
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}
