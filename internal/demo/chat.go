package demo

import (
	"net/http"
	"sync"

	"github.com/coder/websocket"
)

// maxChatMessage bounds one WebSocket message the echo accepts.
const maxChatMessage = 64 << 10

// newChat returns the chat service: a WebSocket echo at /ws/chat that sends
// every text or binary message back as it came, in order. conns counts open
// connections so Close can wait for them; http.Server.Shutdown does not
// track hijacked connections.
func newChat(conns *sync.WaitGroup) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", health)
	mux.HandleFunc("GET /ws/chat", func(w http.ResponseWriter, r *http.Request) {
		conns.Add(1)
		defer conns.Done()
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
			// Behind the gateway, Host is the upstream's address while
			// Origin is whatever page the user opened, so the same-origin
			// check would refuse every browser. The echo holds no data and
			// listens on loopback only.
			InsecureSkipVerify: true,
		})
		if err != nil {
			return // Accept has answered the client.
		}
		defer c.CloseNow()
		c.SetReadLimit(maxChatMessage)
		// The request context ends when the services close.
		ctx := r.Context()
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, msg); err != nil {
				return
			}
		}
	})
	return mux
}
