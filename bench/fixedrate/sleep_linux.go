package fixedrate

import (
	"syscall"
	"time"
)

// sleepUntil blocks until t with the kernel's timer precision (tens of
// microseconds). time.Sleep would wait in the runtime's network poller,
// which rounds a wait under 1 ms up to 1 ms: at 2,000 requests a second
// that jitter would be as large as the latencies being measured.
func sleepUntil(t time.Time) {
	for {
		d := time.Until(t)
		if d <= 0 {
			return
		}
		ts := syscall.NsecToTimespec(int64(d))
		if err := syscall.Nanosleep(&ts, nil); err == nil {
			return
		}
		// EINTR (the runtime's preemption signal): sleep the rest.
	}
}
