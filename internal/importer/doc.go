// Package importer translates other gateways' declarative configurations
// into a Gantry configuration: Kong decK files (kong.go), Kubernetes
// Gateway API HTTPRoute and Gateway manifests (gatewayapi.go) and OpenAPI 3
// documents (openapi.go).
//
// It sits before the control path: `gantry import` writes what it returns
// as YAML (Render), and that file then goes through config.Load like any
// other. A translation builds a *config.Config with the config types
// themselves, so it cannot name a key that does not exist; the caller
// still validates the result. Everything of the source that is not
// translated, or only in part, is reported as a Note with its line in the
// source, never dropped silently.
//
// It imports only internal/config and must not do I/O: the caller reads
// the source and writes the result.
package importer
