package ratelimit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/counter"
	"github.com/gantry-dev/gantry/internal/pipeline"
)

// TestPlanRequest: what PlanRequest reads is what the limiter charges, on
// a route with a limit of its own as on one without, and Admit reads it
// without taking anything.
func TestPlanRequest(t *testing.T) {
	t.Parallel()
	plans := map[string]*config.Plan{
		"gold":  {RateLimit: &config.RateLimit{Requests: 10, Per: config.Duration(time.Hour), Burst: 10}, Quota: &config.Quota{Requests: 50, Per: "day"}},
		"quota": {Quota: &config.Quota{Requests: 7, Per: "month"}},
		"bare":  {},
	}
	tests := []struct {
		name          string
		plan          string
		limit         *config.RateLimit
		served        int
		wantBuckets   int
		wantBucketRem int64
		wantQuotaRem  int64
	}{
		{name: "plan limit and quota, route limit too", plan: "gold", limit: &config.RateLimit{Requests: 1000, Per: config.Duration(time.Second), Burst: 1000, Key: "consumer"}, served: 3, wantBuckets: 1, wantBucketRem: 7, wantQuotaRem: 47},
		{name: "plan limit and quota only", plan: "gold", served: 4, wantBuckets: 1, wantBucketRem: 6, wantQuotaRem: 46},
		{name: "quota only", plan: "quota", served: 2, wantQuotaRem: 5},
		{name: "neither", plan: "bare", served: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := counter.NewMemory(counter.MemoryOptions{})
			defer m.Close()
			mw, err := New(Config{Counter: m, Route: "orders", Limit: tt.limit, Plans: plans})
			if err != nil {
				t.Fatal(err)
			}
			h := mw(pipeline.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }))
			for range tt.served {
				x := pipeline.Exchange{ClientIP: "203.0.113.1", Consumer: &pipeline.Consumer{ID: "acme", Plan: tt.plan}}
				r := httptest.NewRequest(http.MethodGet, "/orders/7", nil)
				if err := h.ServeHTTP(httptest.NewRecorder(), r.WithContext(pipeline.WithExchange(r.Context(), &x))); err != nil {
					t.Fatal(err)
				}
			}
			req := PlanRequest(tt.plan, plans[tt.plan], "acme")
			if req.N != tt.wantBuckets {
				t.Fatalf("PlanRequest has %d buckets, want %d", req.N, tt.wantBuckets)
			}
			for range 2 { // Admit takes nothing: twice, the same answer.
				d := m.Admit(context.Background(), req)
				if tt.wantBuckets > 0 && d.Buckets[0].Remaining != tt.wantBucketRem {
					t.Errorf("bucket remaining = %d, want %d", d.Buckets[0].Remaining, tt.wantBucketRem)
				}
				if req.Quota.Limit > 0 && d.Quota.Remaining != tt.wantQuotaRem {
					t.Errorf("quota remaining = %d, want %d", d.Quota.Remaining, tt.wantQuotaRem)
				}
			}
		})
	}
	if req := PlanRequest("none", nil, "acme"); req.N != 0 || req.Quota.Limit != 0 {
		t.Errorf("PlanRequest(nil plan) = %+v, want empty", req)
	}
}
