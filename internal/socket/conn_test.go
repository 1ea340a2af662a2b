//go:build linux

package socket

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// pair returns the two ends of a loopback TCP connection, the dialed end
// wrapped when wrap is set; both are closed when the test ends.
func pair(t testing.TB, wrap bool) (c net.Conn, peer *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		a, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- a
	}()
	d, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a := <-accepted
	if a == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { d.Close(); a.Close() })
	c = d
	if wrap {
		c = Wrap(d)
		if _, ok := c.(*Conn); !ok {
			t.Fatalf("Wrap(%T) = %T, want *Conn", d, c)
		}
	}
	return c, a.(*net.TCPConn)
}

// outcome describes the result of an I/O call the way a caller can tell
// results apart: bytes, end of stream, and the error's kind and text (the
// addresses taken out, they differ between two connections).
func outcome(n int, err error, c net.Conn, peer net.Conn) string {
	var b strings.Builder
	b.WriteString("n=")
	b.WriteString(strings.Repeat("#", min(n, 1)))
	if err == nil {
		return b.String() + " ok"
	}
	msg := err.Error()
	for _, a := range []net.Addr{c.LocalAddr(), c.RemoteAddr(), peer.LocalAddr(), peer.RemoteAddr()} {
		msg = strings.ReplaceAll(msg, a.String(), "ADDR")
	}
	b.WriteString(" err=" + msg)
	var oe *net.OpError
	if errors.As(err, &oe) {
		b.WriteString(" op=" + oe.Op)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		b.WriteString(" timeout")
	}
	for _, target := range []error{io.EOF, os.ErrDeadlineExceeded, net.ErrClosed, syscall.ECONNRESET, syscall.EPIPE} {
		if errors.Is(err, target) {
			b.WriteString(" is(" + target.Error() + ")")
		}
	}
	return b.String()
}

// TestSameAsNet runs every case on a plain *net.TCPConn and on a wrapped
// one and demands the same outcome: bytes, end of stream, error kind and
// text.
func TestSameAsNet(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, c net.Conn, peer *net.TCPConn) string
	}{
		{"read bytes", func(t *testing.T, c net.Conn, peer *net.TCPConn) string {
			peer.Write([]byte("hello"))
			buf := make([]byte, 16)
			n, err := io.ReadFull(c, buf[:5])
			return outcome(n, err, c, peer) + " " + string(buf[:n])
		}},
		{"end of stream", func(t *testing.T, c net.Conn, peer *net.TCPConn) string {
			peer.Write([]byte("x"))
			peer.Close()
			buf := make([]byte, 16)
			n, err := c.Read(buf)
			n2, err2 := c.Read(buf)
			return outcome(n, err, c, peer) + " then " + outcome(n2, err2, c, peer)
		}},
		{"half close", func(t *testing.T, c net.Conn, peer *net.TCPConn) string {
			peer.CloseWrite()
			n, err := c.Read(make([]byte, 4))
			// The other direction still works.
			n2, err2 := c.Write([]byte("after"))
			got := make([]byte, 5)
			io.ReadFull(peer, got)
			return outcome(n, err, c, peer) + " " + outcome(n2, err2, c, peer) + " " + string(got)
		}},
		{"reset", func(t *testing.T, c net.Conn, peer *net.TCPConn) string {
			peer.SetLinger(0)
			peer.Close()
			time.Sleep(20 * time.Millisecond)
			n, err := c.Read(make([]byte, 4))
			return outcome(n, err, c, peer)
		}},
		{"read deadline", func(t *testing.T, c net.Conn, peer *net.TCPConn) string {
			c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
			n, err := c.Read(make([]byte, 4))
			return outcome(n, err, c, peer)
		}},
		{"read deadline passed", func(t *testing.T, c net.Conn, peer *net.TCPConn) string {
			peer.Write([]byte("waiting"))
			time.Sleep(10 * time.Millisecond)
			c.SetReadDeadline(time.Unix(1, 0))
			n, err := c.Read(make([]byte, 4))
			return outcome(n, err, c, peer)
		}},
		{"write deadline, peer not reading", func(t *testing.T, c net.Conn, peer *net.TCPConn) string {
			// Made before the deadline is set: zeroing 64 MiB can take
			// longer than the deadline on a loaded machine under -race,
			// and then nothing is written at all.
			big := make([]byte, 64<<20)
			c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
			n, err := c.Write(big)
			if n <= 0 || n >= len(big) {
				t.Errorf("wrote %d of %d before the deadline", n, len(big))
			}
			return outcome(n, err, c, peer)
		}},
		{"closed while reading", func(t *testing.T, c net.Conn, peer *net.TCPConn) string {
			time.AfterFunc(30*time.Millisecond, func() { c.Close() })
			n, err := c.Read(make([]byte, 4))
			return outcome(n, err, c, peer)
		}},
		{"read after close", func(t *testing.T, c net.Conn, peer *net.TCPConn) string {
			c.Close()
			n, err := c.Read(make([]byte, 4))
			n2, err2 := c.Write([]byte("x"))
			return outcome(n, err, c, peer) + " " + outcome(n2, err2, c, peer)
		}},
		{"write to a reset peer", func(t *testing.T, c net.Conn, peer *net.TCPConn) string {
			peer.SetLinger(0)
			peer.Close()
			time.Sleep(20 * time.Millisecond)
			var n int
			var err error
			for i := 0; i < 10 && err == nil; i++ {
				n, err = c.Write([]byte("x"))
				time.Sleep(5 * time.Millisecond)
			}
			return outcome(n, err, c, peer)
		}},
		{"empty read and write", func(t *testing.T, c net.Conn, peer *net.TCPConn) string {
			n, err := c.Read(nil)
			n2, err2 := c.Write(nil)
			return outcome(n, err, c, peer) + " " + outcome(n2, err2, c, peer)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, peer := pair(t, false)
			want := tc.run(t, c, peer)
			c, peer = pair(t, true)
			got := tc.run(t, c, peer)
			if got != want {
				t.Errorf("wrapped: %s\n    net: %s", got, want)
			}
			t.Log(got)
		})
	}
}

// TestLargeTransfers moves blocks bigger than the socket buffers both
// ways at once, so writes stop on EAGAIN and go on in part, and reads
// come in pieces; every byte must arrive in order.
func TestLargeTransfers(t *testing.T) {
	for _, size := range []int{1, 1000, 64 << 10, 3<<20 + 7} {
		c, peer := pair(t, true)
		s := Wrap(peer)
		out := make([]byte, size)
		for i := range out {
			out[i] = byte(i * 7)
		}
		back := make([]byte, size)
		for i := range back {
			back[i] = byte(i * 13)
		}
		var wg sync.WaitGroup
		var got, gotBack []byte
		var err1, err2 error
		wg.Add(2)
		go func() { defer wg.Done(); got, err1 = readN(s, size) }()
		go func() { defer wg.Done(); gotBack, err2 = readN(c, size) }()
		if n, err := c.Write(out); n != size || err != nil {
			t.Fatalf("size %d: Write = %d, %v", size, n, err)
		}
		if n, err := s.Write(back); n != size || err != nil {
			t.Fatalf("size %d: peer Write = %d, %v", size, n, err)
		}
		wg.Wait()
		if err1 != nil || err2 != nil || !bytes.Equal(got, out) || !bytes.Equal(gotBack, back) {
			t.Fatalf("size %d: bytes differ (errors %v, %v)", size, err1, err2)
		}
	}
}

func readN(r io.Reader, n int) ([]byte, error) {
	b := make([]byte, n)
	_, err := io.ReadFull(r, b)
	return b, err
}

// TestIdle: a quiet connection is idle; a waiting byte or the end of the
// stream is not, and the peek leaves the byte to be read.
func TestIdle(t *testing.T) {
	fd := func(c *net.TCPConn) (uintptr, func()) {
		f, err := c.File()
		if err != nil {
			t.Fatal(err)
		}
		return f.Fd(), func() { f.Close() }
	}
	var buf [1]byte
	cases := []struct {
		name string
		peer func(p *net.TCPConn)
		want bool
	}{
		{"quiet", func(*net.TCPConn) {}, true},
		{"byte waiting", func(p *net.TCPConn) { p.Write([]byte("z")) }, false},
		{"end of stream", func(p *net.TCPConn) { p.Close() }, false},
		{"reset", func(p *net.TCPConn) { p.SetLinger(0); p.Close() }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, peer := pair(t, false)
			tc.peer(peer)
			time.Sleep(20 * time.Millisecond)
			f, done := fd(c.(*net.TCPConn))
			defer done()
			if got := Idle(f, &buf); got != tc.want {
				t.Fatalf("Idle = %v, want %v", got, tc.want)
			}
			if tc.name == "byte waiting" {
				b := make([]byte, 1)
				if n, _ := Wrap(c).Read(b); n != 1 || b[0] != 'z' {
					t.Fatalf("after the peek read %q", b[:n])
				}
			}
		})
	}
}

// TestWriteAndWait: a complete write returns once the answer is readable,
// and that read finds it; everything else returns early with what went
// out, for Write to finish or report.
func TestWriteAndWait(t *testing.T) {
	cases := []struct {
		name string
		// setup runs before the call; peer answers (or not) meanwhile.
		setup func(c *Conn, peer *net.TCPConn)
		peer  func(peer *net.TCPConn, got []byte)
		msg   int
		// wantAll: every byte went out; minWait, maxWait bound the call.
		wantAll          bool
		minWait, maxWait time.Duration
		// then is what the Read after it returns: "answer", "deadline" or
		// "" (not read).
		then string
	}{
		{name: "answer at once", msg: 64, wantAll: true, maxWait: 2 * time.Second, then: "answer",
			peer: func(p *net.TCPConn, got []byte) { p.Write([]byte("answer")) }},
		{name: "answer later", msg: 64, wantAll: true, minWait: 40 * time.Millisecond, maxWait: 2 * time.Second, then: "answer",
			peer: func(p *net.TCPConn, got []byte) { time.Sleep(50 * time.Millisecond); p.Write([]byte("answer")) }},
		{name: "no answer before the read deadline", msg: 64, wantAll: true, minWait: 40 * time.Millisecond, maxWait: 2 * time.Second, then: "deadline",
			setup: func(c *Conn, _ *net.TCPConn) { c.SetReadDeadline(time.Now().Add(50 * time.Millisecond)) }},
		{name: "read deadline already passed", msg: 64, maxWait: time.Second,
			setup: func(c *Conn, _ *net.TCPConn) { c.SetReadDeadline(time.Unix(1, 0)) }},
		{name: "peer closes", msg: 64, wantAll: true, maxWait: 2 * time.Second,
			peer: func(p *net.TCPConn, got []byte) { p.Close() }},
		{name: "more than the socket takes", msg: 64 << 20, maxWait: 2 * time.Second},
		{name: "closed", msg: 64, maxWait: time.Second,
			setup: func(c *Conn, _ *net.TCPConn) { c.Close() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nc, peer := pair(t, true)
			c := nc.(*Conn)
			if tc.setup != nil {
				tc.setup(c, peer)
			}
			msg := bytes.Repeat([]byte("q"), tc.msg)
			received := make(chan []byte, 1)
			if tc.msg < 1<<20 {
				go func() {
					got := make([]byte, tc.msg)
					n, _ := io.ReadFull(peer, got)
					if tc.peer != nil {
						tc.peer(peer, got[:n])
					}
					received <- got[:n]
				}()
			}
			start := time.Now()
			n := c.WriteAndWait(msg)
			took := time.Since(start)
			if tc.wantAll && n != len(msg) || !tc.wantAll && n == len(msg) {
				t.Fatalf("wrote %d of %d bytes (want all: %v)", n, len(msg), tc.wantAll)
			}
			if took < tc.minWait || took > tc.maxWait {
				t.Fatalf("returned after %v, want %v to %v", took, tc.minWait, tc.maxWait)
			}
			if tc.wantAll {
				if got := <-received; !bytes.Equal(got, msg) {
					t.Fatalf("peer received %d bytes, want %d", len(got), len(msg))
				}
			}
			switch tc.then {
			case "answer":
				buf := make([]byte, 16)
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				n, err := c.Read(buf)
				if err != nil || string(buf[:n]) != "answer" {
					t.Fatalf("then read %q, %v", buf[:n], err)
				}
			case "deadline":
				if _, err := c.Read(make([]byte, 4)); !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("then read: %v, want the deadline", err)
				}
			}
		})
	}
}

// TestWriteAndWaitRoundTrips: round after round, an answer echoed at once
// ends the wait and is what the next read returns. A wait that does not
// end on the answer shows as a round that takes the read deadline. (That
// the wait is armed before the write, so that an answer the poller sees
// between the two is not lost, is the code's structure: the write is made
// from inside the read's callback.)
func TestWriteAndWaitRoundTrips(t *testing.T) {
	nc, peer := pair(t, true)
	c := nc.(*Conn)
	go func() {
		buf := make([]byte, 64)
		for {
			n, err := peer.Read(buf)
			if err != nil {
				return
			}
			if _, err := peer.Write(buf[:n]); err != nil {
				return
			}
		}
	}()
	msg, back := []byte("ping"), make([]byte, 4)
	for i := 0; i < 2000; i++ {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		start := time.Now()
		if n := c.WriteAndWait(msg); n != len(msg) {
			t.Fatalf("round %d: wrote %d", i, n)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("round %d: the wait missed the answer (%v)", i, d)
		}
		if _, err := io.ReadFull(c, back); err != nil || string(back) != "ping" {
			t.Fatalf("round %d: read %q, %v", i, back, err)
		}
	}
}

func TestWrapLeavesOtherConns(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if Wrap(a) != a {
		t.Fatal("Wrap changed a pipe")
	}
}

// TestNoAllocations: a read and a write cost no allocation.
func TestNoAllocations(t *testing.T) {
	c, peer := pair(t, true)
	s := Wrap(peer)
	msg := []byte("ping")
	buf := make([]byte, 16)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(s, buf[:len(msg)]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per write and read, want 0", allocs)
	}
}

// FuzzStream sends data in pieces of the given sizes and reads it in
// pieces of other sizes, over wrapped ends: what arrives is what was sent.
func FuzzStream(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), uint64(1))
	f.Add(bytes.Repeat([]byte{0, 0xff, '\r', '\n'}, 5000), uint64(42))
	c, peer := pair(f, true)
	s := Wrap(peer)
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		if len(data) == 0 {
			return
		}
		rng := rand.New(rand.NewPCG(seed, seed>>7))
		done := make(chan error, 1)
		go func() {
			for rest := data; len(rest) > 0; {
				k := 1 + rng.IntN(len(rest))
				if _, err := c.Write(rest[:k]); err != nil {
					done <- err
					return
				}
				rest = rest[k:]
			}
			done <- nil
		}()
		got := make([]byte, 0, len(data))
		buf := make([]byte, 1+int(seed%4096))
		for len(got) < len(data) {
			n, err := s.Read(buf[:min(len(buf), len(data)-len(got))])
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, buf[:n]...)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Fatal("bytes differ")
		}
	})
}
