// Package ratelimit enforces rate limits and quotas on a route: the
// route's rate_limit (keyed by consumer, client IP or a header) and the
// rate_limit and quota of the caller's plan. Every one applies; the
// stricter answer wins.
//
// It is a middleware of the Policy phase, after authentication has set
// Exchange.Consumer. New compiles one route's limits once per config
// generation: key names are built there, so a request costs one
// counter.Counter decision and a few header values. Answers of a limited
// route carry RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset for
// the bucket closest to refusing; a refusal is a pipeline.HTTPError 429
// (rate_limited or quota_exceeded) with Retry-After, which the server
// renders.
//
// Client IPs come from Exchange.ClientIP, which the server derives with
// server.trusted_proxies, so X-Forwarded-For from an untrusted peer cannot
// mint identities. The package keeps no counts of its own and must not
// write responses.
package ratelimit
