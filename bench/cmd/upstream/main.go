// Command upstream is the benchmark's backend: it answers every request
// with the same 100 bytes of JSON over keep-alive HTTP/1.1, and prints
// "listening ADDR" on stdout once it accepts connections. It stops on
// SIGINT or SIGTERM. It doubles as the tracing scenarios' OTLP/HTTP
// collector: POST /v1/traces is read and answered 200 with no body.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/gantry-dev/gantry/bench"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:0", "listen `address`")
	flag.Parse()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("upstream: %v", err)
	}
	length := strconv.Itoa(len(bench.UpstreamBody))
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Drain a request body so the connection stays reusable.
			if r.ContentLength != 0 {
				io.Copy(io.Discard, r.Body)
			}
			if r.URL.Path == "/v1/traces" {
				// An OTLP export: an empty 200 is a full success.
				w.WriteHeader(http.StatusOK)
				return
			}
			h := w.Header()
			h["Content-Type"] = []string{"application/json"}
			h["Content-Length"] = []string{length}
			w.Write(bench.UpstreamBody)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	fmt.Printf("listening %s\n", ln.Addr())
	os.Stdout.Sync()

	go func() {
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
		<-sigs
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		log.Fatalf("upstream: %v", err)
	}
}
