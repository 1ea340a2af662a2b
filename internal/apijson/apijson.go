package apijson

import (
	"encoding/json"
	"net/http"
)

// Write answers status with v as indented JSON, marked not to be cached.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// Error answers status with the error code and message.
func Error(w http.ResponseWriter, status int, code, msg string) {
	Write(w, status, map[string]any{"status": status, "error": code, "message": msg})
}
