// Package storetest is the conformance suite every store.Store
// implementation runs (Run), plus helpers for tests that need a real
// database: PostgresDSN gives each test a fresh PostgreSQL schema,
// BenchmarkLookupKey measures the cache-miss path of authentication and
// BenchmarkUpsertUsage a flush of the usage ledger.
//
// It is test-only code: nothing outside _test.go files may import it.
//
// Environment:
//
//	GANTRY_TEST_POSTGRES_DSN       PostgreSQL to test against; unset skips
//	GANTRY_TEST_REQUIRE_SERVICES=1 turn that skip, or an unreachable
//	                               server, into a failure (for CI)
package storetest
