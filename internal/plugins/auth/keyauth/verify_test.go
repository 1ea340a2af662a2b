package keyauth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/store"
)

func TestVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := newMemStore()
	if err := m.CreateConsumer(ctx, store.Consumer{ID: "acme", Plan: "gold"}); err != nil {
		t.Fatal(err)
	}
	plain, k, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	k.ConsumerID = "acme"
	if err := m.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	revokedPlain, rk, _ := Generate()
	rk.ConsumerID = "acme"
	m.CreateKey(ctx, rk)
	m.RevokeKey(ctx, "acme", rk.ID)
	otherPlain, ok, _ := Generate()
	ok.ConsumerID = "acme"
	wrongHash := append([]byte(nil), ok.Hash...)
	wrongHash[0] ^= 1

	tests := []struct {
		name    string
		key     string
		down    bool
		hook    func([]byte) (store.APIKey, store.Consumer, error)
		wantID  string
		wantErr error
	}{
		{name: "live key", key: plain, wantID: k.ID},
		{name: "unknown key", key: "gk_nope", wantErr: ErrInvalidKey},
		{name: "empty", key: "", wantErr: ErrInvalidKey},
		{name: "too long", key: string(make([]byte, maxKeyLen+1)), wantErr: ErrInvalidKey},
		{name: "revoked key", key: revokedPlain, wantErr: ErrInvalidKey},
		{name: "storage down", key: plain, down: true, wantErr: ErrStorageUnavailable},
		{name: "store answers another key", key: otherPlain, hook: func([]byte) (store.APIKey, store.Consumer, error) {
			return store.APIKey{ID: "x", Hash: wrongHash}, store.Consumer{ID: "acme"}, nil
		}, wantErr: ErrInvalidKey},
		{name: "store answers a revoked row", key: otherPlain, hook: func(h []byte) (store.APIKey, store.Consumer, error) {
			now := time.Now()
			return store.APIKey{ID: "x", Hash: h, RevokedAt: &now}, store.Consumer{ID: "acme"}, nil
		}, wantErr: ErrInvalidKey},
	}
	for _, tt := range tests {
		m.down.Store(tt.down)
		m.lookupHook = tt.hook
		gotK, gotC, err := Verify(ctx, m, tt.key)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: Verify() error = %v, want %v", tt.name, err, tt.wantErr)
			continue
		}
		if tt.wantErr == nil && (gotK.ID != tt.wantID || gotC.ID != "acme" || gotC.Plan != "gold") {
			t.Errorf("%s: Verify() = key %q consumer %+v, want key %q of acme (gold)", tt.name, gotK.ID, gotC, tt.wantID)
		}
	}
}
