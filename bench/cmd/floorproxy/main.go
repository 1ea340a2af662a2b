// Command floorproxy is the benchmark's floor: the least a Go program
// does to relay the benchmark's traffic, and nothing a gateway needs. One
// goroutine per client connection with an upstream connection of its own;
// it copies each request's header block (GET and HEAD-like requests
// without a body) to the upstream, reads the answer framed by its
// Content-Length, and writes it back, with blocking reads and writes on
// Go's netpoller, as every Go server does. It parses nothing else, checks
// nothing, adds no header and logs nothing, and closes the connection on
// anything it does not frame (a request body, a chunked answer).
//
// What it costs per request is what the Go runtime and the kernel's
// loopback TCP charge a goroutine-per-connection proxy; what Gantry costs
// above it is Gantry's own work. It prints "listening ADDR" on stdout and
// stops on SIGINT or SIGTERM.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"io"
	"log"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:0", "listen `address`")
	upstream := flag.String("upstream", "", "upstream `URL` (http://host:port)")
	flag.Parse()
	u, err := url.Parse(*upstream)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		log.Fatalf("floorproxy: -upstream: want http://host:port, got %q", *upstream)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("floorproxy: %v", err)
	}
	os.Stdout.WriteString("listening " + ln.Addr().String() + "\n")
	go func() {
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
		<-sigs
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go relay(c, u.Host)
	}
}

// errUnframed is a message the floor does not frame.
var errUnframed = errors.New("floorproxy: not framed by the floor")

// relay serves one client connection until either side closes or sends
// something it does not frame.
func relay(c net.Conn, upstream string) {
	defer c.Close()
	u, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer u.Close()
	cr, ur := bufio.NewReaderSize(c, 4096), bufio.NewReaderSize(u, 4096)
	buf := make([]byte, 0, 4096)
	for {
		if _, buf, err = head(cr, buf[:0], true); err != nil {
			return
		}
		if _, err := u.Write(buf); err != nil {
			return
		}
		if buf, err = readAnswer(ur, buf[:0]); err != nil {
			return
		}
		if _, err := c.Write(buf); err != nil {
			return
		}
	}
}

// head appends a header block to buf and returns its Content-Length (-1:
// none). A request (request true) with a body is refused, and so is a
// message with Transfer-Encoding.
func head(r *bufio.Reader, buf []byte, request bool) (int, []byte, error) {
	length := -1
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return 0, buf, err
		}
		buf = append(buf, line...)
		if len(line) <= 2 {
			return length, buf, nil
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.Atoi(string(bytes.TrimSpace(value)))
			if err != nil || n < 0 || (request && n > 0) {
				return 0, buf, errUnframed
			}
			length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return 0, buf, errUnframed
		}
	}
}

// readAnswer appends an answer (header block and body) to buf.
func readAnswer(r *bufio.Reader, buf []byte) ([]byte, error) {
	n, buf, err := head(r, buf, false)
	if err != nil {
		return buf, err
	}
	if n < 0 {
		return buf, errUnframed
	}
	start := len(buf)
	buf = append(buf, make([]byte, n)...)
	_, err = io.ReadFull(r, buf[start:])
	return buf, err
}
