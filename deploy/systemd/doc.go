// Package systemd holds the test of gantry.service, the unit for running
// Gantry under systemd: systemd's own verifier and its security audit
// must accept it. docs/deploy.md explains the unit.
package systemd
