package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gantry-dev/gantry/internal/store"
)

func testKeys(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	mustCreateConsumer(t, s, store.Consumer{ID: "acme", Plan: "pro", Groups: []string{"partners"}})
	mustCreateConsumer(t, s, store.Consumer{ID: "globex"})
	created := time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)

	tests := []struct {
		name    string
		in      store.APIKey
		wantErr error
		anyErr  bool
	}{
		{name: "first", in: store.APIKey{ID: "key_a", ConsumerID: "acme", Prefix: "gk_a1b2", Hash: hash("a"), CreatedAt: created}},
		{name: "second", in: store.APIKey{ID: "key_b", ConsumerID: "acme", Prefix: "gk_c3d4", Hash: hash("b"), CreatedAt: created.Add(time.Second)}},
		{name: "other consumer", in: store.APIKey{ID: "key_c", ConsumerID: "globex", Prefix: "gk_e5f6", Hash: hash("c")}},
		{name: "unknown consumer", in: store.APIKey{ID: "key_d", ConsumerID: "hooli", Hash: hash("d")}, wantErr: store.ErrNotFound},
		{name: "taken id", in: store.APIKey{ID: "key_a", ConsumerID: "acme", Hash: hash("e")}, wantErr: store.ErrExists},
		{name: "taken hash", in: store.APIKey{ID: "key_f", ConsumerID: "globex", Hash: hash("a")}, wantErr: store.ErrExists},
		{name: "empty hash", in: store.APIKey{ID: "key_g", ConsumerID: "acme"}, anyErr: true},
		{name: "empty id", in: store.APIKey{ConsumerID: "acme", Hash: hash("h")}, anyErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := head(t, s)
			err := s.CreateKey(ctx, tt.in)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("CreateKey(%s) = %v, want %v", tt.in.ID, err, tt.wantErr)
				}
			case tt.anyErr:
				if err == nil || errors.Is(err, store.ErrExists) || errors.Is(err, store.ErrNotFound) {
					t.Fatalf("CreateKey(%s) = %v, want a validation error", tt.in.ID, err)
				}
			case err != nil:
				t.Fatalf("CreateKey(%s): %v", tt.in.ID, err)
			default:
				// A new key is announced, for nodes caching unknown keys.
				if got, _ := changes(t, s, before); !hasKeyChange(got, tt.in.Hash) {
					t.Errorf("Changes() after CreateKey = %v, want the new key", got)
				}
				return
			}
			if h := head(t, s); h != before {
				t.Errorf("failed CreateKey moved the change feed from %d to %d", before, h)
			}
		})
	}

	t.Run("list", func(t *testing.T) {
		got, err := s.ListKeys(ctx, "acme")
		if err != nil {
			t.Fatalf("ListKeys(acme): %v", err)
		}
		want := []store.APIKey{
			{ID: "key_a", ConsumerID: "acme", Prefix: "gk_a1b2", Hash: hash("a"), Source: store.SourceAPI, CreatedAt: created},
			{ID: "key_b", ConsumerID: "acme", Prefix: "gk_c3d4", Hash: hash("b"), Source: store.SourceAPI, CreatedAt: created.Add(time.Second)},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ListKeys(acme) mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("list of a consumer without keys", func(t *testing.T) {
		mustCreateConsumer(t, s, store.Consumer{ID: "initech"})
		got, err := s.ListKeys(ctx, "initech")
		if err != nil || got == nil || len(got) != 0 {
			t.Errorf("ListKeys(initech) = %#v, %v; want an empty list", got, err)
		}
	})
	t.Run("list of unknown consumer", func(t *testing.T) {
		if _, err := s.ListKeys(ctx, "hooli"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ListKeys(hooli) = %v, want ErrNotFound", err)
		}
	})
	t.Run("lookup", func(t *testing.T) {
		k, c, err := s.LookupKey(ctx, hash("c"))
		if err != nil {
			t.Fatalf("LookupKey(c): %v", err)
		}
		wantK := store.APIKey{ID: "key_c", ConsumerID: "globex", Prefix: "gk_e5f6", Hash: hash("c"), Source: store.SourceAPI}
		if diff := cmp.Diff(wantK, k, cmpopts.IgnoreFields(store.APIKey{}, "CreatedAt")); diff != "" || !recent(k.CreatedAt) {
			t.Errorf("LookupKey(c) key mismatch (-want +got):\n%s(created %v)", diff, k.CreatedAt)
		}
		wantC := store.Consumer{ID: "globex", Groups: []string{}, Source: store.SourceAPI}
		if diff := cmp.Diff(wantC, c, cmpopts.IgnoreFields(store.Consumer{}, "CreatedAt")); diff != "" {
			t.Errorf("LookupKey(c) consumer mismatch (-want +got):\n%s", diff)
		}
		_, c, err = s.LookupKey(ctx, hash("a"))
		if err != nil || c.ID != "acme" || c.Plan != "pro" || !cmp.Equal(c.Groups, []string{"partners"}) {
			t.Errorf("LookupKey(a) = %+v, %v; want acme on pro in partners", c, err)
		}
	})
	t.Run("lookup unknown", func(t *testing.T) {
		for _, h := range [][]byte{hash("zzz"), nil, hash("a")[:16]} {
			if _, _, err := s.LookupKey(ctx, h); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("LookupKey(%x) = %v, want ErrNotFound", h, err)
			}
		}
	})
}

func testRevokeKey(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	mustSync(t, s, []store.Consumer{{ID: "acme"}}, []store.APIKey{{ID: "key_cfg", ConsumerID: "acme", Hash: hash("cfg")}})
	mustCreateConsumer(t, s, store.Consumer{ID: "globex"})
	mustCreateKey(t, s, store.APIKey{ID: "key_live", ConsumerID: "globex", Hash: hash("live")})
	mustCreateKey(t, s, store.APIKey{ID: "key_api_on_cfg", ConsumerID: "acme", Hash: hash("api")})

	tests := []struct {
		name       string
		consumer   string
		key        string
		wantErr    error
		wantChange []byte
	}{
		{name: "another consumer's key", consumer: "acme", key: "key_live", wantErr: store.ErrNotFound},
		{name: "unknown key", consumer: "globex", key: "key_nope", wantErr: store.ErrNotFound},
		{name: "unknown consumer", consumer: "hooli", key: "key_live", wantErr: store.ErrNotFound},
		{name: "config key", consumer: "acme", key: "key_cfg", wantErr: store.ErrReadOnly},
		{name: "api key", consumer: "globex", key: "key_live", wantChange: hash("live")},
		{name: "again", consumer: "globex", key: "key_live"},
		{name: "api key of a config consumer", consumer: "acme", key: "key_api_on_cfg", wantChange: hash("api")},
	}
	var revokedAt time.Time
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := head(t, s)
			if err := s.RevokeKey(ctx, tt.consumer, tt.key); !errors.Is(err, tt.wantErr) {
				t.Fatalf("RevokeKey(%s, %s) = %v, want %v", tt.consumer, tt.key, err, tt.wantErr)
			}
			got, _ := changes(t, s, before)
			if tt.wantChange == nil {
				if len(got) != 0 {
					t.Errorf("RevokeKey(%s, %s) recorded %v, want no change", tt.consumer, tt.key, got)
				}
				return
			}
			if !hasKeyChange(got, tt.wantChange) {
				t.Errorf("Changes() after RevokeKey = %v, want key %x", got, tt.wantChange)
			}
			if _, _, err := s.LookupKey(ctx, tt.wantChange); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("LookupKey() right after RevokeKey = %v, want ErrNotFound", err)
			}
		})
	}

	t.Run("listed as revoked", func(t *testing.T) {
		keys, err := s.ListKeys(ctx, "globex")
		if err != nil || len(keys) != 1 || keys[0].RevokedAt == nil {
			t.Fatalf("ListKeys(globex) = %+v, %v; want key_live revoked", keys, err)
		}
		revokedAt = *keys[0].RevokedAt
		if !recent(revokedAt) {
			t.Errorf("RevokedAt = %v, want about now in UTC", revokedAt)
		}
		// The second revocation kept the first time.
		if err := s.RevokeKey(ctx, "globex", "key_live"); err != nil {
			t.Fatalf("RevokeKey() again: %v", err)
		}
		keys, _ = s.ListKeys(ctx, "globex")
		if !keys[0].RevokedAt.Equal(revokedAt) {
			t.Errorf("RevokedAt after a second revoke = %v, want %v", keys[0].RevokedAt, revokedAt)
		}
	})
	t.Run("config key still live", func(t *testing.T) {
		if _, _, err := s.LookupKey(ctx, hash("cfg")); err != nil {
			t.Errorf("LookupKey(cfg) = %v, want the config key", err)
		}
	})
}
