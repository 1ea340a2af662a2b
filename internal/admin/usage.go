package admin

import (
	"errors"
	"net/http"
	"time"

	"github.com/gantry-dev/gantry/internal/apijson"
	"github.com/gantry-dev/gantry/internal/billing"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/usage"
)

// usage serves GET /admin/usage: the ledger summed over every node, as
// JSON ({"rows": [...]}) or, with format=csv, as CSV with a header line.
func (a *api) usage(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	format := v.Get("format")
	if format != "" && format != "json" && format != "csv" {
		writeParamError(w, &usage.ParamError{Param: "format", Reason: "want json or csv, got " + quote(format)})
		return
	}
	q, err := usage.ParseQuery(v, time.Now())
	if err != nil {
		writeParamError(w, err)
		return
	}
	rows, err := usage.Report(r.Context(), a.store, q)
	if err != nil {
		a.storeError(w, err)
		return
	}
	if format == "csv" {
		if err := usage.ServeCSV(w, "inline", rows); err != nil {
			a.log.Debug("writing usage CSV", "error", err)
		}
		return
	}
	apijson.Write(w, http.StatusOK, map[string]any{
		"rows":     rows,
		"from":     q.From.Format(time.RFC3339),
		"to":       q.To.Format(time.RFC3339),
		"group_by": q.GroupBy,
	})
}

// invoice serves GET /admin/invoices/{consumer}?period=YYYY-MM (default:
// the current UTC month).
func (a *api) invoice(w http.ResponseWriter, r *http.Request) {
	p := billing.MonthOf(time.Now())
	if s := r.URL.Query().Get("period"); s != "" {
		var err error
		if p, err = billing.ParsePeriod(s); err != nil {
			writeParamError(w, &usage.ParamError{Param: "period", Reason: err.Error()})
			return
		}
	}
	inv, err := billing.ForConsumer(r.Context(), a.store, a.currentPlans(), r.PathValue("consumer"), p)
	switch {
	case errors.Is(err, store.ErrNotFound):
		apijson.Error(w, http.StatusNotFound, "not_found", "no such consumer")
		return
	case err != nil:
		a.storeError(w, err)
		return
	}
	apijson.Write(w, http.StatusOK, inv)
}

func (a *api) currentPlans() map[string]*config.Plan {
	switch {
	case a.plans != nil:
		return a.plans()
	case a.gw != nil:
		return a.gw.Config().Plans
	}
	return nil
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
