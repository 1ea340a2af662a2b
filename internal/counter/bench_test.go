package counter

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// benchRequests returns n requests of distinct identities facing a plan
// bucket, a route bucket and a quota, with rates no benchmark exhausts.
func benchRequests(n int) []Request {
	out := make([]Request, n)
	for i := range out {
		tag := fmt.Sprintf("consumer-%d", i)
		out[i].Add(Bucket{Tag: tag, Name: "p:gold", Rate: Rate{Requests: 1 << 40, Per: time.Second, Burst: 1 << 40}})
		out[i].Add(Bucket{Tag: tag, Name: "r:orders:c", Rate: Rate{Requests: 1 << 40, Per: time.Second, Burst: 1 << 40}})
		out[i].Quota = Quota{Tag: tag, Name: "q:month", Limit: 1 << 60, Per: periodMonth}
	}
	return out
}

// BenchmarkMemoryTake measures one decision in memory: one bucket, and a
// plan bucket plus a route bucket plus a quota; on one identity (one
// shard's lock for everyone) and spread over many.
func BenchmarkMemoryTake(b *testing.B) {
	one := limit("203.0.113.1", 1<<40, time.Second, 1<<40)
	b.Run("bucket", func(b *testing.B) {
		m := NewMemory(MemoryOptions{})
		defer m.Close()
		b.ReportAllocs()
		for b.Loop() {
			m.Take(context.Background(), one)
		}
	})
	b.Run("plan+route+quota", func(b *testing.B) {
		m := NewMemory(MemoryOptions{})
		defer m.Close()
		req := benchRequests(1)[0]
		b.ReportAllocs()
		for b.Loop() {
			m.Take(context.Background(), req)
		}
	})
	for _, n := range []int{1, 1024} {
		b.Run(fmt.Sprintf("parallel/identities=%d", n), func(b *testing.B) {
			m := NewMemory(MemoryOptions{})
			defer m.Close()
			reqs := benchRequests(n)
			var next atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := int(next.Add(1))
				for pb.Next() {
					i++
					if !m.Take(context.Background(), reqs[i%n]).Allowed {
						b.Error("refused")
						return
					}
				}
			})
		})
	}
}

// BenchmarkRedisTake measures a decision through Redis: exact mode is one
// round trip per decision (reported as roundtrips/op); batched mode
// decides from leases and reports the commands it sends per decision.
func BenchmarkRedisTake(b *testing.B) {
	for _, sync := range []Sync{syncExact, syncBatched} {
		name := map[Sync]string{syncExact: "exact", syncBatched: "batched"}[sync]
		b.Run(name, func(b *testing.B) {
			for _, parallel := range []bool{false, true} {
				b.Run(fmt.Sprintf("parallel=%v", parallel), func(b *testing.B) {
					f := newRedisFixture(b)
					client, hook := f.client(b, RedisOptions{Timeout: time.Second, DialTimeout: time.Second})
					c := f.counter(b, RedisOptions{Client: client, Sync: sync})
					reqs := benchRequests(64)
					c.Take(context.Background(), reqs[0]) // loads the script
					trips, cmds := hook.trips.Load(), hook.cmds.Load()
					b.ReportAllocs()
					b.ResetTimer()
					if parallel {
						var next atomic.Int64
						b.RunParallel(func(pb *testing.PB) {
							i := int(next.Add(1))
							for pb.Next() {
								i++
								if d := c.Take(context.Background(), reqs[i%len(reqs)]); !d.Allowed || d.Degraded {
									b.Errorf("decision %+v", d)
									return
								}
							}
						})
					} else {
						i := 0
						for b.Loop() {
							i++
							if d := c.Take(context.Background(), reqs[i%len(reqs)]); !d.Allowed || d.Degraded {
								b.Fatalf("decision %+v", d)
							}
						}
					}
					b.StopTimer()
					b.ReportMetric(float64(hook.trips.Load()-trips)/float64(b.N), "roundtrips/op")
					b.ReportMetric(float64(hook.cmds.Load()-cmds)/float64(b.N), "commands/op")
				})
			}
		})
	}
}
