// Package grafana holds the Grafana dashboard of the gateway, gantry.json
// (import it in Grafana 10 or later; the README says how).
// It has no code: its test checks that every PromQL expression of the
// dashboard names only metrics and labels the gateway exports (package
// telemetry's registry) and that its SQL reads only columns of the usage
// ledger. It sits on neither the request nor the control path.
package grafana
