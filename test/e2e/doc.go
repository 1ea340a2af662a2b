// Package e2e holds black-box tests that build the gantry binary, start it on
// loopback with a config file and drive it over real sockets against
// httptest upstreams.
package e2e
