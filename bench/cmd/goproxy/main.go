// Command goproxy is the benchmark's reference Go proxy: the standard
// library's httputil.ReverseProxy with a buffer pool and a keep-alive pool
// of 64 connections, and nothing else (no routing, no logging, no
// metrics). Gantry's cost above it is what Gantry itself adds; its cost
// above NGINX is what net/http costs. It prints "listening ADDR" on stdout
// and stops on SIGINT or SIGTERM.
package main

import (
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// bufferPool recycles the 32 KiB copy buffers ReverseProxy would
// otherwise allocate for every response.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(v []byte) { b.p.Put(&v) }

func main() {
	addr := flag.String("listen", "127.0.0.1:0", "listen `address`")
	upstream := flag.String("upstream", "", "upstream `URL`")
	flag.Parse()
	target, err := url.Parse(*upstream)
	if err != nil || target.Host == "" {
		log.Fatalf("goproxy: -upstream: want a URL, got %q", *upstream)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("goproxy: %v", err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
		},
		Transport: &http.Transport{
			MaxIdleConns:        64,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
		},
		BufferPool: &bufferPool{},
		ErrorLog:   log.New(io.Discard, "", 0),
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute, ErrorLog: log.New(io.Discard, "", 0)}
	os.Stdout.WriteString("listening " + ln.Addr().String() + "\n")
	go func() {
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
		<-sigs
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		log.Fatalf("goproxy: %v", err)
	}
}
