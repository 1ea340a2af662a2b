// Package lambda is the terminal handler of routes whose upstream is a
// serverless function: it invokes the function through the Lambda invoke
// API (synchronous, RequestResponse) and answers with what the function
// returned.
//
// On the request path it stands where the proxy does:
//
//	server → router → route chain → terminal (lambda) → invoke API
//
// The request becomes an API Gateway HTTP API event (payload format 2.0),
// the format Lambda function URLs use too, so functions written for either
// run unchanged: rawPath is the forwarded path (after rewrite or
// strip_prefix), headers are lower-cased and carry what the proxy adds for
// upstreams (X-Forwarded-*, X-Real-Ip, X-Request-Id, X-Consumer-*) with the
// route's request_headers applied, a body that is not UTF-8 goes base64.
//
// The answer is read the way API Gateway reads it: an object with
// statusCode gives the status, headers, multiValueHeaders, cookies and body
// (base64-decoded when isBase64Encoded); any other JSON is a 200
// application/json answer of that JSON. A function error (the invoke API's
// X-Amz-Function-Error) is a 502 whose details are logged, never sent to
// the client; a throttled invoke (429) is a 503; the upstream's response
// timeout bounds the whole invoke (504). Invocations are not retried: a
// function may have acted before failing.
//
// Requests are signed with AWS Signature Version 4 using the credentials
// in the gateway's environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN). Without credentials only an upstream with an
// endpoint (a local emulator) is accepted, and its requests go unsigned.
package lambda
