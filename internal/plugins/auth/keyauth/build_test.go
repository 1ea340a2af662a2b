package keyauth

import (
	"context"
	"testing"
	"time"
)

// TestBuildTouchesNothing checks that Build reads no storage and starts no
// poller (a plan may be discarded), and that Start starts the change feed.
func TestBuildTouchesNothing(t *testing.T) {
	m := newMemStore()
	a, err := Build(context.Background(), Options{Store: m, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := m.changeReads.Load() + m.lookups.Load(); n != 0 {
		t.Fatalf("Build touched storage %d times, want 0", n)
	}
	a.Close()

	b, err := Build(context.Background(), Options{Store: m, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.Start()
	deadline := time.Now().Add(2 * time.Second)
	for m.changeReads.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Start did not start the change feed within 2s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// buildStarted is Build, then Start.
func buildStarted(ctx context.Context, o Options) (*Authenticator, error) {
	a, err := Build(ctx, o)
	if err != nil {
		return nil, err
	}
	a.Start()
	return a, nil
}
