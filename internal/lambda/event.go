package lambda

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gantry-dev/gantry/internal/forward"
	"github.com/gantry-dev/gantry/internal/jsonvalid"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/telemetry"
	"github.com/gantry-dev/gantry/internal/wire"
)

// event is an API Gateway HTTP API request event, payload format 2.0.
type event struct {
	Version               string            `json:"version"`
	RouteKey              string            `json:"routeKey"`
	RawPath               string            `json:"rawPath"`
	RawQueryString        string            `json:"rawQueryString"`
	Cookies               []string          `json:"cookies,omitempty"`
	Headers               map[string]string `json:"headers"`
	QueryStringParameters map[string]string `json:"queryStringParameters,omitempty"`
	PathParameters        map[string]string `json:"pathParameters,omitempty"`
	RequestContext        requestContext    `json:"requestContext"`
	Body                  string            `json:"body,omitempty"`
	IsBase64Encoded       bool              `json:"isBase64Encoded"`
}

type requestContext struct {
	AccountID    string      `json:"accountId"`
	APIID        string      `json:"apiId"`
	DomainName   string      `json:"domainName"`
	DomainPrefix string      `json:"domainPrefix"`
	HTTP         httpContext `json:"http"`
	RequestID    string      `json:"requestId"`
	RouteKey     string      `json:"routeKey"`
	Stage        string      `json:"stage"`
	Time         string      `json:"time"`
	TimeEpoch    int64       `json:"timeEpoch"`
	Authorizer   *authorizer `json:"authorizer,omitempty"`
}

type httpContext struct {
	Method    string `json:"method"`
	Path      string `json:"path"`
	Protocol  string `json:"protocol"`
	SourceIP  string `json:"sourceIp"`
	UserAgent string `json:"userAgent"`
}

// authorizer carries the consumer authentication found, where API Gateway
// puts a Lambda authorizer's context.
type authorizer struct {
	Lambda consumerContext `json:"lambda"`
}

type consumerContext struct {
	ConsumerID string   `json:"consumer_id"`
	Plan       string   `json:"plan,omitempty"`
	Groups     []string `json:"groups"`
}

// restEvent is an API Gateway REST API proxy event, payload format 1.0.
type restEvent struct {
	Version                         string              `json:"version"`
	Resource                        string              `json:"resource"`
	Path                            string              `json:"path"`
	HTTPMethod                      string              `json:"httpMethod"`
	Headers                         map[string]string   `json:"headers"`
	MultiValueHeaders               map[string][]string `json:"multiValueHeaders"`
	QueryStringParameters           map[string]string   `json:"queryStringParameters"`
	MultiValueQueryStringParameters map[string][]string `json:"multiValueQueryStringParameters"`
	PathParameters                  map[string]string   `json:"pathParameters"`
	StageVariables                  map[string]string   `json:"stageVariables"`
	RequestContext                  restContext         `json:"requestContext"`
	Body                            *string             `json:"body"`
	IsBase64Encoded                 bool                `json:"isBase64Encoded"`
}

type restContext struct {
	AccountID        string       `json:"accountId"`
	APIID            string       `json:"apiId"`
	DomainName       string       `json:"domainName"`
	DomainPrefix     string       `json:"domainPrefix"`
	HTTPMethod       string       `json:"httpMethod"`
	Identity         restIdentity `json:"identity"`
	Path             string       `json:"path"`
	Protocol         string       `json:"protocol"`
	RequestID        string       `json:"requestId"`
	RequestTime      string       `json:"requestTime"`
	RequestTimeEpoch int64        `json:"requestTimeEpoch"`
	ResourcePath     string       `json:"resourcePath"`
	Stage            string       `json:"stage"`
	Authorizer       *authorizer  `json:"authorizer,omitempty"`
}

type restIdentity struct {
	SourceIP  string `json:"sourceIp"`
	UserAgent string `json:"userAgent"`
}

// restEventOf turns a 2.0 event into the 1.0 one of the same request;
// hd is the outbound header (Cookie included).
func restEventOf(e *event, hd http.Header, rawQuery, resource string) *restEvent {
	re := &restEvent{
		Version: "1.0", Resource: resource, Path: e.RawPath, HTTPMethod: e.RequestContext.HTTP.Method,
		Headers: make(map[string]string, len(hd)), MultiValueHeaders: make(map[string][]string, len(hd)),
		PathParameters: e.PathParameters,
		RequestContext: restContext{
			AccountID: e.RequestContext.AccountID, APIID: e.RequestContext.APIID,
			DomainName: e.RequestContext.DomainName, DomainPrefix: e.RequestContext.DomainPrefix,
			HTTPMethod: e.RequestContext.HTTP.Method,
			Identity:   restIdentity{SourceIP: e.RequestContext.HTTP.SourceIP, UserAgent: e.RequestContext.HTTP.UserAgent},
			Path:       e.RawPath, Protocol: e.RequestContext.HTTP.Protocol, RequestID: e.RequestContext.RequestID,
			RequestTime: e.RequestContext.Time, RequestTimeEpoch: e.RequestContext.TimeEpoch,
			ResourcePath: resource, Stage: e.RequestContext.Stage, Authorizer: e.RequestContext.Authorizer,
		},
		IsBase64Encoded: e.IsBase64Encoded,
	}
	for k, vv := range hd {
		re.Headers[k] = vv[len(vv)-1]
		re.MultiValueHeaders[k] = vv
	}
	if q, err := url.ParseQuery(rawQuery); err == nil && len(q) > 0 {
		re.QueryStringParameters = make(map[string]string, len(q))
		re.MultiValueQueryStringParameters = q
		for k, vv := range q {
			re.QueryStringParameters[k] = vv[len(vv)-1]
		}
	}
	if e.Body != "" {
		b := e.Body
		re.Body = &b
	}
	return re
}

// event builds the JSON event of r; body is the client's body.
func (h *handler) event(r *http.Request, x *pipeline.Exchange, body []byte) ([]byte, error) {
	path := x.Path
	if path == "" {
		path = r.URL.Path
	}
	// The headers an upstream would get, as the proxy builds them.
	hd := make(http.Header, len(r.Header)+8)
	forward.CopyEndToEnd(hd, r.Header)
	forward.SetHeaders(hd, r, x, h.trusted)
	telemetry.Inject(r.Context(), hd)
	h.reqRules.Apply(hd)
	// API Gateway always sends the Host the client asked for, and adapters
	// (Mangum, aws-lambda-go's httpadapter) rebuild the request URL from
	// it; a request_headers rule setting Host wins, as it does upstream.
	if hv := h.reqRules.Host(); hv != "" {
		hd["Host"] = []string{hv}
	} else if r.Host != "" {
		hd["Host"] = []string{r.Host}
	}
	var cookies []string
	var headers map[string]string
	if !h.rest {
		cookies = cookiesOf(hd["Cookie"])
		headers = make(map[string]string, len(hd))
		for k, vv := range hd {
			if k != "Cookie" {
				headers[strings.ToLower(k)] = strings.Join(vv, ",")
			}
		}
	}

	host := r.Host
	if hn, _, err := net.SplitHostPort(host); err == nil {
		host = hn
	}
	prefix, _, _ := strings.Cut(host, ".")
	start := x.Start
	if start.IsZero() {
		start = h.now()
	}
	e := event{
		Version: "2.0", RouteKey: "$default",
		RawPath: path, RawQueryString: r.URL.RawQuery,
		Cookies: cookies, Headers: headers,
		QueryStringParameters: queryOf(r.URL.RawQuery),
		RequestContext: requestContext{
			AccountID: "gantry", APIID: "gantry", DomainName: host, DomainPrefix: prefix,
			HTTP: httpContext{
				Method: r.Method, Path: path, Protocol: r.Proto,
				SourceIP: x.ClientIP, UserAgent: r.Header.Get("User-Agent"),
			},
			RequestID: x.ID, RouteKey: "$default", Stage: "$default",
			Time:      start.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch: start.UnixMilli(),
		},
	}
	if e.RequestContext.HTTP.SourceIP == "" {
		e.RequestContext.HTTP.SourceIP = forward.ClientIP(r, h.trusted)
	}
	if len(x.Params) > 0 {
		e.PathParameters = make(map[string]string, len(x.Params))
		for _, p := range x.Params {
			// Decoded text, as queryStringParameters are: the canonical
			// path keeps %25, %2F and %5C escaped.
			e.PathParameters[p.Name] = wire.UnescapeCanonical(p.Value)
		}
	}
	if c := x.Consumer; c != nil {
		groups := c.Groups
		if groups == nil {
			groups = []string{}
		}
		e.RequestContext.Authorizer = &authorizer{Lambda: consumerContext{ConsumerID: c.ID, Plan: c.Plan, Groups: groups}}
	}
	if len(body) > 0 {
		if utf8.Valid(body) {
			e.Body = string(body)
		} else {
			e.Body, e.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	if h.rest {
		return json.Marshal(restEventOf(&e, hd, r.URL.RawQuery, h.resource))
	}
	return json.Marshal(&e)
}

// cookiesOf splits Cookie header values into their name=value pairs.
func cookiesOf(values []string) []string {
	var out []string
	for _, v := range values {
		for c := range strings.SplitSeq(v, ";") {
			if c = strings.TrimSpace(c); c != "" {
				out = append(out, c)
			}
		}
	}
	return out
}

// queryOf turns a raw query into API Gateway's map: values of a repeated
// name joined with commas. Pairs that do not decode are passed as they are.
func queryOf(raw string) map[string]string {
	if raw == "" {
		return nil
	}
	out := make(map[string]string)
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if dv, err := url.QueryUnescape(v); err == nil {
			v = dv
		}
		if prev, ok := out[k]; ok {
			out[k] = prev + "," + v
		} else {
			out[k] = v
		}
	}
	return out
}

// answer is what the function returned, read as API Gateway reads it.
type answer struct {
	status  int
	header  http.Header
	body    []byte
	rawJSON bool
}

// proxyResult is the answer format with a statusCode.
type proxyResult struct {
	StatusCode        *json.Number        `json:"statusCode"`
	Headers           map[string]any      `json:"headers"`
	MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
	Cookies           []string            `json:"cookies"`
	Body              *string             `json:"body"`
	IsBase64Encoded   bool                `json:"isBase64Encoded"`
}

var errNotJSON = errors.New("with something that is not JSON")

// parseAnswer reads a function's payload.
func parseAnswer(payload []byte) (*answer, error) {
	trimmed := bytes.TrimSpace(payload)
	if !jsonvalid.Valid(trimmed) {
		return nil, errNotJSON
	}
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return rawAnswer(trimmed), nil
	}
	var pr proxyResult
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	if err := dec.Decode(&pr); err != nil || pr.StatusCode == nil {
		// An object without statusCode (or not of this shape) is the
		// answer itself.
		return rawAnswer(trimmed), nil
	}
	code, err := strconv.Atoi(pr.StatusCode.String())
	// A final answer: an informational status cannot end an exchange.
	if err != nil || code < 200 || code > 599 {
		return nil, errors.New("with an invalid statusCode " + strconv.Quote(pr.StatusCode.String()))
	}
	a := &answer{status: code, header: make(http.Header)}
	for k, v := range pr.Headers {
		var s string
		switch v := v.(type) {
		case string:
			s = v
		case json.Number:
			s = v.String()
		case bool:
			s = strconv.FormatBool(v)
		default:
			continue
		}
		a.header.Add(k, s)
	}
	for k, vv := range pr.MultiValueHeaders {
		for _, v := range vv {
			a.header.Add(k, v)
		}
	}
	for _, c := range pr.Cookies {
		a.header.Add("Set-Cookie", c)
	}
	if pr.Body != nil {
		if pr.IsBase64Encoded {
			b, err := base64.StdEncoding.DecodeString(*pr.Body)
			if err != nil {
				return nil, errors.New("with a body that is not valid base64")
			}
			a.body = b
		} else {
			a.body = []byte(*pr.Body)
		}
	}
	return a, nil
}

func rawAnswer(payload []byte) *answer {
	return &answer{status: http.StatusOK, header: http.Header{"Content-Type": {"application/json"}}, body: payload, rawJSON: true}
}

// write sends a to the client. The function's headers are filtered as the
// proxy filters an upstream's: hop-by-hop fields go, the gateway's
// X-Request-Id and RateLimit-* win, and the framing is the gateway's.
func (h *handler) write(w http.ResponseWriter, a *answer) error {
	dst := w.Header()
	forward.RemoveHopByHop(a.header)
	forward.DropGatewayOwned(dst, a.header)
	for k, vv := range a.header {
		if !wire.ValidFieldName(k) {
			continue
		}
		for _, v := range vv {
			if wire.ValidFieldValue(v) {
				dst[k] = append(dst[k], v)
			}
		}
	}
	h.resRules.Apply(dst)
	if a.status == http.StatusNoContent || a.status == http.StatusNotModified {
		a.body = nil
	}
	dst["Content-Length"] = []string{strconv.Itoa(len(a.body))}
	w.WriteHeader(a.status)
	if len(a.body) == 0 {
		return nil
	}
	if _, err := w.Write(a.body); err != nil {
		// The client is gone; there is nobody to answer.
		return &pipeline.AbortedError{Status: pipeline.StatusClientClosed, Err: err}
	}
	return nil
}
