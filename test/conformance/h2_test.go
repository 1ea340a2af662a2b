package conformance

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/testkit"
)

// A tiny HTTP/2 client on testkit's frames, enough to send streams no
// conforming client library would: the preface, SETTINGS, one HEADERS frame
// whose HPACK block is literal fields without Huffman coding, and DATA. It reads back SETTINGS,
// HEADERS (only :status is decoded), DATA, RST_STREAM and GOAWAY.

// h2Stream is one request on stream 1 of a fresh connection.
type h2Stream struct {
	fields [][2]string // pseudo-headers first, names in lower case
	data   string      // one DATA frame (with END_STREAM) when not empty
}

func (h h2Stream) String() string {
	var b strings.Builder
	for _, f := range h.fields {
		fmt.Fprintf(&b, "%s: %s\n", f[0], f[1])
	}
	if h.data != "" {
		fmt.Fprintf(&b, "DATA %q", h.data)
	}
	return "h2 " + strings.TrimSpace(b.String())
}

// exchangeH2 sends h as stream 1 of a prior-knowledge HTTP/2 connection
// and reads the stream's answer.
func exchangeH2(addr string, h h2Stream) result {
	var res result
	c, err := net.Dial("tcp", addr)
	if err != nil {
		res.Closed = true
		return res
	}
	defer c.Close()
	var out []byte
	out = append(out, testkit.H2Preface...)
	out = testkit.AppendH2Frame(out, testkit.H2Settings, 0, 0, nil)
	var kv []string
	for _, f := range h.fields {
		kv = append(kv, f[0], f[1])
	}
	block := testkit.H2HeaderBlock(kv...)
	flags := byte(testkit.H2EndHeaders)
	if h.data == "" {
		flags |= testkit.H2EndStream
	}
	out = testkit.AppendH2Frame(out, testkit.H2Headers, flags, 1, block)
	if h.data != "" {
		out = testkit.AppendH2Frame(out, testkit.H2Data, testkit.H2EndStream, 1, []byte(h.data))
	}
	if _, err := c.Write(out); err != nil {
		res.Closed = true
		return res
	}
	c.SetDeadline(time.Now().Add(3 * time.Second))
	br := bufio.NewReader(c)
	var cur *reply
	for {
		typ, fl, stream, payload, err := testkit.ReadH2Frame(br)
		if err != nil {
			res.Closed = testkit.IsClosed(err)
			return res
		}
		switch typ {
		case testkit.H2Settings:
			for i := 0; i+6 <= len(payload) && fl&testkit.H2Ack == 0; i += 6 {
				if res.Settings == nil {
					res.Settings = map[uint16]uint32{}
				}
				res.Settings[binary.BigEndian.Uint16(payload[i:])] = binary.BigEndian.Uint32(payload[i+2:])
			}
			if fl&testkit.H2Ack == 0 {
				c.Write(testkit.AppendH2Frame(nil, testkit.H2Settings, testkit.H2Ack, 0, nil))
			}
		case testkit.H2Ping:
			if fl&testkit.H2Ack == 0 {
				c.Write(testkit.AppendH2Frame(nil, testkit.H2Ping, testkit.H2Ack, 0, payload))
			}
		case testkit.H2GoAway:
			if len(payload) >= 8 {
				res.Reset = "GOAWAY " + testkit.H2ErrCode(binary.BigEndian.Uint32(payload[4:8]))
			}
			res.Closed = true
			return res
		case testkit.H2RSTStream:
			if stream == 1 && len(payload) >= 4 {
				res.Reset = "RST_STREAM " + testkit.H2ErrCode(binary.BigEndian.Uint32(payload))
				return res
			}
		case testkit.H2Headers:
			if stream != 1 {
				continue
			}
			if cur == nil {
				status, ok := testkit.H2Status(payload, fl)
				if !ok {
					status = -1
				}
				res.Replies = append(res.Replies, reply{Status: status})
				cur = &res.Replies[len(res.Replies)-1]
			}
			if fl&testkit.H2EndStream != 0 {
				return res
			}
		case testkit.H2Data:
			if stream != 1 || cur == nil {
				continue
			}
			cur.Body = append(cur.Body, payload...)
			if len(payload) > 0 {
				// Give the flow-control window back so long bodies finish.
				inc := binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
				c.Write(testkit.AppendH2Frame(testkit.AppendH2Frame(nil, testkit.H2WindowUpdate, 0, 0, inc), testkit.H2WindowUpdate, 0, 1, inc))
			}
			if fl&testkit.H2EndStream != 0 {
				// The body of a gateway error is the contract's JSON.
				cur.Header = map[string][]string{"Content-Type": {"application/json"}}
				decodeError(cur)
				if cur.Code == "" {
					cur.Header = nil
					cur.JSON = false
				}
				return res
			}
		}
	}
}
