package export

import (
	"fmt"
	"testing"
)

// BenchmarkEnqueue measures spooling a batch: encoding, checksums, one
// write and one fsync. The receiver is never contacted.
func BenchmarkEnqueue(b *testing.B) {
	for _, n := range []int{1, 500} {
		evs := events(0, n)
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			e := benchExporter(b)
			b.ReportAllocs()
			for b.Loop() {
				if err := e.Enqueue(evs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
		})
		b.Run(fmt.Sprintf("events=%d/parallel", n), func(b *testing.B) {
			e := benchExporter(b)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := e.Enqueue(evs); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkEncode is Enqueue without the disk: the CPU cost per event.
func BenchmarkEncode(b *testing.B) {
	evs := events(0, 500)
	enc := newEncoder()
	b.ReportAllocs()
	for b.Loop() {
		enc.buf.Reset()
		for i := range evs {
			if err := enc.add(&evs[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}

func benchExporter(b *testing.B) *Exporter {
	b.Helper()
	e, err := New(Options{URL: "http://127.0.0.1:1/api/v1/events", SpoolDir: b.TempDir(), MaxSpoolBytes: 4 << 30})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		e.sp.stopAppends()
		_ = e.sp.close()
	})
	return e
}
