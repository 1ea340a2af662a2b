package session

import (
	"fmt"
	"testing"
	"time"
)

func TestThrottle(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)}
	th := NewThrottle(3, time.Minute, clk.Now)
	for i := range 3 {
		if ok, _ := th.Allow("10.0.0.5"); !ok {
			t.Fatalf("attempt %d refused, want allowed", i+1)
		}
		th.Fail("10.0.0.5")
		clk.Add(10 * time.Second)
	}
	ok, wait := th.Allow("10.0.0.5")
	if ok || wait != 30*time.Second {
		t.Errorf("Allow() after 3 failures = %v, %s; want refused for 30s", ok, wait)
	}
	if ok, _ := th.Allow("10.0.0.6"); !ok {
		t.Errorf("another client is refused")
	}
	clk.Add(30 * time.Second) // the first failure is a minute old
	if ok, _ := th.Allow("10.0.0.5"); !ok {
		t.Errorf("Allow() once the first failure left the window = false, want true")
	}
	th.Fail("10.0.0.5")
	if ok, _ := th.Allow("10.0.0.5"); ok {
		t.Errorf("Allow() after a new failure in a full window = true, want false")
	}
	th.Succeed("10.0.0.5")
	if ok, _ := th.Allow("10.0.0.5"); !ok {
		t.Errorf("Allow() after Succeed = false, want true")
	}
}

func TestThrottleBounded(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)}
	th := NewThrottle(1, time.Hour, clk.Now)
	th.Fail("first")
	for i := range maxClients + 10 {
		clk.Add(time.Millisecond)
		th.Fail(fmt.Sprint("client-", i))
	}
	if n := len(th.failures); n > maxClients {
		t.Errorf("throttle holds %d clients, want at most %d", n, maxClients)
	}
	if ok, _ := th.Allow("first"); !ok {
		t.Errorf("the oldest client was not the one evicted")
	}
	if ok, _ := th.Allow(fmt.Sprint("client-", maxClients+9)); ok {
		t.Errorf("the newest client was evicted")
	}
}
