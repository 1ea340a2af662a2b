package e2e

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// maskedFrame is a client frame (RFC 6455 section 5.2): FIN, opcode, the
// length in its shortest form, a mask key and the masked payload.
func maskedFrame(opcode byte, payload []byte) []byte {
	b := []byte{0x80 | opcode}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	key := []byte{0x12, 0x34, 0x56, 0x78}
	b = append(b, key...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// readFrame reads one unmasked server frame and returns its opcode,
// payload and size on the wire.
func readFrame(br *bufio.Reader) (opcode byte, payload []byte, size int, err error) {
	var h [2]byte
	if _, err = io.ReadFull(br, h[:]); err != nil {
		return
	}
	size = 2
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var e [2]byte
		if _, err = io.ReadFull(br, e[:]); err != nil {
			return
		}
		n, size = uint64(binary.BigEndian.Uint16(e[:])), size+2
	case 127:
		var e [8]byte
		if _, err = io.ReadFull(br, e[:]); err != nil {
			return
		}
		n, size = binary.BigEndian.Uint64(e[:]), size+8
	}
	if h[1]&0x80 != 0 {
		err = fmt.Errorf("server frame is masked")
		return
	}
	payload = make([]byte, n)
	if _, err = io.ReadFull(br, payload); err != nil {
		return
	}
	return h[0] & 0x0f, payload, size + int(n), nil
}

// TestWebSocketBytes: a WebSocket session's bytes_in and bytes_out, in
// the access log and in the usage ledger, are the bytes relayed after the
// handshake, frame headers included, each way: what the client sent and
// what it received. They used to be 0 out (and the handshake's nothing
// in), the proxy's count overwritten by the server's.
func TestWebSocketBytes(t *testing.T) {
	_, wsURL := newWSEcho(t)
	g := testkit.Start(t, base(fmt.Sprintf(`storage: {driver: sqlite, dsn: %q}
usage: {flush_interval: 100ms}
consumers:
  - id: wsbytes
    api_keys: [{key: wsbytes-key-0123456789}]
upstreams:
  chat: {targets: [{url: %q}]}
routes:
  - name: chat
    match: {path: /ws}
    upstream: chat
    auth: [api_key]
`, filepath.Join(t.TempDir(), "gantry.db"), wsURL)))

	conn, err := net.Dial("tcp", g.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"+
		"X-API-Key: wsbytes-key-0123456789\r\nX-Request-ID: ws-bytes-1\r\n\r\n", g.Addr)
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", res, err)
	}
	if br.Buffered() != 0 {
		t.Fatalf("%d bytes after the handshake answer before any message", br.Buffered())
	}

	// Messages of both short length forms each way (the echo upstream reads
	// at most 32 KiB), then a close handshake.
	var sent, received int64
	for i, n := range []int{5, 125, 126, 300, 20000} {
		msg := bytes.Repeat([]byte{byte('a' + i)}, n)
		f := maskedFrame(0x2, msg)
		if _, err := conn.Write(f); err != nil {
			t.Fatal(err)
		}
		sent += int64(len(f))
		op, got, size, err := readFrame(br)
		if err != nil || op != 0x2 || !bytes.Equal(got, msg) {
			t.Fatalf("echo of message %d (%d bytes): opcode %d, %d bytes, %v", i, n, op, len(got), err)
		}
		received += int64(size)
	}
	closing := maskedFrame(0x8, []byte{0x03, 0xe8})
	if _, err := conn.Write(closing); err != nil {
		t.Fatal(err)
	}
	sent += int64(len(closing))
	op, _, size, err := readFrame(br)
	if err != nil || op != 0x8 {
		t.Fatalf("close answer: opcode %d, %v", op, err)
	}
	received += int64(size)
	// Whatever else the gateway sends before closing counts too.
	rest, _ := io.Copy(io.Discard, br)
	received += rest

	// The access log line of the session.
	want := fmt.Sprintf(`"bytes_in":%d,"bytes_out":%d`, sent, received)
	var line string
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(line, want) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		for l := range strings.SplitSeq(g.Stdout(), "\n") {
			if strings.Contains(l, `"request_id":"ws-bytes-1"`) {
				line = l
			}
		}
	}
	if !strings.Contains(line, want) {
		t.Errorf("access log line %q, want %s", line, want)
	}

	// The usage ledger.
	var in, out, requests int64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		status, body := g.Admin("GET", "/admin/usage?consumer=wsbytes&group_by=day", "")
		if status != 200 {
			t.Fatalf("/admin/usage: %d %s", status, body)
		}
		var u struct{ Rows []usageRow }
		if err := json.Unmarshal(body, &u); err != nil {
			t.Fatalf("/admin/usage body %s: %v", body, err)
		}
		in, out, requests = 0, 0, 0
		for _, r := range u.Rows {
			in, out, requests = in+r.BytesIn, out+r.BytesOut, requests+r.Requests
		}
		if requests > 0 {
			break
		}
	}
	if requests != 1 || in != sent || out != received {
		t.Errorf("usage: %d requests, bytes_in %d, bytes_out %d; want 1, %d, %d", requests, in, out, sent, received)
	}
}
