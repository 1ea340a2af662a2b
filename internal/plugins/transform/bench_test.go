package transform

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkApply measures one body's decode, operations and encode, by
// the number of array elements the paths step into.
func BenchmarkApply(b *testing.B) {
	ops, err := Compile(body(map[string]string{"meta.channel": `"api"`}, []string{"internal_id", "items[].cost"}, map[string]string{"cust": "customer"}))
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 100} {
		items := make([]string, n)
		for i := range items {
			items[i] = fmt.Sprintf(`{"sku":"sku-%d","cost":%d,"qty":2}`, i, i)
		}
		doc := []byte(`{"internal_id":7,"cust":"acme","items":[` + strings.Join(items, ",") + `]}`)
		b.Run(fmt.Sprintf("items=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				if _, err := ops.Apply(doc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
