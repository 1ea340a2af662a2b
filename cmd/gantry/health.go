package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

const healthCmdUsage = `Usage:
  gantry health [--url URL] [--timeout D]

Asks a running gateway's admin listener whether it is alive: exits 0 when
the URL answers 200, else prints why and exits 1. It is the container
image's HEALTHCHECK, which has no curl.

`

// cmdHealth probes /healthz (or another URL) once.
func cmdHealth(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("gantry health", healthCmdUsage, stderr)
	url := fs.String("url", "http://127.0.0.1:9080/healthz", "the `URL` to ask; use /readyz to ask whether it takes traffic")
	timeout := fs.Duration("timeout", 2*time.Second, "how long to wait for the answer")
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gantry health: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		fmt.Fprintf(stderr, "gantry health: %v\n", err)
		return exitUsage
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "gantry health: %v\n", err)
		return exitConfig
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "gantry health: %s answered %s\n", *url, resp.Status)
		return exitConfig
	}
	fmt.Fprintln(stdout, "ok")
	return exitOK
}
