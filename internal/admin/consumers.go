package admin

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/gantry-dev/gantry/internal/apijson"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/plugins/auth/keyauth"
	"github.com/gantry-dev/gantry/internal/store"
)

type consumerBody struct {
	ID     string   `json:"id"`
	Plan   string   `json:"plan"`
	Groups []string `json:"groups"`
}

type consumerView struct {
	store.Consumer
	Keys []store.APIKey `json:"keys"`
}

func (a *api) createConsumer(w http.ResponseWriter, r *http.Request) {
	var b consumerBody
	if !decodeBody(w, r, &b) {
		return
	}
	if b.Groups == nil {
		b.Groups = []string{}
	}
	var plans map[string]*config.Plan
	if b.Plan != "" {
		plans = a.currentPlans()
	}
	if err := config.CheckNewConsumer(plans, b.ID, b.Plan, b.Groups); err != nil {
		apijson.Error(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	c := store.Consumer{ID: b.ID, Plan: b.Plan, Groups: b.Groups, Source: store.SourceAPI}
	if err := a.store.CreateConsumer(r.Context(), c); err != nil {
		a.storeError(w, err)
		return
	}
	c, err := a.store.GetConsumer(r.Context(), b.ID)
	if err != nil {
		a.storeError(w, err)
		return
	}
	apijson.Write(w, http.StatusCreated, consumerView{Consumer: c, Keys: []store.APIKey{}})
}

func (a *api) listConsumers(w http.ResponseWriter, r *http.Request) {
	cs, err := a.store.ListConsumers(r.Context())
	if err != nil {
		a.storeError(w, err)
		return
	}
	if cs == nil {
		cs = []store.Consumer{}
	}
	apijson.Write(w, http.StatusOK, map[string]any{"consumers": cs})
}

func (a *api) getConsumer(w http.ResponseWriter, r *http.Request) {
	c, err := a.store.GetConsumer(r.Context(), r.PathValue("id"))
	if err != nil {
		a.storeError(w, err)
		return
	}
	keys, err := a.store.ListKeys(r.Context(), c.ID)
	if err != nil {
		a.storeError(w, err)
		return
	}
	if keys == nil {
		keys = []store.APIKey{}
	}
	apijson.Write(w, http.StatusOK, consumerView{Consumer: c, Keys: keys})
}

func (a *api) deleteConsumer(w http.ResponseWriter, r *http.Request) {
	if err := a.store.DeleteConsumer(r.Context(), r.PathValue("id")); err != nil {
		a.storeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) createKey(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	plain, k, err := keyauth.Generate()
	if err != nil {
		apijson.Error(w, http.StatusInternalServerError, "internal_error", "generating a key failed")
		return
	}
	k.ConsumerID = id
	k.Source = store.SourceAPI
	if err := a.store.CreateKey(r.Context(), k); err != nil {
		a.storeError(w, err)
		return
	}
	// A negative cache entry for this key (someone tried it early) must not
	// delay it.
	a.gw.KeyCreated(k.Hash)
	apijson.Write(w, http.StatusCreated, map[string]any{"id": k.ID, "key": plain, "prefix": k.Prefix, "consumer": id})
}

func (a *api) revokeKey(w http.ResponseWriter, r *http.Request) {
	if err := a.store.RevokeKey(r.Context(), r.PathValue("id"), r.PathValue("key_id")); err != nil {
		a.storeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) storeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		apijson.Error(w, http.StatusNotFound, "not_found", "no such consumer or key")
	case errors.Is(err, store.ErrExists):
		apijson.Error(w, http.StatusConflict, "conflict", "a consumer with this id already exists")
	case errors.Is(err, store.ErrReadOnly):
		apijson.Error(w, http.StatusConflict, "read_only", "this consumer is defined in the config file; change it there")
	default:
		a.log.Error("admin storage call failed", "error", err)
		apijson.Error(w, http.StatusServiceUnavailable, "storage_unavailable", "storage is unavailable")
	}
}

// decodeBody reads a small JSON body strictly.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		apijson.Error(w, http.StatusBadRequest, "bad_request", "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
