// Package testkit holds helpers for Gantry's tests: real upstreams on
// loopback, and the gantry binary built once and started with a config file.
// It is imported only by tests.
package testkit
