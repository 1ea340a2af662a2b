package storetest

import (
	"sync"
	"testing"
)

// OpenAtOnce calls open n times at once, as nodes or processes that start
// together open one store, and returns what the calls that succeeded
// returned; each failure is reported with t.Errorf.
func OpenAtOnce[S any](t *testing.T, n int, open func() (S, error)) []S {
	t.Helper()
	got := make([]S, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { got[i], errs[i] = open() })
	}
	wg.Wait()
	var ok []S
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Open() #%d: %v", i, errs[i])
			continue
		}
		ok = append(ok, got[i])
	}
	return ok
}
