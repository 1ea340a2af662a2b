package proxy

import (
	"context"
	"errors"
	"net/http"

	"github.com/gantry-dev/gantry/internal/pipeline"
)

// The functions here give terminals that reach their upstream without the
// proxy (lambda) the proxy's own rules, so clients see one behaviour.

// Classify turns a failed upstream call of in into the client's error, as
// the proxy classifies its own: client gone 499, timeout 504, anything
// else 502, with a client-safe message and the cause in Err.
func Classify(in *http.Request, err error) *pipeline.HTTPError {
	return classify(err, errors.Is(in.Context().Err(), context.Canceled), false)
}

// BodyError answers a failure to read in's body: 499 when the client went
// away, 413 over the body limit, else 400. It records the error in x.
func BodyError(x *pipeline.Exchange, in *http.Request, err error) error {
	return bodyError(x, in, err)
}

// RemoveHopByHop deletes from a response header the hop-by-hop fields and
// those named in Connection.
func RemoveHopByHop(h http.Header) { removeHopByHop(h) }

// DropGatewayOwned deletes from res, an upstream's response header, what
// the gateway already set in out, the client's response header.
func DropGatewayOwned(out, res http.Header) { dropGatewayOwned(out, res) }
