// Package transform is the route step that changes JSON bodies: remove,
// rename and set (in that order) on dotted paths with [] for arrays
// (package jsonpath), on the request body before it goes upstream and on
// the answer before the client gets it.
//
//	request: server → router → route chain (… admit → transform → mirror)
//	         → terminal
//
// A body is transformed when its Content-Type is application/json or a
// +json type, it has no Content-Encoding (a compressed body passes
// unchanged), its length is declared (a body of unknown length streams
// through unchanged: event streams, chunked uploads) and at most the
// limit (a larger one passes unchanged). Such a body is read whole, up to
// the limit, transformed and sent with its new Content-Length; a body that
// is not valid JSON passes unchanged. Every body that passes unchanged for
// one of these reasons is counted by its reason (Config.OnResult); a body
// that is not JSON is not counted. Objects come out with their keys in
// sorted order, numbers as they came.
//
// It imports only config, jsonpath and pipeline; it must not import
// route, proxy or server.
package transform
