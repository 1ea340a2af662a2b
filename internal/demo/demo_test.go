package demo

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// anyPort asks for a free loopback port for every service.
var anyPort = Addrs{
	Users:        "127.0.0.1:0",
	Users2:       "127.0.0.1:0",
	Orders:       "127.0.0.1:0",
	OrdersLegacy: "127.0.0.1:0",
	Chat:         "127.0.0.1:0",
	Function:     "127.0.0.1:0",
	LLM:          "127.0.0.1:0",
}

func startTest(t *testing.T) *Services {
	t.Helper()
	s, err := startAt(t.Context(), nil, anyPort)
	if err != nil {
		t.Fatalf("StartAt() error = %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close() error = %v", err)
		}
	})
	return s
}

// get sends one request and returns the response with its body read.
func get(t *testing.T, method, url string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", url, err)
	}
	return resp, body
}

func TestServicesAnswer(t *testing.T) {
	s := startTest(t)
	a := s.Addrs
	tests := []struct {
		name         string
		addr         string
		method, path string
		wantStatus   int
		wantServedBy string
		want         string // JSON, compared structurally; "" skips
	}{
		{"users health", a.Users, "GET", "/healthz", 200, "users-1", `{"status":"ok"}`},
		{"users list", a.Users, "GET", "/users", 200, "users-1", ""},
		{"one user", a.Users, "GET", "/users/1", 200, "users-1",
			`{"id":1,"name":"Ada Lovelace","email":"ada@example.com"}`},
		{"second instance, same data", a.Users2, "GET", "/users/3", 200, "users-2",
			`{"id":3,"name":"Alan Turing","email":"alan@example.com"}`},
		{"unknown user", a.Users, "GET", "/users/42", 404, "users-1",
			`{"status":404,"error":"not_found","message":"no user with id \"42\""}`},
		{"users wrong method", a.Users, "DELETE", "/users/1", 405, "users-1", ""},
		{"orders v1 one", a.OrdersLegacy, "GET", "/orders/7", 200, "orders-v1",
			`{"id":7,"total":"19.90","status":"shipped"}`},
		{"orders v1 unknown", a.OrdersLegacy, "GET", "/orders/70", 404, "orders-v1",
			`{"status":404,"error":"not_found","message":"no order with id \"70\""}`},
		{"orders v2 one", a.Orders, "GET", "/orders/7", 200, "orders-v2", `{
			"id":7,"version":"v2","user_id":1,"status":"shipped",
			"total":{"amount_cents":1990,"currency":"EUR"},
			"items":[
				{"sku":"BK-101","name":"Notes on the Analytical Engine","quantity":1,"unit_cents":1490},
				{"sku":"PN-002","name":"Fountain pen ink","quantity":1,"unit_cents":500}],
			"created_at":"2026-04-01T11:05:00Z"}`},
		{"orders v2 health", a.Orders, "GET", "/healthz", 200, "orders-v2", `{"status":"ok"}`},
		{"chat health", a.Chat, "GET", "/healthz", 200, "chat", `{"status":"ok"}`},
		{"chat without upgrade", a.Chat, "GET", "/ws/chat", 426, "chat", ""},
		{"lambda health", a.Function, "GET", "/healthz", 200, "lambda", `{"status":"ok"}`},
		{"lambda unknown function", a.Function, "POST", "/2015-03-31/functions/nope/invocations", 404, "lambda",
			`{"Type":"User","message":"Function not found: nope"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, body := get(t, tt.method, "http://"+tt.addr+tt.path, nil)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.wantStatus, body)
			}
			if got := resp.Header.Get("X-Served-By"); got != tt.wantServedBy {
				t.Errorf("X-Served-By = %q, want %q", got, tt.wantServedBy)
			}
			if tt.want == "" {
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			var got, want any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("body mismatch (-want +got):\n%s", d)
			}
		})
	}
}

func TestUsersList(t *testing.T) {
	s := startTest(t)
	for _, addr := range []string{s.Addrs.Users, s.Addrs.Users2} {
		_, body := get(t, "GET", "http://"+addr+"/users", nil)
		var got []user
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("body %s: %v", body, err)
		}
		if d := cmp.Diff(seedUsers, got); d != "" {
			t.Errorf("GET %s/users mismatch (-want +got):\n%s", addr, d)
		}
	}
}

func TestOrdersList(t *testing.T) {
	s := startTest(t)
	tests := []struct {
		name       string
		url        string
		wantStatus int
		wantIDs    []int
	}{
		{"v2 all", "http://" + s.Addrs.Orders + "/orders", 200, []int{3, 5, 7, 8, 9}},
		{"v2 by user", "http://" + s.Addrs.Orders + "/orders?user_id=1", 200, []int{5, 7}},
		{"v2 user without orders", "http://" + s.Addrs.Orders + "/orders?user_id=4", 200, []int{}},
		{"v2 bad user", "http://" + s.Addrs.Orders + "/orders?user_id=ada", 400, nil},
		{"v2 negative user", "http://" + s.Addrs.Orders + "/orders?user_id=-1", 400, nil},
		{"v1 ignores the filter", "http://" + s.Addrs.OrdersLegacy + "/orders?user_id=1", 200, []int{3, 5, 7, 8, 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, body := get(t, "GET", tt.url, nil)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantIDs == nil {
				return
			}
			var list []struct{ ID int }
			if err := json.Unmarshal(body, &list); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			ids := []int{}
			for _, o := range list {
				ids = append(ids, o.ID)
			}
			if d := cmp.Diff(tt.wantIDs, ids); d != "" {
				t.Errorf("ids mismatch (-want +got):\n%s", d)
			}
		})
	}
}

func TestRequestIDEchoed(t *testing.T) {
	s := startTest(t)
	a := s.Addrs
	for _, url := range []string{
		"http://" + a.Users + "/users/1",
		"http://" + a.Users2 + "/users/404",
		"http://" + a.Orders + "/orders/7",
		"http://" + a.OrdersLegacy + "/orders",
		"http://" + a.Chat + "/healthz",
	} {
		resp, _ := get(t, "GET", url, http.Header{"X-Request-Id": {"req-7f3a"}})
		if got := resp.Header.Get("X-Request-ID"); got != "req-7f3a" {
			t.Errorf("GET %s: X-Request-ID = %q, want %q", url, got, "req-7f3a")
		}
		resp, _ = get(t, "GET", url, nil)
		if got, ok := resp.Header["X-Request-Id"]; ok {
			t.Errorf("GET %s without an ID: X-Request-ID = %q, want none", url, got)
		}
	}
}

func TestEcho(t *testing.T) {
	s := startTest(t)
	req, err := http.NewRequestWithContext(t.Context(), "POST",
		"http://"+s.Addrs.Users2+"/echo/deep/path?lang=en&lang=fr", strings.NewReader(`{"hello":"world"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	req.Header.Set("X-Request-ID", "echo-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got echoReply
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	checks := []struct{ field, got, want string }{
		{"served_by", got.ServedBy, "users-2"},
		{"method", got.Method, "POST"},
		{"path", got.Path, "/echo/deep/path"},
		{"host", got.Host, s.Addrs.Users2},
		{"body", got.Body, `{"hello":"world"}`},
		{"X-Forwarded-For", strings.Join(got.Headers["X-Forwarded-For"], ","), "203.0.113.9"},
		{"X-Request-Id", strings.Join(got.Headers["X-Request-Id"], ","), "echo-1"},
		{"query lang", strings.Join(got.Query["lang"], ","), "en,fr"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("echo %s = %q, want %q", c.field, c.got, c.want)
		}
	}
	if got.RemoteAddr == "" {
		t.Error("echo remote_addr is empty")
	}
}

func TestStartPortTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free := freeAddr(t)

	addrs := anyPort
	addrs.Users = free
	addrs.Orders = taken.Addr().String()
	s, err := startAt(t.Context(), nil, addrs)
	if err == nil {
		s.Close()
		t.Fatal("StartAt() on a port in use succeeded")
	}
	var le *ListenError
	if !errors.As(err, &le) {
		t.Fatalf("StartAt() error = %T %v, want *ListenError", err, err)
	}
	if le.Service != "orders-v2" || le.Addr != taken.Addr().String() {
		t.Errorf("ListenError = {%q, %q}, want {orders-v2, %q}", le.Service, le.Addr, taken.Addr())
	}
	_, port, _ := net.SplitHostPort(taken.Addr().String())
	for _, want := range []string{"port " + port, "stop it", "free the port"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Logf("error does not wrap EADDRINUSE on this platform: %v", err)
	}
	// All or nothing: the listener opened before the failure is released.
	ln, err := net.Listen("tcp", free)
	if err != nil {
		t.Fatalf("port of users-1 still held after a failed start: %v", err)
	}
	ln.Close()
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestStartRefusesNonLoopback(t *testing.T) {
	tests := []struct {
		name string
		addr string
	}{
		{"every interface", ":0"},
		{"unspecified v4", "0.0.0.0:0"},
		{"public address", "192.0.2.10:0"},
		{"no port", "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addrs := anyPort
			addrs.Chat = tt.addr
			s, err := startAt(t.Context(), nil, addrs)
			if err == nil {
				s.Close()
				t.Fatalf("StartAt(Chat: %q) succeeded, want an error", tt.addr)
			}
			var le *ListenError
			if !errors.As(err, &le) || le.Service != "chat" {
				t.Errorf("StartAt() error = %v, want a *ListenError for chat", err)
			}
		})
	}
}

// TestStartDefaultAddrs runs the services where the quickstart config
// expects them. It is skipped when something on the machine holds a port.
func TestStartDefaultAddrs(t *testing.T) {
	s, err := Start(t.Context(), nil)
	if errors.Is(err, syscall.EADDRINUSE) {
		t.Skipf("demo ports busy on this machine: %v", err)
	}
	if err != nil {
		t.Fatalf("Start() error = %v", err)
	}
	defer s.Close()
	if d := cmp.Diff(defaultAddrs(), s.Addrs); d != "" {
		t.Errorf("Addrs mismatch (-want +got):\n%s", d)
	}
	for _, u := range []string{
		"http://" + usersAddr + "/users/2",
		"http://" + users2Addr + "/users/2",
		"http://" + ordersAddr + "/orders/7",
		"http://" + ordersLegacyAddr + "/orders/7",
		"http://" + chatAddr + "/healthz",
		"http://" + functionAddr + "/healthz",
	} {
		if resp, body := get(t, "GET", u, nil); resp.StatusCode != 200 {
			t.Errorf("GET %s = %d %s, want 200", u, resp.StatusCode, body)
		}
	}
}

func TestCloseEndsStreamsAndStopsServing(t *testing.T) {
	s, err := startAt(t.Context(), nil, anyPort)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + s.Addrs.Users + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	ws := dialChat(t, s)
	defer ws.CloseNow()

	start := time.Now()
	if err := s.Close(); err != nil {
		t.Errorf("Close() error = %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close() took %v with an open stream and WebSocket, want well under %v", d, shutdownTimeout)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close() error = %v", err)
	}
	if _, err := http.Get("http://" + s.Addrs.Users + "/healthz"); err == nil {
		t.Error("GET after Close succeeded")
	}
}

func TestContextEndStopsServices(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	s, err := startAt(ctx, nil, anyPort)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.Now().Add(3 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addrs.Orders, 100*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("services still listening 3s after the context ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close() after the context ended: %v", err)
	}
}

// The function stand-in answers the event the gateway sends as a function
// behind API Gateway would.
func TestFunctionGreets(t *testing.T) {
	t.Parallel()
	s := startTest(t)
	event := `{"version":"2.0","rawPath":"/hello/ada","pathParameters":{"name":"ada"},"requestContext":{"requestId":"r-1","http":{"method":"GET","sourceIp":"127.0.0.1"}}}`
	resp, err := http.Post("http://"+s.Addrs.Function+"/2015-03-31/functions/greeter/invocations", "application/json", strings.NewReader(event))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res struct {
		StatusCode int               `json:"statusCode"`
		Headers    map[string]string `json:"headers"`
		Body       string            `json:"body"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != 200 {
		t.Fatalf("invoke = %d, %v", resp.StatusCode, err)
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(res.Body), &body); err != nil {
		t.Fatalf("body %q: %v", res.Body, err)
	}
	if res.StatusCode != 200 || body["greeting"] != "Hello, ada!" || body["request_id"] != "r-1" || res.Headers["Content-Type"] != "application/json" {
		t.Errorf("result = %+v, body %v", res, body)
	}
	bad, err := http.Post("http://"+s.Addrs.Function+"/2015-03-31/functions/greeter/invocations", "application/json", strings.NewReader("not json"))
	if err != nil {
		t.Fatal(err)
	}
	bad.Body.Close()
	if bad.StatusCode != 400 {
		t.Errorf("invoke with a bad event = %d, want 400", bad.StatusCode)
	}
}
