package apijson

import (
	"net/http/httptest"
	"testing"
)

func TestError(t *testing.T) {
	rec := httptest.NewRecorder()
	Error(rec, 403, "forbidden", `host "x" not allowed`)
	if rec.Code != 403 || rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("status %d, header %v", rec.Code, rec.Header())
	}
	want := "{\n  \"error\": \"forbidden\",\n  \"message\": \"host \\\"x\\\" not allowed\",\n  \"status\": 403\n}\n"
	if got := rec.Body.String(); got != want {
		t.Fatalf("body %q, want %q", got, want)
	}
}
