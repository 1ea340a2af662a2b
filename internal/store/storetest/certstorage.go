package storetest

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// RunCertStorage checks a certmagic.Storage kept in the database. open
// returns two storages on one new, empty database through two stores, as
// two nodes would have, whose locks last lease unless renewed, and a
// function that closes a's store the way a node that dies would leave it.
func RunCertStorage(t *testing.T, open func(t *testing.T, lease time.Duration) (a, b certmagic.Storage, closeA func())) {
	t.Helper()
	t.Run("Keys", func(t *testing.T) {
		a, b, _ := open(t, time.Minute)
		certKeys(t, a, b)
	})
	t.Run("List", func(t *testing.T) {
		a, _, _ := open(t, time.Minute)
		certList(t, a)
	})
	t.Run("LockContended", func(t *testing.T) {
		a, b, _ := open(t, time.Minute)
		certLockContended(t, a, b)
	})
	t.Run("LockExclusive", func(t *testing.T) {
		a, b, _ := open(t, time.Minute)
		certLockExclusive(t, a, b)
	})
	t.Run("LockRenewed", func(t *testing.T) {
		a, b, _ := open(t, 300*time.Millisecond)
		certLockRenewed(t, a, b)
	})
	t.Run("StaleLock", func(t *testing.T) {
		a, b, closeA := open(t, 300*time.Millisecond)
		certStaleLock(t, a, b, closeA)
	})
}

func mustStore(t *testing.T, s certmagic.Storage, key, value string) {
	t.Helper()
	if err := s.Store(t.Context(), key, []byte(value)); err != nil {
		t.Fatalf("Store(%s): %v", key, err)
	}
}

func certKeys(t *testing.T, a, b certmagic.Storage) {
	ctx := t.Context()
	const key = "certificates/acme-v02/api.example.com/api.example.com.crt"
	if _, err := a.Load(ctx, key); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load() of a missing key = %v, want fs.ErrNotExist", err)
	}
	if a.Exists(ctx, key) {
		t.Error("Exists() of a missing key = true")
	}
	if _, err := a.Stat(ctx, key); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat() of a missing key = %v, want fs.ErrNotExist", err)
	}
	before := time.Now().Add(-time.Second)
	mustStore(t, a, key, "first")
	mustStore(t, a, key, "second pem")
	got, err := b.Load(ctx, key)
	if err != nil || string(got) != "second pem" {
		t.Fatalf("Load() on the other node = %q, %v; want the value stored last", got, err)
	}
	if !b.Exists(ctx, key) {
		t.Error("Exists() of a stored key = false")
	}
	info, err := b.Stat(ctx, key)
	if err != nil {
		t.Fatalf("Stat(): %v", err)
	}
	if info.Key != key || !info.IsTerminal || info.Size != int64(len("second pem")) ||
		info.Modified.Before(before) || info.Modified.After(time.Now().Add(time.Second)) {
		t.Errorf("Stat() = %+v, want the key, terminal, size %d, modified just now", info, len("second pem"))
	}
	dir := "certificates/acme-v02"
	info, err = b.Stat(ctx, dir)
	if err != nil || info.IsTerminal || info.Key != dir {
		t.Errorf("Stat(%s) = %+v, %v; want a non-terminal key", dir, info, err)
	}
	if !b.Exists(ctx, dir) {
		t.Errorf("Exists(%s) = false for a directory", dir)
	}
	if _, err := b.Load(ctx, dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(%s) of a directory = %v, want fs.ErrNotExist", dir, err)
	}
	// A key that only starts like the directory is not in it.
	mustStore(t, a, "certificates/acme-v02x", "other")
	if err := a.Delete(ctx, dir); err != nil {
		t.Fatalf("Delete(%s): %v", dir, err)
	}
	if b.Exists(ctx, key) {
		t.Error("a key below a deleted directory still exists")
	}
	if !b.Exists(ctx, "certificates/acme-v02x") {
		t.Error("Delete() of a directory removed a key beside it")
	}
	if err := a.Delete(ctx, "certificates/acme-v02x"); err != nil || a.Exists(ctx, "certificates/acme-v02x") {
		t.Errorf("Delete() of a key = %v, exists after: %v", err, a.Exists(ctx, "certificates/acme-v02x"))
	}
	if err := a.Delete(ctx, "no/such/key"); err != nil {
		t.Errorf("Delete() of a missing key = %v, want nil", err)
	}
	mustStore(t, a, "empty", "")
	if got, err := a.Load(ctx, "empty"); err != nil || len(got) != 0 {
		t.Errorf("Load() of an empty value = %q, %v", got, err)
	}
}

func certList(t *testing.T, s certmagic.Storage) {
	ctx := t.Context()
	for _, k := range []string{
		"acme/ca/users/a@example.com/a.json",
		"acme/ca/users/a@example.com/a.key",
		"certificates/ca/api.example.com/api.example.com.crt",
		"certificates/ca/api.example.com/api.example.com.key",
		"certificates/ca/www.example.com/www.example.com.crt",
		"certificates/ca.txt",
		"certificatesx/other",
	} {
		mustStore(t, s, k, "v")
	}
	tests := []struct {
		prefix    string
		recursive bool
		want      []string
	}{
		{"certificates", false, []string{"certificates/ca", "certificates/ca.txt"}},
		{"certificates/", false, []string{"certificates/ca", "certificates/ca.txt"}},
		{"certificates/ca", false, []string{"certificates/ca/api.example.com", "certificates/ca/www.example.com"}},
		{"certificates", true, []string{
			"certificates/ca",
			"certificates/ca.txt",
			"certificates/ca/api.example.com",
			"certificates/ca/api.example.com/api.example.com.crt",
			"certificates/ca/api.example.com/api.example.com.key",
			"certificates/ca/www.example.com",
			"certificates/ca/www.example.com/www.example.com.crt",
		}},
		{"", false, []string{"acme", "certificates", "certificatesx"}},
	}
	for _, tt := range tests {
		got, err := s.List(ctx, tt.prefix, tt.recursive)
		if err != nil {
			t.Errorf("List(%q, %v): %v", tt.prefix, tt.recursive, err)
			continue
		}
		slices.Sort(got)
		want := slices.Clone(tt.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("List(%q, %v) = %q, want %q", tt.prefix, tt.recursive, got, want)
		}
	}
	if got, err := s.List(ctx, "nothing", true); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("List() of a missing prefix = %q, %v; want fs.ErrNotExist", got, err)
	}
}

// lockAfter takes name on s in the background and reports when it has it.
func lockAfter(ctx context.Context, s certmagic.Storage, name string) chan error {
	ch := make(chan error, 1)
	go func() { ch <- s.Lock(ctx, name) }()
	return ch
}

func certLockContended(t *testing.T, a, b certmagic.Storage) {
	ctx := t.Context()
	if err := a.Lock(ctx, "issue_cert_api.example.com"); err != nil {
		t.Fatalf("Lock() on a: %v", err)
	}
	// Another name is free.
	if err := b.Lock(ctx, "issue_cert_www.example.com"); err != nil {
		t.Fatalf("Lock() of another name: %v", err)
	}
	if err := b.Unlock(ctx, "issue_cert_www.example.com"); err != nil {
		t.Fatalf("Unlock(): %v", err)
	}
	got := lockAfter(ctx, b, "issue_cert_api.example.com")
	select {
	case err := <-got:
		t.Fatalf("Lock() on b returned %v while a holds the lock", err)
	case <-time.After(500 * time.Millisecond):
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := a.Lock(short, "issue_cert_api.example.com"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock() of a held lock with a deadline = %v, want context.DeadlineExceeded", err)
	}
	if err := a.Unlock(ctx, "issue_cert_api.example.com"); err != nil {
		t.Fatalf("Unlock(): %v", err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("Lock() on b after Unlock: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Lock() on b still blocked 5s after Unlock")
	}
	if err := b.Unlock(ctx, "issue_cert_api.example.com"); err != nil {
		t.Fatalf("Unlock() on b: %v", err)
	}
	if err := b.Unlock(ctx, "issue_cert_api.example.com"); err == nil {
		t.Error("Unlock() of a lock not held = nil, want an error")
	}
}

// certLockRenewed holds a lock for several leases: the holder keeps
// extending it, so the other node waits.
func certLockRenewed(t *testing.T, a, b certmagic.Storage) {
	ctx := t.Context()
	if err := a.Lock(ctx, "renewed"); err != nil {
		t.Fatal(err)
	}
	wait, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := b.Lock(wait, "renewed"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock() of a lock held for three leases = %v, want it to wait", err)
	}
	if err := a.Unlock(ctx, "renewed"); err != nil {
		t.Fatal(err)
	}
}

// certStaleLock: a lock whose holder stopped renewing (a dead node) is
// taken over once its lease ends.
func certStaleLock(t *testing.T, a, b certmagic.Storage, closeA func()) {
	ctx := t.Context()
	// A lock left by a node that died: taken, then its database
	// connections gone, so it is neither renewed nor deleted.
	if err := a.Lock(ctx, "stale"); err != nil {
		t.Fatal(err)
	}
	closeA()
	start := time.Now()
	wait, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := b.Lock(wait, "stale"); err != nil {
		t.Fatalf("Lock() of a stale lock: %v", err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("stale lock taken over after %v, before its lease ran out", d)
	}
	if err := b.Unlock(ctx, "stale"); err != nil {
		t.Fatal(err)
	}
}

// certLockExclusive has goroutines on both nodes take one lock over and
// over: never two holders at once.
func certLockExclusive(t *testing.T, a, b certmagic.Storage) {
	ctx := t.Context()
	var (
		holders atomic.Int32
		overlap atomic.Bool
		wg      sync.WaitGroup
	)
	for i := range 6 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for range 5 {
				if err := s.Lock(ctx, "exclusive"); err != nil {
					t.Errorf("Lock(): %v", err)
					return
				}
				if holders.Add(1) > 1 {
					overlap.Store(true)
				}
				time.Sleep(2 * time.Millisecond)
				holders.Add(-1)
				if err := s.Unlock(ctx, "exclusive"); err != nil {
					t.Errorf("Unlock(): %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if overlap.Load() {
		t.Error("two holders of one lock at once")
	}
}
