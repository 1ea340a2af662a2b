package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/gantry-dev/gantry/internal/store/storetest"
)

func BenchmarkLookupKey(b *testing.B) {
	s := openTemp(b, filepath.Join(b.TempDir(), "gantry.db"))
	storetest.BenchmarkLookupKey(b, s, 1000)
}

func BenchmarkUpsertUsage(b *testing.B) {
	s := openTemp(b, filepath.Join(b.TempDir(), "gantry.db"))
	storetest.BenchmarkUpsertUsage(b, s, 1000)
}
