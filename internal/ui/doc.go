// Package ui holds the gateway's web pages, built into the binary with the
// embed package: assets/common has what every page shares (the stylesheet with
// light and dark themes, the fetch helper that signs writes with the
// session's CSRF token, number formatting, and uPlot, the charting
// library), assets/dashboard the operator dashboard that the admin
// listener serves at /ui/. The pages are plain HTML, CSS and JavaScript
// modules with no build step; uPlot is copied from its npm package by
// `go generate ./internal/ui` (see generate.go), and the copied files are
// committed so that `go build` alone works.
//
// Handler serves the files with a strict Content-Security-Policy (own
// origin only, no inline script or style). It is on the control path only
// and must not import admin or server: the pages speak to the gateway
// through its HTTP APIs, like any other client.
package ui
