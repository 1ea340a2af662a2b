// Package demo runs the small sample services behind `gantry demo`: two
// instances of a users service, an orders service in two API versions, a
// WebSocket echo, a server-sent events stream, a stand-in of the Lambda
// invoke API and one of an OpenAI-compatible API, all on fixed loopback
// ports that examples/quickstart.yaml points at. Banner and CurlLines print
// the commands a newcomer pastes to watch the gateway route, balance,
// version, rewrite headers and stream.
//
// The package sits beside both paths of the gateway, not on them: the
// services are ordinary upstreams, reached through the gateway like any
// other backend. It must not import the gateway's own packages (router,
// proxy, server), so that what the demo shows is what a real deployment
// gets, and it must never listen on anything but loopback.
package demo
