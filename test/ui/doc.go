// Package ui tests the gateway's web pages in a real browser: the built
// binary runs a test configuration, headless Chromium (package
// internal/testkit/browser) signs in to the operator dashboard and goes
// through every page, and the tests check what the pages show against the
// configuration, the admin API and proxied requests. Screenshots of every
// page are written to GANTRY_TEST_ARTIFACTS (default: a temporary
// directory); `go test ./test/ui -run TestDashboard -update` rewrites the
// README's screenshots in docs/img.
package ui
