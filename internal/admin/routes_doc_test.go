package admin

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// TestAdminRoutesDocumented fails when a route of the admin mux has no
// "### <pattern>" heading in docs/admin-api.md, or a heading there names
// an endpoint the mux does not have.
func TestAdminRoutesDocumented(t *testing.T) {
	routes := testkit.MuxRoutes(t, ".")
	// The extractor must see the routes it is meant to check.
	for _, want := range []string{"GET /healthz", "GET /readyz", "GET /metrics", "POST /admin/reload", "DELETE /admin/consumers/{id}/keys/{key_id}", "/admin/"} {
		if !slices.Contains(routes, want) {
			t.Fatalf("routes read from the source = %q, missing %q", routes, want)
		}
	}
	testkit.CheckRoutesDocumented(t, routes, filepath.Join("..", "..", "docs", "admin-api.md"))
}
