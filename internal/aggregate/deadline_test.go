package aggregate

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestDeadline: the aggregate's context ends as context.WithDeadline's
// would, by its deadline, its parent or callOff, and says which, whether
// or not anything waited for it (the timer is armed only then).
func TestDeadline(t *testing.T) {
	t.Parallel()
	const soon, wait = 30 * time.Millisecond, 5 * time.Second
	tests := []struct {
		name string
		// run ends (or not) d, whose parent's cancel is given, and
		// returns the error d must report.
		run func(t *testing.T, d *deadline, cancelParent context.CancelFunc) error
	}{
		{"nothing ends it", func(t *testing.T, d *deadline, _ context.CancelFunc) error {
			return nil
		}},
		{"deadline passes, nothing waits", func(t *testing.T, d *deadline, _ context.CancelFunc) error {
			time.Sleep(2 * soon)
			return context.DeadlineExceeded
		}},
		{"deadline passes while Done is awaited", func(t *testing.T, d *deadline, _ context.CancelFunc) error {
			select {
			case <-d.Done():
			case <-time.After(wait):
				t.Fatal("Done not closed at the deadline")
			}
			return context.DeadlineExceeded
		}},
		{"AfterFunc runs at the deadline", func(t *testing.T, d *deadline, _ context.CancelFunc) error {
			ran := make(chan struct{})
			context.AfterFunc(d, func() { close(ran) })
			select {
			case <-ran:
			case <-time.After(wait):
				t.Fatal("AfterFunc's function did not run at the deadline")
			}
			return context.DeadlineExceeded
		}},
		{"a child with a later timeout ends at the deadline", func(t *testing.T, d *deadline, _ context.CancelFunc) error {
			child, cancel := context.WithTimeout(d, time.Hour)
			defer cancel()
			if got, _ := child.Deadline(); !got.Equal(d.at) {
				t.Errorf("child's Deadline() = %v, want the aggregate's %v", got, d.at)
			}
			select {
			case <-child.Done():
			case <-time.After(wait):
				t.Fatal("child not ended at the deadline")
			}
			return context.DeadlineExceeded
		}},
		{"called off, then the deadline passes", func(t *testing.T, d *deadline, _ context.CancelFunc) error {
			d.callOff()
			<-d.Done()
			time.Sleep(2 * soon)
			return context.Canceled
		}},
		{"the parent ends", func(t *testing.T, d *deadline, cancelParent context.CancelFunc) error {
			cancelParent()
			<-d.Done()
			return context.Canceled
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			parent, cancelParent := context.WithCancel(context.Background())
			defer cancelParent()
			d := newDeadline(parent, time.Now().Add(soon))
			defer d.stop()
			want := tt.run(t, d, cancelParent)
			if err := d.Err(); !errors.Is(err, want) || (want == nil) != (err == nil) {
				t.Errorf("Err() = %v, want %v", err, want)
			}
			if want != nil {
				select {
				case <-d.Done():
				default:
					t.Error("Err() reports an end, Done() is not closed")
				}
			}
		})
	}
}

// TestDeadlineStop: stop ends the context (a call still out is called
// off) and its timer.
func TestDeadlineStop(t *testing.T) {
	t.Parallel()
	d := newDeadline(context.Background(), time.Now().Add(time.Hour))
	d.Done() // arms the timer
	d.stop()
	if err := d.Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("Err() after stop = %v, want context.Canceled", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer == nil || d.timer.Stop() {
		t.Error("the timer was not stopped")
	}
}
