package export

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRejectedBatches(t *testing.T) {
	evs := events(0, 100)
	bad := evs[37].ID
	tests := []struct {
		name         string
		respond      func([]Event) (int, bool, http.Header)
		wantRejected []string
	}{
		{
			name: "one bad event is isolated",
			respond: func(batch []Event) (int, bool, http.Header) {
				if slices.ContainsFunc(batch, func(e Event) bool { return e.ID == bad }) {
					return http.StatusBadRequest, false, nil
				}
				return http.StatusNoContent, true, nil
			},
			wantRejected: []string{bad},
		},
		{
			name: "too large batches are split",
			respond: func(batch []Event) (int, bool, http.Header) {
				if len(batch) > 8 {
					return http.StatusRequestEntityTooLarge, false, nil
				}
				return http.StatusOK, true, nil
			},
		},
		{
			name: "forbidden moves every batch aside",
			respond: func([]Event) (int, bool, http.Header) {
				return http.StatusForbidden, false, nil
			},
			wantRejected: ids(evs),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newReceiver(t)
			r.setRespond(tt.respond)
			dir := t.TempDir()
			var c counters
			e := mustNew(t, testOptions(r.url(), dir, &c))
			if err := e.Enqueue(evs); err != nil {
				t.Fatal(err)
			}
			if err := e.Close(context.Background()); err != nil {
				t.Fatalf("Close() = %v; a refused batch must not block delivery", err)
			}

			var wantSent []string
			for _, id := range ids(evs) {
				if !slices.Contains(tt.wantRejected, id) {
					wantSent = append(wantSent, id)
				}
			}
			if got := r.ids(); !slices.Equal(got, wantSent) {
				t.Errorf("received (-want +got):\n%s", cmp.Diff(wantSent, got))
			}
			if got := c.rejected.Load(); got != int64(len(tt.wantRejected)) {
				t.Errorf("OnRejected total = %d, want %d", got, len(tt.wantRejected))
			}
			if got := rejectedIDs(t, dir); !slices.Equal(got, tt.wantRejected) {
				t.Errorf("rejected.log ids (-want +got):\n%s", cmp.Diff(tt.wantRejected, got))
			}
		})
	}
}

func TestReplayRejected(t *testing.T) {
	r := newReceiver(t)
	r.down(http.StatusUnauthorized)
	dir := t.TempDir()
	var c counters
	e1 := mustNew(t, testOptions(r.url(), dir, &c))
	evs := events(0, 60)
	if err := e1.Enqueue(evs); err != nil {
		t.Fatal(err)
	}
	if err := e1.Close(context.Background()); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if got := rejectedIDs(t, dir); !slices.Equal(got, ids(evs)) {
		t.Fatalf("rejected.log holds %d events, want all %d", len(got), len(evs))
	}

	// The operator fixes the token and hands the file back.
	r.up()
	if err := os.Rename(filepath.Join(dir, rejectedFile), filepath.Join(dir, "replay-1.log")); err != nil {
		t.Fatal(err)
	}
	e2 := mustNew(t, testOptions(r.url(), dir, &c))
	if err := e2.Enqueue(events(60, 5)); err != nil {
		t.Fatal(err)
	}
	if err := e2.Close(context.Background()); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if got, want := r.ids(), ids(events(0, 65)); !slices.Equal(got, want) {
		t.Errorf("received (-want +got):\n%s", cmp.Diff(want, got))
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "replay*")); len(m) != 0 {
		t.Errorf("replay files left: %v", m)
	}
}

// rejectedIDs reads rejected.log back.
func rejectedIDs(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, rejectedFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for line := range bytes.Lines(data) {
		payload, err := decodeRecord(line)
		if err != nil {
			t.Fatalf("rejected.log line %q: %v", line, err)
		}
		var ev Event
		if err := json.Unmarshal(payload, &ev); err != nil {
			t.Fatalf("rejected.log event: %v", err)
		}
		out = append(out, ev.ID)
	}
	return out
}
