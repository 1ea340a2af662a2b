// Package jsonvalid reports whether bytes are one JSON value, exactly as
// encoding/json.Valid decides, in one pass.
//
// The aggregate handler checks every upstream answer it copies without
// decoding, and the Lambda bridge every function's answer; with
// encoding/json's scanner (a state machine that calls a function value
// per byte) that check was the largest single cost of an aggregate route,
// about 40 instructions a byte. Here a byte of a string costs one table
// lookup. The answer is held to encoding/json's by a differential fuzz
// target: the same verdict for every input, including what encoding/json
// accepts beyond RFC 8259's letter (invalid UTF-8 inside strings, escaped
// lone surrogates) and its nesting limit of 10,000.
package jsonvalid
