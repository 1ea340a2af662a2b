-- Prints one JSON line with what the harness needs after wrk's own summary.
-- Latencies are in microseconds. errors.status counts responses with a
-- status above 399. There is deliberately no response() hook: defining one
-- makes wrk hand every response to Lua and turns the load generator into
-- the bottleneck.
done = function(summary, latency, requests)
  io.write(string.format(
    '{"bench":1,"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
