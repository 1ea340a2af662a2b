// What the dashboard's and the portal's usage pages share: fetching a
// usage report (and pointing the CSV link at the same query), the table's
// columns, and the requests/errors chart of a report grouped by time.
import { api } from './api.js';
import { replace, notice } from './dom.js';
import { num } from './format.js';
import { Chart } from './chart.js';

// fetchUsage asks path (GET /admin/usage or /portal/api/usage) for the
// report of query q and points csv at its CSV form. A refused query is
// shown in out and gives null.
export async function fetchUsage(path, q, csv, out) {
  const csvQ = new URLSearchParams(q);
  csvQ.set('format', 'csv');
  csv.href = path + '?' + csvQ;
  try {
    return await api(path + '?' + q);
  } catch (e) {
    replace(out, notice('error', (e.body && e.body.param ? e.body.param + ': ' : '') + e.message));
    return null;
  }
}

// usageColumns are the table's columns for rows grouped by `by`: what the
// rows are grouped by, the counts, and token columns when any row has
// tokens (LLM routes). head is the header, cells(r) a row's cells.
export function usageColumns(rows, by) {
  const key = { route: ['Route', (r) => r.route], model: ['Model', (r) => r.model] }[by] || ['Period', (r) => r.period || 'total'];
  const tokens = rows.some((r) => r.input_tokens || r.output_tokens);
  const n = (v) => ({ v: num(v), num: true });
  return {
    head: [key[0], { v: 'Requests', num: true }, { v: 'Billable', num: true }, { v: 'Errors', num: true },
      ...(tokens ? [{ v: 'Input tokens', num: true }, { v: 'Output tokens', num: true }] : []),
      { v: 'Bytes out', num: true }, { v: 'Avg latency', num: true }],
    cells: (r) => [key[1](r), n(r.requests), n(r.billable), n(r.errors),
      ...(tokens ? [n(r.input_tokens || 0), n(r.output_tokens || 0)] : []),
      n(r.bytes_out), { v: r.avg_latency_ms ? num(r.avg_latency_ms) + ' ms' : '–', num: true }],
  };
}

// periodStart is a day's or an hour's period as Unix seconds.
export function periodStart(p, by) {
  return Date.parse(by === 'hour' ? p : p + 'T00:00:00Z') / 1000;
}

// usageChart draws requests and errors per period (xs, Unix seconds) in el.
export function usageChart(el, xs, requests, errors) {
  const chart = new Chart(el, { yLabel: 'requests', bars: true, series: [{ label: 'requests' }, { label: 'errors' }] });
  chart.set([xs, requests, errors]);
  return chart;
}
