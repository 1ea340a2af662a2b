// Package socket carries the bytes of the gateway's TCP connections, client
// and upstream, between Go's poller and the kernel. It sits below the
// serving engine (package engine, through server's listener) and the
// HTTP/1.1 client (package h1), and parses nothing.
//
// Wrap gives a *net.TCPConn whose Read and Write issue the read(2) and
// write(2) calls themselves, as raw system calls, through the connection's
// syscall.RawConn, and leaves everything else to the *net.TCPConn:
// deadlines, Close and CloseWrite, addresses, options. Idle is the one
// non-blocking peek the upstream pool makes before it reuses a connection,
// and WriteAndWait writes a request and waits for its answer with the wait
// armed first, so that the read after it does not find nothing.
//
// Why: a read or write through package net goes through the runtime's
// system-call bookkeeping (entersyscall), and the first such call after
// every processor went idle wakes the runtime's monitor thread from its deep
// sleep; it then polls every 20 µs until it sees the processors idle
// again and sleeps once more. A gateway at a moderate rate goes idle
// between requests, so it paid that wake-up, and the monitor's polling,
// for almost every request: at 2,000 req/s, 1.4 futex wake-ups and 1.8
// short sleeps of the monitor per request, about 60 µs of CPU per request
// in all (docs/benchmarks.md, "The monitor's wake-ups"). The sockets are
// non-blocking (Go's poller owns them), so a read or write returns at once,
// with bytes or with EAGAIN; that is the case raw system calls are for, and
// the connection waits for readiness in the poller exactly as package net
// does (prepare, try, wait, try again). A write the kernel takes in part
// continues from where it stopped, as net's does.
//
// What a caller sees is what a *net.TCPConn gives: the same errors (a
// *net.OpError with Op "read" or "write" around os.ErrDeadlineExceeded,
// net.ErrClosed or the system call's error), io.EOF at the end of the
// stream, Read and Write safe to call from different goroutines. Under the
// race detector the calls go through package syscall instead, which tells
// the detector what the kernel wrote and orders I/O between goroutines;
// on systems other than Linux, Wrap returns the connection unchanged.
package socket
