package demo

import (
	"fmt"
	"net/http"
	"strconv"
)

// order is the orders services' data; OrderV1 and OrderV2 are its two API
// shapes.
type order struct {
	id     int
	userID int
	status string
	items  []item
	placed string
}

// item is one line of an order in API v2.
type item struct {
	SKU       string `json:"sku"`
	Name      string `json:"name"`
	Quantity  int    `json:"quantity"`
	UnitCents int64  `json:"unit_cents"`
}

func (o order) cents() int64 {
	var c int64
	for _, it := range o.items {
		c += int64(it.Quantity) * it.UnitCents
	}
	return c
}

// orderV1 is the legacy shape: the total as a decimal string, no currency.
type orderV1 struct {
	ID     int    `json:"id"`
	Total  string `json:"total"`
	Status string `json:"status"`
}

// orderV2 is the current shape: money in integer cents with its currency,
// the owner and the lines of the order.
type orderV2 struct {
	ID        int    `json:"id"`
	Version   string `json:"version"`
	UserID    int    `json:"user_id"`
	Status    string `json:"status"`
	Total     money  `json:"total"`
	Items     []item `json:"items"`
	CreatedAt string `json:"created_at"`
}

// money is an amount in the currency's minor unit.
type money struct {
	AmountCents int64  `json:"amount_cents"`
	Currency    string `json:"currency"`
}

var seedOrders = []order{
	{id: 3, userID: 2, status: "delivered", placed: "2026-03-02T09:14:00Z", items: []item{
		{SKU: "KB-210", Name: "Mechanical keyboard", Quantity: 1, UnitCents: 8900},
	}},
	{id: 5, userID: 1, status: "delivered", placed: "2026-03-11T16:40:00Z", items: []item{
		{SKU: "NB-001", Name: "Squared notebook", Quantity: 3, UnitCents: 450},
	}},
	{id: 7, userID: 1, status: "shipped", placed: "2026-04-01T11:05:00Z", items: []item{
		{SKU: "BK-101", Name: "Notes on the Analytical Engine", Quantity: 1, UnitCents: 1490},
		{SKU: "PN-002", Name: "Fountain pen ink", Quantity: 1, UnitCents: 500},
	}},
	{id: 8, userID: 3, status: "processing", placed: "2026-04-03T08:22:00Z", items: []item{
		{SKU: "EN-100", Name: "Enigma puzzle box", Quantity: 1, UnitCents: 3450},
	}},
	{id: 9, userID: 5, status: "cancelled", placed: "2026-04-05T19:57:00Z", items: []item{
		{SKU: "MG-011", Name: "Apollo guidance mug", Quantity: 2, UnitCents: 1200},
	}},
}

func (o order) v1() orderV1 {
	c := o.cents()
	return orderV1{ID: o.id, Total: fmt.Sprintf("%d.%02d", c/100, c%100), Status: o.status}
}

func (o order) v2() orderV2 {
	return orderV2{
		ID: o.id, Version: "v2", UserID: o.userID, Status: o.status,
		Total: money{AmountCents: o.cents(), Currency: "EUR"},
		Items: o.items, CreatedAt: o.placed,
	}
}

// newOrdersV1 returns the legacy orders service (API v1).
func newOrdersV1() http.Handler {
	return newOrders(func(o order) any { return o.v1() }, false)
}

// newOrdersV2 returns the current orders service (API v2), whose list
// filters by ?user_id=N.
func newOrdersV2() http.Handler {
	return newOrders(func(o order) any { return o.v2() }, true)
}

func newOrders(shape func(order) any, byUser bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", health)
	mux.HandleFunc("GET /orders", func(w http.ResponseWriter, r *http.Request) {
		user := 0
		if v := r.URL.Query().Get("user_id"); byUser && v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				writeError(w, http.StatusBadRequest, "bad_request", "user_id must be a positive integer, not %q", v)
				return
			}
			user = n
		}
		list := make([]any, 0, len(seedOrders))
		for _, o := range seedOrders {
			if user == 0 || o.userID == user {
				list = append(list, shape(o))
			}
		}
		writeJSON(w, http.StatusOK, list)
	})
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		for _, o := range seedOrders {
			if strconv.Itoa(o.id) == id {
				writeJSON(w, http.StatusOK, shape(o))
				return
			}
		}
		writeError(w, http.StatusNotFound, "not_found", "no order with id %q", id)
	})
	return mux
}
