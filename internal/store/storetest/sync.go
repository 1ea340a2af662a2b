package storetest

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-dev/gantry/internal/store"
)

func testSyncConfig(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	// Rows created through the API that SyncConfig must keep or take over.
	mustCreateConsumer(t, s, store.Consumer{ID: "globex", Plan: "free"})
	mustCreateKey(t, s, store.APIKey{ID: "key_globex", ConsumerID: "globex", Hash: hash("globex")})
	mustCreateConsumer(t, s, store.Consumer{ID: "hooli", Plan: "free"})
	mustCreateKey(t, s, store.APIKey{ID: "key_hooli", ConsumerID: "hooli", Hash: hash("hooli")})
	if err := s.RevokeKey(ctx, "hooli", "key_hooli"); err != nil {
		t.Fatalf("RevokeKey(): %v", err)
	}

	acme := store.Consumer{ID: "acme", Plan: "pro", Groups: []string{"partners"}}
	initech := store.Consumer{ID: "initech", Plan: "free"}
	k1 := store.APIKey{ID: "cfg_acme", ConsumerID: "acme", Hash: hash("acme1")}
	k2 := store.APIKey{ConsumerID: "initech", Prefix: "gk_ini", Hash: hash("initech")}

	t.Run("add", func(t *testing.T) {
		before := head(t, s)
		mustSync(t, s, []store.Consumer{acme, initech}, []store.APIKey{k1, k2})
		c := mustGet(t, s, "acme")
		if c.Source != store.SourceConfig || c.Plan != "pro" || !cmp.Equal(c.Groups, []string{"partners"}) || !recent(c.CreatedAt) {
			t.Errorf("GetConsumer(acme) = %+v, want the config consumer", c)
		}
		k, c, err := s.LookupKey(ctx, k2.Hash)
		if err != nil || c.ID != "initech" || k.Source != store.SourceConfig || k.Prefix != "gk_ini" {
			t.Fatalf("LookupKey(initech key) = %+v of %s, %v", k, c.ID, err)
		}
		if !strings.HasPrefix(k.ID, "cfg_") {
			t.Errorf("key without id got ID %q, want a cfg_ one", k.ID)
		}
		got, _ := changes(t, s, before)
		if !hasConsumerChange(got, "acme") || !hasKeyChange(got, k1.Hash) {
			t.Errorf("Changes() after first sync = %v, want acme and its key", got)
		}
	})
	t.Run("unchanged file records nothing", func(t *testing.T) {
		before := head(t, s)
		// Source and CreatedAt of the arguments do not count as changes.
		a := acme
		a.Source = store.SourceAPI
		mustSync(t, s, []store.Consumer{a, initech}, []store.APIKey{k1, k2})
		if got, _ := changes(t, s, before); len(got) != 0 {
			t.Errorf("Changes() after an identical sync = %v, want none", got)
		}
	})
	t.Run("config rows are read-only", func(t *testing.T) {
		if err := s.DeleteConsumer(ctx, "acme"); !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("DeleteConsumer(acme) = %v, want ErrReadOnly", err)
		}
		if err := s.CreateConsumer(ctx, store.Consumer{ID: "acme"}); !errors.Is(err, store.ErrExists) {
			t.Errorf("CreateConsumer(acme) = %v, want ErrExists", err)
		}
	})

	// An API key on a config consumer, to be removed with it.
	mustCreateKey(t, s, store.APIKey{ID: "key_initech_api", ConsumerID: "initech", Hash: hash("initech-api")})

	t.Run("update, move and remove", func(t *testing.T) {
		before := head(t, s)
		acme2 := store.Consumer{ID: "acme", Plan: "enterprise", Groups: []string{"partners", "beta"}}
		moved := k2
		moved.ConsumerID = "acme"
		mustSync(t, s, []store.Consumer{acme2}, []store.APIKey{k1, moved})

		c := mustGet(t, s, "acme")
		if c.Plan != "enterprise" || !cmp.Equal(c.Groups, []string{"partners", "beta"}) {
			t.Errorf("GetConsumer(acme) = %+v, want enterprise in partners, beta", c)
		}
		if _, c, err := s.LookupKey(ctx, k2.Hash); err != nil || c.ID != "acme" {
			t.Errorf("LookupKey(moved key) = %s, %v; want acme", c.ID, err)
		}
		if _, err := s.GetConsumer(ctx, "initech"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetConsumer(initech) after removal = %v, want ErrNotFound", err)
		}
		if _, _, err := s.LookupKey(ctx, hash("initech-api")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LookupKey(initech api key) after removal = %v, want ErrNotFound", err)
		}
		if c := mustGet(t, s, "globex"); c.Source != store.SourceAPI {
			t.Errorf("API consumer globex = %+v, want it kept", c)
		}
		if _, _, err := s.LookupKey(ctx, hash("globex")); err != nil {
			t.Errorf("LookupKey(globex) = %v, want the API key kept", err)
		}

		got, _ := changes(t, s, before)
		for _, want := range []struct {
			ok   bool
			what string
		}{
			{hasConsumerChange(got, "acme"), "acme's new plan"},
			{hasKeyChange(got, k2.Hash), "the moved key"},
			{hasKeyChange(got, hash("initech-api")), "initech's API key"},
			{hasConsumerChange(got, "initech"), "initech's removal"},
			{!hasKeyChange(got, k1.Hash), "no entry for the unchanged key"},
		} {
			if !want.ok {
				t.Errorf("Changes() after sync: want %s; got %v", want.what, got)
			}
		}
	})
	t.Run("remove a key only", func(t *testing.T) {
		before := head(t, s)
		mustSync(t, s, []store.Consumer{{ID: "acme", Plan: "enterprise", Groups: []string{"partners", "beta"}}}, []store.APIKey{k1})
		if _, _, err := s.LookupKey(ctx, k2.Hash); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LookupKey(removed key) = %v, want ErrNotFound", err)
		}
		got, _ := changes(t, s, before)
		if len(got) != 1 || !hasKeyChange(got, k2.Hash) {
			t.Errorf("Changes() = %v, want just the removed key", got)
		}
	})
	t.Run("file wins over API rows", func(t *testing.T) {
		before := head(t, s)
		// hooli exists through the API and its key was revoked; the file
		// now lists both.
		mustSync(t, s,
			[]store.Consumer{{ID: "acme", Plan: "enterprise", Groups: []string{"partners", "beta"}}, {ID: "hooli", Plan: "pro"}},
			[]store.APIKey{k1, {ID: "ignored", ConsumerID: "hooli", Hash: hash("hooli")}})
		c := mustGet(t, s, "hooli")
		if c.Source != store.SourceConfig || c.Plan != "pro" {
			t.Errorf("GetConsumer(hooli) = %+v, want config consumer on pro", c)
		}
		k, _, err := s.LookupKey(ctx, hash("hooli"))
		if err != nil || k.Source != store.SourceConfig || k.ID != "key_hooli" {
			t.Errorf("LookupKey(hooli) = %+v, %v; want key_hooli live as a config key", k, err)
		}
		got, _ := changes(t, s, before)
		if !hasConsumerChange(got, "hooli") || !hasKeyChange(got, hash("hooli")) {
			t.Errorf("Changes() = %v, want hooli and its key", got)
		}
	})

	invalid := []struct {
		name      string
		consumers []store.Consumer
		keys      []store.APIKey
		wantErr   error
	}{
		{
			name:      "key of an unlisted consumer",
			consumers: []store.Consumer{acme},
			keys:      []store.APIKey{{ConsumerID: "globex", Hash: hash("x")}},
			wantErr:   store.ErrNotFound,
		},
		{name: "consumer listed twice", consumers: []store.Consumer{acme, acme}},
		{name: "empty consumer id", consumers: []store.Consumer{{Plan: "pro"}}},
		{
			name:      "key listed twice",
			consumers: []store.Consumer{acme},
			keys:      []store.APIKey{{ConsumerID: "acme", Hash: hash("x")}, {ConsumerID: "acme", Hash: hash("x")}},
		},
		{name: "key without hash", consumers: []store.Consumer{acme}, keys: []store.APIKey{{ConsumerID: "acme"}}},
		{
			name:      "key id taken by an API key",
			consumers: []store.Consumer{acme},
			keys:      []store.APIKey{{ID: "key_globex", ConsumerID: "acme", Hash: hash("y")}},
			wantErr:   store.ErrExists,
		},
	}
	for _, tt := range invalid {
		t.Run("invalid/"+tt.name, func(t *testing.T) {
			before := head(t, s)
			list, _ := s.ListConsumers(ctx)
			err := s.SyncConfig(ctx, tt.consumers, tt.keys)
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("SyncConfig() = %v, want an error (%v)", err, tt.wantErr)
			}
			// All or nothing.
			if h := head(t, s); h != before {
				t.Errorf("failed SyncConfig moved the change feed from %d to %d", before, h)
			}
			after, _ := s.ListConsumers(ctx)
			if diff := cmp.Diff(list, after); diff != "" {
				t.Errorf("failed SyncConfig changed consumers (-before +after):\n%s", diff)
			}
		})
	}

	t.Run("empty file removes every config row", func(t *testing.T) {
		mustSync(t, s, nil, nil)
		list, err := s.ListConsumers(ctx)
		if err != nil {
			t.Fatalf("ListConsumers(): %v", err)
		}
		var ids []string
		for _, c := range list {
			ids = append(ids, c.ID)
		}
		if diff := cmp.Diff([]string{"globex"}, ids); diff != "" {
			t.Errorf("ListConsumers() after an empty sync (-want +got):\n%s", diff)
		}
	})
}
