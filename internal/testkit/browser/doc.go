// Package browser drives the system's headless Chromium from tests with
// chromedp, for the gateway's web pages: New starts a fresh browser
// profile per test and records every console error, uncaught exception
// and browser log error (Content-Security-Policy violations, failed
// loads), so a test can require a page to load cleanly; Screenshot writes
// PNG artifacts.
//
// Chromium is the Debian package chromium (/usr/bin/chromium, or
// GANTRY_TEST_CHROMIUM). Without it, tests skip, and fail when
// GANTRY_TEST_REQUIRE_SERVICES is set, as CI does. Screenshots go to
// GANTRY_TEST_ARTIFACTS when set, else to the test's temporary directory.
//
// It is test support only: nothing in the gateway imports it.
package browser
