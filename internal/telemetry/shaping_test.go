package telemetry

import (
	"strings"
	"testing"
)

func TestShapingMetrics(t *testing.T) {
	m := NewMetrics()
	orders := m.Route("orders")
	orders.SplitServed("orders-v1")
	orders.SplitServed("orders-v1")
	orders.SplitServed("orders-v2")
	orders.Mirrored(MirrorSent)
	orders.Mirrored(MirrorDropped)
	orders.Transformed("response", TransformApplied)
	var nilRoute *RouteMetrics
	nilRoute.SplitServed("x")
	nilRoute.Mirrored(MirrorSent)
	nilRoute.Transformed("request", TransformInvalid)

	got, _ := scrape(t, m)
	tests := []struct{ series, want string }{
		{`gantry_split_requests_total{route="orders",upstream="orders-v1"}`, "2"},
		{`gantry_split_requests_total{route="orders",upstream="orders-v2"}`, "1"},
		{`gantry_mirror_requests_total{result="sent",route="orders"}`, "1"},
		{`gantry_mirror_requests_total{result="dropped",route="orders"}`, "1"},
		{`gantry_transform_bodies_total{direction="response",result="transformed",route="orders"}`, "1"},
	}
	for _, tt := range tests {
		if v := got[tt.series]; v != tt.want {
			t.Errorf("%s = %q, want %q", tt.series, v, tt.want)
		}
	}

	// A reload that drops the route deletes its series, and the old
	// generation's requests do not bring them back.
	m.RetainRoutes(nil)
	orders.SplitServed("orders-v1")
	got, _ = scrape(t, m)
	for k := range got {
		if strings.Contains(k, `route="orders"`) {
			t.Errorf("%s still exported after the route was dropped", k)
		}
	}
}
