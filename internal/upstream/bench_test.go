package upstream

import (
	"fmt"
	"testing"
)

func BenchmarkPick(b *testing.B) {
	cases := []struct {
		name    string
		weights []int
	}{
		{"backends=1", []int{1}},
		{"backends=2/equal", []int{1, 1}},
		{"backends=2/weighted", []int{3, 1}},
		{"backends=10/equal", []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		{"backends=10/weighted", []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
	}
	for _, c := range cases {
		p := newTestPool(b, c.weights...)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Pick(nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("%s/parallel", c.name), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := p.Pick(nil); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
