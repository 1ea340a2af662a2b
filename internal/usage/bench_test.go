package usage

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/store"
)

// nopLedger accepts every write.
type nopLedger struct{}

func (nopLedger) UpsertUsage(context.Context, string, []store.UsageRow) error { return nil }
func (nopLedger) DeleteUsageBefore(context.Context, time.Time) (int64, error) {
	return 0, nil
}

// BenchmarkRecord measures the metering cost of one request: consumers on
// 4 routes, recorded from every P. The clock stands still, so after the
// first pass every bucket exists (the steady state within a minute);
// "new-minute" starts a minute for every record instead. With 10,000
// consumers the 40,000 buckets outgrow the CPU caches, which is most of
// the cost; 100 consumers show the cost with the buckets cached.
func BenchmarkRecord(b *testing.B) {
	for _, consumers := range []int{100, 10_000} {
		routes := []string{"orders-v1", "orders-v2", "users", "completions"}
		recs := make([]Record, consumers*len(routes))
		now := time.Date(2026, 11, 3, 10, 0, 30, 0, time.UTC)
		for i := range recs {
			recs[i] = Record{Time: now, Consumer: fmt.Sprintf("consumer-%05d", i%consumers), Route: routes[i/consumers],
				Version: "v2", Status: 200, Admitted: true, Units: 1, BytesIn: 120, BytesOut: 2400, Latency: 3 * time.Millisecond}
		}
		newMeter := func(b *testing.B) *Meter {
			m, err := New(Options{Ledger: nopLedger{}, Versions: []string{"v2"}, MaxPending: 1 << 30, Now: func() time.Time { return now }})
			if err != nil {
				b.Fatal(err)
			}
			return m
		}
		b.Run(fmt.Sprintf("consumers=%d/parallel", consumers), func(b *testing.B) {
			m := newMeter(b)
			for i := range recs {
				m.Record(&recs[i])
			}
			var worker atomic.Uint64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(worker.Add(1)) * 7919
				for pb.Next() {
					r := recs[i%len(recs)]
					m.Record(&r)
					i++
				}
			})
		})
		b.Run(fmt.Sprintf("consumers=%d/serial", consumers), func(b *testing.B) {
			m := newMeter(b)
			for i := range recs {
				m.Record(&recs[i])
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				m.Record(&recs[i%len(recs)])
				i++
			}
		})
		b.Run(fmt.Sprintf("consumers=%d/new-minute", consumers), func(b *testing.B) {
			m := newMeter(b)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r := recs[i%len(recs)]
				r.Time = now.Add(time.Duration(i/len(recs)) * time.Minute)
				m.Record(&r)
				i++
			}
		})
	}
}

// BenchmarkFromExchange measures building a Record from a finished request.
func BenchmarkFromExchange(b *testing.B) {
	x := &pipeline.Exchange{Start: time.Now(), RouteName: "orders-v2", Version: "v2", Status: 200, Admitted: true,
		Consumer: &pipeline.Consumer{ID: "acme", Plan: "pro"}, BytesIn: 120, BytesOut: 2400}
	now := x.Start.Add(3 * time.Millisecond)
	b.ReportAllocs()
	var r Record
	for b.Loop() {
		r = FromExchange(x, now)
	}
	_ = r
}

// BenchmarkFlush measures a flush of 10,000 changed buckets to a ledger
// that costs nothing: the meter's own share of a flush.
func BenchmarkFlush(b *testing.B) {
	now := time.Date(2026, 11, 3, 10, 0, 30, 0, time.UTC)
	m, _ := New(Options{Ledger: nopLedger{}, Now: func() time.Time { return now }})
	recs := make([]Record, 10_000)
	for i := range recs {
		recs[i] = Record{Time: now, Consumer: fmt.Sprintf("consumer-%05d", i), Route: "orders", Status: 200, Admitted: true, Units: 1}
	}
	b.ReportAllocs()
	for b.Loop() {
		for i := range recs {
			m.Record(&recs[i])
		}
		if err := m.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
