package usage

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/store/postgres"
	"github.com/gantry-dev/gantry/internal/store/sqlite"
	"github.com/gantry-dev/gantry/internal/store/storetest"
)

// flakyStore is a real store whose UpsertUsage commits and then, every
// other call while flaky, reports a timeout: the retry must not count twice.
type flakyStore struct {
	store.Store
	flaky atomic.Bool
	calls atomic.Int64
}

func (f *flakyStore) UpsertUsage(ctx context.Context, node string, rows []store.UsageRow) error {
	err := f.Store.UpsertUsage(ctx, node, rows)
	if err == nil && f.flaky.Load() && f.calls.Add(1)%2 == 1 {
		return context.DeadlineExceeded
	}
	return err
}

// TestTwoNodesOneLedger runs two meters, as two gateways, on one database:
// mixed statuses across a minute boundary, flushes that commit and then
// fail, and a shutdown; the report and the invoice must show exactly what
// was recorded.
func TestTwoNodesOneLedger(t *testing.T) {
	tests := []struct {
		name string
		open func(t *testing.T) (store.Store, store.Store)
	}{
		{"sqlite", func(t *testing.T) (store.Store, store.Store) {
			path := filepath.Join(t.TempDir(), "gantry.db")
			return openSQLite(t, path), openSQLite(t, path)
		}},
		{"postgres", func(t *testing.T) (store.Store, store.Store) {
			dsn := storetest.PostgresDSN(t)
			return openPostgres(t, dsn), openPostgres(t, dsn)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := tt.open(t)
			clk := newClock("2026-11-30T23:59:20Z")
			var meters []*Meter
			var stores []*flakyStore
			for i, st := range []store.Store{a, b} {
				fs := &flakyStore{Store: st}
				stores = append(stores, fs)
				meters = append(meters, newMeter(t, Options{Ledger: fs, Now: clk.Now, NodeID: fmt.Sprintf("gw-%d", i)}))
			}
			statuses := []struct {
				status   int
				admitted bool
			}{{200, true}, {201, true}, {404, true}, {500, true}, {502, true}, {401, false}, {429, false}}
			var want store.UsageCounts
			var wg sync.WaitGroup
			var mu sync.Mutex
			for n, m := range meters {
				wg.Go(func() {
					var mine store.UsageCounts
					for i := range 700 {
						s := statuses[i%len(statuses)]
						r := Record{Consumer: "acme", Route: "orders", Status: s.status, Admitted: s.admitted, Units: int64(1 + i%3),
							Time: clk.Now().Add(time.Duration(i%80) * time.Second)} // Half in November, half in December.
						m.Record(&r)
						if r.Time.Before(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) {
							add(&mine, &r)
						}
						if i%100 == 99 {
							stores[n].flaky.Store(i%200 == 99)
							m.Flush(t.Context())
						}
					}
					mu.Lock()
					want.Add(mine)
					mu.Unlock()
				})
			}
			wg.Wait()
			clk.set("2026-12-01T00:01:30Z")
			for _, m := range meters {
				m.Flush(t.Context()) // Some fail after committing.
			}
			for i, m := range meters {
				stores[i].flaky.Store(false)
				if err := m.Close(t.Context()); err != nil {
					t.Fatalf("Close(): %v", err)
				}
			}

			q := store.UsageQuery{Consumer: "acme", From: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), GroupBy: store.GroupByDay}
			for name, st := range map[string]store.Store{"first": a, "second": b} {
				rows, err := Report(t.Context(), st, q)
				if err != nil {
					t.Fatal(err)
				}
				if len(rows) != 1 {
					t.Fatalf("report on the %s store = %+v, want one day", name, rows)
				}
				got := rows[0]
				if got.Period != "2026-11-30" || got.Requests != want.Requests || got.Billable != want.Billable ||
					got.Units != want.Units || got.Errors != want.Errors || got.Admitted != want.Admitted {
					t.Errorf("report on the %s store = %+v, want %+v", name, got, want)
				}
			}
			// The other half is December's.
			q.From, q.To = q.To, q.To.AddDate(0, 1, 0)
			rows, err := Report(t.Context(), a, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 1 || rows[0].Requests+want.Requests != 1400 {
				t.Errorf("December report = %+v, want the other %d of 1400 requests", rows, 1400-want.Requests)
			}
		})
	}
}

func openSQLite(t *testing.T, path string) store.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openPostgres(t *testing.T, dsn string) store.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
