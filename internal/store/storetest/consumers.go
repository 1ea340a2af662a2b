package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-dev/gantry/internal/store"
)

func testConsumers(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	created := time.Date(2026, 11, 3, 9, 30, 15, 123456000, time.UTC)

	tests := []struct {
		name    string
		in      store.Consumer
		want    store.Consumer // CreatedAt checked with recent() when zero
		wantErr error
		anyErr  bool
	}{
		{
			name: "plan and groups",
			in:   store.Consumer{ID: "acme", Plan: "pro", Groups: []string{"partners", "beta"}},
			want: store.Consumer{ID: "acme", Plan: "pro", Groups: []string{"partners", "beta"}, Source: store.SourceAPI},
		},
		{
			name: "no groups reads back as an empty list",
			in:   store.Consumer{ID: "globex"},
			want: store.Consumer{ID: "globex", Groups: []string{}, Source: store.SourceAPI},
		},
		{
			name: "given creation time kept",
			in:   store.Consumer{ID: "initech", Plan: "free", Groups: []string{}, CreatedAt: created.In(time.FixedZone("CET", 3600))},
			want: store.Consumer{ID: "initech", Plan: "free", Groups: []string{}, Source: store.SourceAPI, CreatedAt: created},
		},
		{
			name:    "taken id",
			in:      store.Consumer{ID: "acme", Plan: "free"},
			wantErr: store.ErrExists,
		},
		{
			name:   "empty id",
			in:     store.Consumer{Plan: "free"},
			anyErr: true,
		},
		{
			name:   "unknown source",
			in:     store.Consumer{ID: "umbrella", Source: "ldap"},
			anyErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.CreateConsumer(ctx, tt.in)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("CreateConsumer(%+v) = %v, want %v", tt.in, err, tt.wantErr)
				}
				return
			case tt.anyErr:
				if err == nil || errors.Is(err, store.ErrExists) {
					t.Fatalf("CreateConsumer(%+v) = %v, want a validation error", tt.in, err)
				}
				return
			case err != nil:
				t.Fatalf("CreateConsumer(%+v): %v", tt.in, err)
			}
			got := mustGet(t, s, tt.in.ID)
			if tt.want.CreatedAt.IsZero() {
				if !recent(got.CreatedAt) {
					t.Errorf("CreatedAt = %v, want about now in UTC", got.CreatedAt)
				}
				got.CreatedAt = time.Time{}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("GetConsumer(%s) mismatch (-want +got):\n%s", tt.in.ID, diff)
			}
		})
	}

	t.Run("missing", func(t *testing.T) {
		if _, err := s.GetConsumer(ctx, "hooli"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetConsumer(hooli) = %v, want ErrNotFound", err)
		}
	})
	t.Run("list sorted by id", func(t *testing.T) {
		list, err := s.ListConsumers(ctx)
		if err != nil {
			t.Fatalf("ListConsumers(): %v", err)
		}
		var ids []string
		for _, c := range list {
			ids = append(ids, c.ID)
		}
		if diff := cmp.Diff([]string{"acme", "globex", "initech"}, ids); diff != "" {
			t.Errorf("ListConsumers() ids mismatch (-want +got):\n%s", diff)
		}
		if list[0].Plan != "pro" || len(list[0].Groups) != 2 {
			t.Errorf("ListConsumers()[0] = %+v, want acme on pro in 2 groups", list[0])
		}
	})
	t.Run("list empty", func(t *testing.T) {
		list, err := open(t).ListConsumers(ctx)
		if err != nil || len(list) != 0 {
			t.Errorf("ListConsumers() on an empty store = %v, %v; want none", list, err)
		}
	})
	t.Run("ping", func(t *testing.T) {
		if err := s.Ping(ctx); err != nil {
			t.Errorf("Ping() = %v", err)
		}
	})
}

func testDeleteConsumer(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	mustSync(t, s, []store.Consumer{{ID: "acme", Plan: "pro"}}, nil)
	mustCreateConsumer(t, s, store.Consumer{ID: "globex", Plan: "free", Groups: []string{"trial"}})
	mustCreateKey(t, s, store.APIKey{ID: "key_one", ConsumerID: "globex", Prefix: "gk_one", Hash: hash("one")})
	mustCreateKey(t, s, store.APIKey{ID: "key_two", ConsumerID: "globex", Prefix: "gk_two", Hash: hash("two")})
	mustCreateKey(t, s, store.APIKey{ID: "key_old", ConsumerID: "globex", Prefix: "gk_old", Hash: hash("old")})
	if err := s.RevokeKey(ctx, "globex", "key_old"); err != nil {
		t.Fatalf("RevokeKey(): %v", err)
	}

	tests := []struct {
		name    string
		id      string
		wantErr error
	}{
		{name: "missing", id: "hooli", wantErr: store.ErrNotFound},
		{name: "config consumer", id: "acme", wantErr: store.ErrReadOnly},
		{name: "api consumer with keys", id: "globex"},
		{name: "already deleted", id: "globex", wantErr: store.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := head(t, s)
			err := s.DeleteConsumer(ctx, tt.id)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("DeleteConsumer(%s) = %v, want %v", tt.id, err, tt.wantErr)
			}
			if tt.wantErr != nil {
				if h := head(t, s); h != before {
					t.Errorf("failed DeleteConsumer(%s) moved the change feed from %d to %d", tt.id, before, h)
				}
				return
			}
			if _, err := s.GetConsumer(ctx, tt.id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("GetConsumer(%s) after delete = %v, want ErrNotFound", tt.id, err)
			}
			if _, err := s.ListKeys(ctx, tt.id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("ListKeys(%s) after delete = %v, want ErrNotFound", tt.id, err)
			}
			got, _ := changes(t, s, before)
			for _, k := range []string{"one", "two", "old"} {
				if _, _, err := s.LookupKey(ctx, hash(k)); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("LookupKey(%s) after delete = %v, want ErrNotFound", k, err)
				}
				if !hasKeyChange(got, hash(k)) {
					t.Errorf("Changes() after delete lack key %s: %v", k, got)
				}
			}
			if !hasConsumerChange(got, tt.id) {
				t.Errorf("Changes() after delete lack consumer %s: %v", tt.id, got)
			}
		})
	}

	t.Run("id reusable and old keys stay gone", func(t *testing.T) {
		mustCreateConsumer(t, s, store.Consumer{ID: "globex"})
		keys, err := s.ListKeys(ctx, "globex")
		if err != nil || len(keys) != 0 {
			t.Errorf("ListKeys(globex) of the new consumer = %v, %v; want none", keys, err)
		}
		mustCreateKey(t, s, store.APIKey{ID: "key_one", ConsumerID: "globex", Hash: hash("one")})
	})
}
