package portal

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/gantry-dev/gantry/internal/apijson"
	"github.com/gantry-dev/gantry/internal/billing"
	"github.com/gantry-dev/gantry/internal/counter"
	"github.com/gantry-dev/gantry/internal/plugins/auth/keyauth"
	"github.com/gantry-dev/gantry/internal/plugins/ratelimit"
	"github.com/gantry-dev/gantry/internal/route"
	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/usage"
)

// bucketView is a rate_limit or token_limit and what it holds now.
type bucketView struct {
	Amount int64  `json:"amount"`
	Per    string `json:"per"`
	Burst  int64  `json:"burst"`
	// Remaining is what the bucket holds now (a token bucket can be
	// below zero after a long answer); nil when the counters could not
	// be read.
	Remaining *int64 `json:"remaining,omitempty"`
}

// quotaView is a quota or token_quota and what is left of it now.
type quotaView struct {
	Amount   int64     `json:"amount"`
	Per      string    `json:"per"`
	Used     *int64    `json:"used,omitempty"`
	Remain   *int64    `json:"remaining,omitempty"`
	ResetsAt time.Time `json:"resets_at"`
}

type limitsView struct {
	RateLimit  *bucketView `json:"rate_limit,omitempty"`
	Quota      *quotaView  `json:"quota,omitempty"`
	TokenLimit *bucketView `json:"token_limit,omitempty"`
	TokenQuota *quotaView  `json:"token_quota,omitempty"`
	// Degraded is set when the counters could not be read: the limits
	// are shown without what is left of them.
	Degraded bool `json:"degraded,omitempty"`
}

type meView struct {
	Consumer string     `json:"consumer"`
	Plan     string     `json:"plan"`
	Groups   []string   `json:"groups"`
	KeyID    string     `json:"key_id,omitempty"`
	Limits   limitsView `json:"limits"`
}

// me serves GET /portal/api/me: the consumer's plan, its limits and what
// is left of them now, read from the gateway's counters without taking
// anything.
func (p *portal) me(w http.ResponseWriter, r *http.Request, c caller) {
	v := meView{Consumer: c.consumer.ID, Plan: c.consumer.Plan, Groups: c.consumer.Groups, KeyID: c.Credential}
	if v.Groups == nil {
		v.Groups = []string{}
	}
	plan := p.o.Plans()[c.consumer.Plan]
	if plan != nil {
		now := p.o.Now()
		req := ratelimit.PlanRequest(c.consumer.Plan, plan, c.consumer.ID)
		d, read := p.peek(r, req)
		if rl := plan.RateLimit; rl != nil {
			v.Limits.RateLimit = &bucketView{Amount: int64(rl.Requests), Per: rl.Per.String(), Burst: int64(max(rl.Burst, 1))}
			if read {
				v.Limits.RateLimit.Remaining = ptr(max(d.Buckets[0].Remaining, 0))
			}
		}
		if q := plan.Quota; q != nil {
			v.Limits.Quota = quotaOf(q.Requests, q.Per, now, d.Quota, read)
		}
		treq := route.TokenPlanRequest(c.consumer.Plan, plan, c.consumer.ID)
		td, tread := p.peek(r, treq)
		if tl := plan.TokenLimit; tl != nil {
			v.Limits.TokenLimit = &bucketView{Amount: tl.Tokens, Per: tl.Per.String(), Burst: tl.Tokens}
			if tread {
				v.Limits.TokenLimit.Remaining = ptr(td.Buckets[0].Remaining)
			}
		}
		if tq := plan.TokenQuota; tq != nil {
			v.Limits.TokenQuota = quotaOf(tq.Tokens, tq.Per, now, td.Quota, tread)
		}
		v.Limits.Degraded = !read || !tread
	}
	apijson.Write(w, http.StatusOK, v)
}

// peek reads req's buckets and quota with Counter.Admit, which takes
// nothing. It reports false when there are no counters or they could not
// be read; a request with nothing in it is read trivially.
func (p *portal) peek(r *http.Request, req counter.Request) (counter.Decision, bool) {
	if req.N == 0 && req.Quota.Limit == 0 {
		return counter.Decision{}, true
	}
	if p.o.Counters == nil {
		return counter.Decision{}, false
	}
	d := p.o.Counters.Admit(r.Context(), req)
	return d, !d.Degraded
}

func quotaOf(amount int64, per string, now time.Time, st counter.State, read bool) *quotaView {
	q := &quotaView{Amount: amount, Per: per}
	if pd, ok := counter.ParsePeriod(per); ok {
		_, q.ResetsAt = pd.Bounds(now)
	}
	if read {
		left := max(st.Remaining, 0)
		q.Remain, q.Used = ptr(left), ptr(amount-left)
	}
	return q
}

func ptr[T any](v T) *T { return &v }

// usage serves GET /portal/api/usage: the ledger, as GET /admin/usage
// reports it, for the session's consumer only; a consumer parameter
// from the client is ignored.
func (p *portal) usage(w http.ResponseWriter, r *http.Request, c caller) {
	v := r.URL.Query()
	format := v.Get("format")
	if format != "" && format != "json" && format != "csv" {
		writeParamError(w, &usage.ParamError{Param: "format", Reason: "want json or csv"})
		return
	}
	v.Del("consumer")
	q, err := usage.ParseQuery(v, p.o.Now())
	if err != nil {
		writeParamError(w, err)
		return
	}
	q.Consumer = c.consumer.ID
	rows, err := usage.Report(r.Context(), p.o.Store, q)
	if err != nil {
		p.storeError(w, err)
		return
	}
	if format == "csv" {
		if err := usage.ServeCSV(w, "attachment", rows); err != nil {
			p.o.Logger.Debug("writing usage CSV", "error", err)
		}
		return
	}
	apijson.Write(w, http.StatusOK, map[string]any{
		"consumer": c.consumer.ID,
		"rows":     rows,
		"from":     q.From.Format(time.RFC3339),
		"to":       q.To.Format(time.RFC3339),
		"group_by": q.GroupBy,
	})
}

// invoice serves GET /portal/api/invoices?period=YYYY-MM (default: the
// current UTC month): the session's consumer's invoice, as
// GET /admin/invoices/{consumer} computes it.
func (p *portal) invoice(w http.ResponseWriter, r *http.Request, c caller) {
	per := billing.MonthOf(p.o.Now())
	if s := r.URL.Query().Get("period"); s != "" {
		var err error
		if per, err = billing.ParsePeriod(s); err != nil {
			writeParamError(w, &usage.ParamError{Param: "period", Reason: err.Error()})
			return
		}
	}
	inv, err := billing.ForConsumer(r.Context(), p.o.Store, p.o.Plans(), c.consumer.ID, per)
	if err != nil {
		p.storeError(w, err)
		return
	}
	apijson.Write(w, http.StatusOK, inv)
}

// keyView is one key as the portal shows it: never the secret nor its
// hash.
type keyView struct {
	ID        string     `json:"id"`
	Prefix    string     `json:"prefix"`
	Source    string     `json:"source"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// Current marks the key this session signed in with.
	Current bool `json:"current,omitempty"`
}

// listKeys serves GET /portal/api/keys: the consumer's keys.
func (p *portal) listKeys(w http.ResponseWriter, r *http.Request, c caller) {
	keys, err := p.o.Store.ListKeys(r.Context(), c.consumer.ID)
	if err != nil {
		p.storeError(w, err)
		return
	}
	out := make([]keyView, 0, len(keys))
	for _, k := range keys {
		out = append(out, keyView{ID: k.ID, Prefix: k.Prefix, Source: k.Source, CreatedAt: k.CreatedAt, RevokedAt: k.RevokedAt, Current: k.ID == c.Credential})
	}
	apijson.Write(w, http.StatusOK, map[string]any{"keys": out})
}

// createKey serves POST /portal/api/keys: a new key of the session's
// consumer, answered once with its secret.
func (p *portal) createKey(w http.ResponseWriter, r *http.Request, c caller) {
	keys, err := p.o.Store.ListKeys(r.Context(), c.consumer.ID)
	if err != nil {
		p.storeError(w, err)
		return
	}
	live := slices.DeleteFunc(keys, func(k store.APIKey) bool { return k.RevokedAt != nil })
	if len(live) >= maxLiveKeys {
		apijson.Error(w, http.StatusConflict, "too_many_keys", "revoke a key before creating another: at most 20 live keys")
		return
	}
	plain, k, err := keyauth.Generate()
	if err != nil {
		apijson.Error(w, http.StatusInternalServerError, "internal_error", "generating a key failed")
		return
	}
	k.ConsumerID = c.consumer.ID
	k.Source = store.SourceAPI
	if err := p.o.Store.CreateKey(r.Context(), k); err != nil {
		p.storeError(w, err)
		return
	}
	if p.o.KeyCreated != nil {
		p.o.KeyCreated(k.Hash)
	}
	apijson.Write(w, http.StatusCreated, map[string]any{"id": k.ID, "key": plain, "prefix": k.Prefix})
}

// revokeKey serves DELETE /portal/api/keys/{key_id}: only a key of the
// session's consumer (the store checks the key is the consumer's too).
// Revoking the key the session signed in with ends every session signed
// in with it, this one included.
func (p *portal) revokeKey(w http.ResponseWriter, r *http.Request, c caller) {
	id := r.PathValue("key_id")
	if err := p.keyLive(r.Context(), c.consumer.ID, id); err != nil {
		p.storeError(w, err)
		return
	}
	if err := p.o.Store.RevokeKey(r.Context(), c.consumer.ID, id); err != nil {
		p.storeError(w, err)
		return
	}
	p.sessions.DeleteCredential(c.consumer.ID, id)
	if id == c.Credential {
		p.sessions.Delete(w, r)
	}
	w.WriteHeader(http.StatusNoContent)
}

// writeParamError answers 400 naming the bad parameter.
func writeParamError(w http.ResponseWriter, err error) {
	var pe *usage.ParamError
	if !errors.As(err, &pe) {
		apijson.Error(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	apijson.Write(w, http.StatusBadRequest, map[string]any{
		"status": http.StatusBadRequest, "error": "bad_request", "message": pe.Error(), "param": pe.Param,
	})
}
