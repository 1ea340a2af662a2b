package postgres

import (
	"testing"

	"github.com/gantry-dev/gantry/internal/store/storetest"
)

func BenchmarkLookupKey(b *testing.B) {
	s := openDSN(b, storetest.PostgresDSN(b))
	storetest.BenchmarkLookupKey(b, s, 1000)
}

func BenchmarkUpsertUsage(b *testing.B) {
	s := openDSN(b, storetest.PostgresDSN(b))
	storetest.BenchmarkUpsertUsage(b, s, 1000)
}
