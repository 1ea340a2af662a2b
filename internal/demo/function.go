package demo

import (
	"encoding/json"
	"net/http"
	"strings"
)

// functionName is the one function the stand-in serves.
const functionName = "greeter"

// newFunction returns a stand-in for the Lambda invoke API serving one
// function, greeter, so the demo can show a serverless route without an
// AWS account: it reads the API Gateway 2.0 event the gateway sends and
// answers like a function behind API Gateway would.
func newFunction() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", health)
	mux.HandleFunc("POST /2015-03-31/functions/{name}/invocations", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("name") != functionName {
			w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
			writeJSON(w, http.StatusNotFound, map[string]string{"Type": "User", "message": "Function not found: " + r.PathValue("name")})
			return
		}
		var e struct {
			RawPath        string            `json:"rawPath"`
			PathParameters map[string]string `json:"pathParameters"`
			RequestContext struct {
				RequestID string `json:"requestId"`
				HTTP      struct {
					Method   string `json:"method"`
					SourceIP string `json:"sourceIp"`
				} `json:"http"`
			} `json:"requestContext"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 6<<20)).Decode(&e); err != nil {
			w.Header().Set("X-Amzn-ErrorType", "InvalidRequestContentException")
			writeJSON(w, http.StatusBadRequest, map[string]string{"Type": "User", "message": "Could not parse request body into json"})
			return
		}
		name := strings.TrimSpace(e.PathParameters["name"])
		if name == "" {
			name = "world"
		}
		body, _ := json.Marshal(map[string]string{
			"greeting":   "Hello, " + name + "!",
			"function":   functionName,
			"path":       e.RawPath,
			"method":     e.RequestContext.HTTP.Method,
			"source_ip":  e.RequestContext.HTTP.SourceIP,
			"request_id": e.RequestContext.RequestID,
		})
		writeJSON(w, http.StatusOK, map[string]any{
			"statusCode": 200,
			"headers":    map[string]string{"Content-Type": "application/json", "X-Served-By": functionName},
			"body":       string(body),
		})
	})
	return mux
}
