package demo

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func dialChat(t *testing.T, s *Services) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.Dial(t.Context(), "ws://"+s.Addrs.Chat+"/ws/chat", &websocket.DialOptions{
		HTTPHeader: http.Header{"X-Request-Id": {"ws-1"}},
	})
	if err != nil {
		t.Fatalf("dialing chat: %v", err)
	}
	if got := resp.Header.Get("X-Request-ID"); got != "ws-1" {
		t.Errorf("handshake X-Request-ID = %q, want ws-1", got)
	}
	return c
}

func TestChatEchoesInOrder(t *testing.T) {
	s := startTest(t)
	c := dialChat(t, s)
	defer c.CloseNow()
	ctx := t.Context()

	const n = 100
	msg := func(i int) (websocket.MessageType, []byte) {
		if i%3 == 0 {
			return websocket.MessageBinary, []byte{byte(i), 0, 0xff, byte(i >> 8)}
		}
		return websocket.MessageText, fmt.Appendf(nil, "message %d from grace", i)
	}
	// Writing all messages from another goroutine while reading checks the
	// order under pipelining, not only in lockstep.
	errc := make(chan error, 1)
	go func() {
		for i := range n {
			typ, p := msg(i)
			if err := c.Write(ctx, typ, p); err != nil {
				errc <- fmt.Errorf("writing message %d: %w", i, err)
				return
			}
		}
		errc <- nil
	}()
	for i := range n {
		typ, got, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("reading message %d: %v", i, err)
		}
		wantType, want := msg(i)
		if typ != wantType || !bytes.Equal(got, want) {
			t.Fatalf("message %d = %v %q, want %v %q", i, typ, got, wantType, want)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Errorf("closing: %v", err)
	}
}

func TestChatRefusesOversizedMessage(t *testing.T) {
	s := startTest(t)
	c := dialChat(t, s)
	defer c.CloseNow()
	if err := c.Write(t.Context(), websocket.MessageBinary, make([]byte, maxChatMessage+1)); err != nil {
		t.Fatalf("writing: %v", err)
	}
	_, _, err := c.Read(t.Context())
	if got := websocket.CloseStatus(err); got != websocket.StatusMessageTooBig {
		t.Errorf("close status = %v (%v), want %v", got, err, websocket.StatusMessageTooBig)
	}
}

type sseEvent struct{ id, event, data string }

func TestEventsStream(t *testing.T) {
	s := startTest(t)
	start := time.Now()
	resp, err := http.Get("http://" + s.Addrs.Users2 + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q, want text/event-stream", ct)
	}

	var events []sseEvent
	var arrived []time.Duration
	var cur sseEvent
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			events = append(events, cur)
			arrived = append(arrived, time.Since(start))
			cur = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			cur.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			cur.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data = strings.TrimPrefix(line, "data: ")
		default:
			t.Errorf("unexpected line %q", line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading stream: %v", err)
	}
	if len(events) != eventCount {
		t.Fatalf("got %d events, want %d: %v", len(events), eventCount, events)
	}
	for i, e := range events {
		wantData := fmt.Sprintf(`{"n":%d,"of":%d,"time":`, i+1, eventCount)
		if e.id != fmt.Sprint(i+1) || e.event != "tick" || !strings.HasPrefix(e.data, wantData) {
			t.Errorf("event %d = %+v, want id %d, event tick, data %s...", i, e, i+1, wantData)
		}
	}
	// Flushed one by one: the first arrives long before the stream ends.
	if last := arrived[len(arrived)-1]; last < (eventCount-1)*eventInterval {
		t.Errorf("stream ended after %v, want at least %v", last, (eventCount-1)*eventInterval)
	}
	if first, last := arrived[0], arrived[len(arrived)-1]; last-first < (eventCount-2)*eventInterval {
		t.Errorf("events arrived %v..%v, want them spread %v apart", first, last, eventInterval)
	}
}
