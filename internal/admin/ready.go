package admin

import (
	"context"
	"errors"
	"fmt"
	"github.com/gantry-dev/gantry/internal/apijson"
	"net/http"
	"sync"
	"time"
)

// Readiness describes the dependencies /readyz reports on.
type Readiness struct {
	// StorageDriver is storage.driver (sqlite, postgres), the name under
	// which an unreachable Store is listed.
	StorageDriver string
	// CountersDriver is counters.driver: only redis counters can be
	// unreachable.
	CountersDriver string
	// CountersDeny is counters.on_failure: deny. Unreachable counters then
	// refuse every rate-limited request, so the node is not ready; with
	// allow they only degrade it.
	CountersDeny bool
	// Usage, when set, reports usage counts held in memory because the
	// ledger cannot be written (*usage.Meter).
	Usage interface {
		Buffering() bool
		Pending() int
	}
}

// readyTimeout bounds each dependency check, so that /readyz answers well
// within a load balancer's probe timeout (Kubernetes: 1s) even when a
// dependency does not answer at all.
const readyTimeout = 800 * time.Millisecond

// readiness is the body of /readyz. Status and Reason are the fields
// /readyz has always had; Degraded lists the dependencies that are down
// while the node still serves as configured.
type readiness struct {
	Status   string        `json:"status"`
	Reason   string        `json:"reason,omitempty"`
	Degraded []degradation `json:"degraded,omitempty"`
}

type degradation struct {
	// Dependency is what is down, as the operator runs it: redis,
	// postgres, sqlite.
	Dependency string `json:"dependency"`
	// Component is what the gateway uses it for: counters, storage,
	// usage.
	Component string `json:"component"`
	Reason    string `json:"reason"`
}

// ready answers 503 only when this node cannot serve as configured: no
// configuration, shutting down, or a dependency down whose documented
// fallback is to refuse (counters with on_failure: deny). A dependency
// down whose fallback serves on (storage, counters with on_failure: allow,
// usage held in memory) leaves it 200 and is listed as degraded: a load
// balancer must not take every node out for an outage they all share and
// all ride out.
func (a *api) ready(w http.ResponseWriter, r *http.Request) {
	if !a.gw.Ready() {
		reason := "no configuration loaded"
		if a.gw.Draining() {
			reason = "shutting down"
		}
		apijson.Write(w, http.StatusServiceUnavailable, readiness{Status: "not ready", Reason: reason})
		return
	}
	storeErr, countersErr := a.pingDependencies(r.Context())
	var body readiness
	status := http.StatusOK
	if countersErr != nil {
		if a.readiness.CountersDeny {
			status = http.StatusServiceUnavailable
			body.Reason = "counters unreachable and counters.on_failure is deny: rate-limited requests are refused"
		} else {
			body.Degraded = append(body.Degraded, degradation{Dependency: orDefault(a.readiness.CountersDriver, "redis"), Component: "counters",
				Reason: "counters unreachable; counters.on_failure is allow: requests pass without rate limits or quotas"})
		}
	}
	if storeErr != nil {
		body.Degraded = append(body.Degraded, degradation{Dependency: orDefault(a.readiness.StorageDriver, "storage"), Component: "storage",
			Reason: "storage unreachable; cached API keys still work, keys not seen before get 503 storage_unavailable"})
	}
	if u := a.readiness.Usage; u != nil && u.Buffering() {
		body.Degraded = append(body.Degraded, degradation{Dependency: orDefault(a.readiness.StorageDriver, "storage"), Component: "usage",
			Reason: fmt.Sprintf("usage cannot be written to storage; %d buckets held in memory", u.Pending())})
	}
	body.Status = "ready"
	if status != http.StatusOK {
		body.Status = "not ready"
	}
	if storeErr != nil || countersErr != nil {
		a.log.Debug("readiness: dependency unreachable", "storage_error", errString(storeErr), "counters_error", errString(countersErr))
	}
	apijson.Write(w, status, body)
}

// pingDependencies checks the storage and the counters at once, each
// within readyTimeout.
func (a *api) pingDependencies(ctx context.Context) (storeErr, countersErr error) {
	var wg sync.WaitGroup
	if a.store != nil {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, readyTimeout)
			defer cancel()
			storeErr = a.store.Ping(ctx)
		})
	}
	if a.counters != nil {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, readyTimeout)
			defer cancel()
			countersErr = a.counters.Ping(ctx)
			// Decisions answer on_failure while the breaker is open, even
			// when a ping gets through (it closes with its next probe).
			if u, ok := a.counters.(interface{ Up() bool }); ok && countersErr == nil && !u.Up() {
				countersErr = errBreakerOpen
			}
		})
	}
	wg.Wait()
	return storeErr, countersErr
}

var errBreakerOpen = errors.New("redis answers again, but decisions still use on_failure until the next probe")

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
