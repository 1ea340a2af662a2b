package main

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestHealthCommand(t *testing.T) {
	var draining atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/healthz":
			w.Write([]byte("ok\n"))
		case r.URL.Path == "/readyz" && !draining.Load():
			w.Write([]byte("ready\n"))
		case r.URL.Path == "/readyz":
			http.Error(w, "draining", http.StatusServiceUnavailable)
		case r.URL.Path == "/slow":
			time.Sleep(time.Second)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	tests := []cliCase{
		{name: "alive", args: []string{"health", "--url", srv.URL + "/healthz"}, code: exitOK, stdout: "ok"},
		{name: "ready", args: []string{"health", "--url", srv.URL + "/readyz"}, code: exitOK, stdout: "ok"},
		{name: "wrong path", args: []string{"health", "--url", srv.URL + "/nope"}, code: exitConfig, stderr: "404 Not Found"},
		{name: "nothing listening", args: []string{"health", "--url", closed.URL + "/healthz"}, code: exitConfig, stderr: "connection refused"},
		{name: "too slow", args: []string{"health", "--url", srv.URL + "/slow", "--timeout", "50ms"}, code: exitConfig, stderr: "deadline exceeded"},
		{name: "help", args: []string{"health", "-h"}, code: exitOK, stdout: "gantry health [--url URL]"},
		{name: "bad flag", args: []string{"health", "--nope"}, code: exitUsage, stderr: "-nope"},
	}
	runCLICases(t, tests)

	draining.Store(true)
	runCLICases(t, []cliCase{{name: "draining", args: []string{"health", "--url", srv.URL + "/readyz"}, code: exitConfig, stderr: "503 Service Unavailable"}})
}
