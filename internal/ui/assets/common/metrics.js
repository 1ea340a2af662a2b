// Rates and percentiles from two summaries of GET /admin/metrics/summary,
// as Prometheus computes rate() and histogram_quantile() from two scrapes.

// delta returns what happened between summaries a and b (b later): per
// second rates, the error ratio and the p50 and p99 latency in seconds
// (null when there were no requests).
export function delta(a, b) {
  const secs = (Date.parse(b.at) - Date.parse(a.at)) / 1000;
  if (!(secs > 0)) return null;
  const reqs = b.requests - a.requests;
  const errs = b.errors - a.errors;
  const hist = diffHistogram(a.duration, b.duration);
  return {
    at: Date.parse(b.at) / 1000,
    rps: Math.max(0, reqs) / secs,
    eps: Math.max(0, errs) / secs,
    errorRatio: reqs > 0 ? errs / reqs : null,
    p50: quantile(0.5, hist),
    p99: quantile(0.99, hist),
  };
}

function diffHistogram(a, b) {
  const before = new Map((a.buckets || []).map((x) => [x.le, x.count]));
  return {
    count: b.count - a.count,
    buckets: (b.buckets || []).map((x) => ({ le: x.le, count: x.count - (before.get(x.le) || 0) })),
  };
}

// quantile interpolates linearly inside the bucket holding the q-th
// observation; beyond the last finite bound it answers that bound.
export function quantile(q, hist) {
  if (!hist || hist.count <= 0) return null;
  const rank = q * hist.count;
  let prevLE = 0;
  let prevCount = 0;
  for (const b of hist.buckets) {
    if (b.count >= rank) {
      const inBucket = b.count - prevCount;
      if (inBucket <= 0) return b.le;
      return prevLE + (b.le - prevLE) * ((rank - prevCount) / inBucket);
    }
    prevLE = b.le;
    prevCount = b.count;
  }
  return prevLE;
}
