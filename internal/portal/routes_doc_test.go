package portal

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// TestPortalRoutesDocumented fails when a route of the portal's mux has no
// "### <pattern>" heading in docs/portal.md, or a heading there names an
// endpoint the mux does not have. The pages at "/" are described in prose.
func TestPortalRoutesDocumented(t *testing.T) {
	routes := testkit.MuxRoutes(t, ".")
	for _, want := range []string{"GET /healthz", "POST /portal/api/session", "DELETE /portal/api/keys/{key_id}", "/portal/api/", "/"} {
		if !slices.Contains(routes, want) {
			t.Fatalf("routes read from the source = %q, missing %q", routes, want)
		}
	}
	testkit.CheckRoutesDocumented(t, routes, filepath.Join("..", "..", "docs", "portal.md"), "/")
}
