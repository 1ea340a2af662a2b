// Usage: the ledger by day, hour or route over a date range, as a chart,
// a table and a CSV download.
import { api } from '../../common/api.js';
import { h, table, replace, notice } from '../../common/dom.js';
import { num, isoDate } from '../../common/format.js';
import { Chart } from '../../common/chart.js';

// groupings are the group_by values GET /admin/usage takes.
const groupings = [['day', 'Day'], ['hour', 'Hour'], ['route', 'Route'], ['model', 'Model (LLM routes)'], ['', 'Consumer total']];

function periodStart(p, by) {
  return Date.parse(by === 'hour' ? p : p + 'T00:00:00Z') / 1000;
}

export default {
  title: 'Usage',
  async render(main) {
    const { consumers } = await api('/admin/consumers');
    const now = new Date();
    const first = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
    const tomorrow = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));
    const consumer = h('select', { id: 'usage-consumer', name: 'consumer' }, h('option', { value: '' }, 'every consumer'), consumers.map((c) => h('option', { value: c.id }, c.id)));
    const from = h('input', { id: 'usage-from', name: 'from', type: 'date', value: isoDate(first), required: true });
    const to = h('input', { id: 'usage-to', name: 'to', type: 'date', value: isoDate(tomorrow), required: true });
    const groupBy = h('select', { id: 'usage-group', name: 'group_by' }, groupings.map(([v, l]) => h('option', { value: v }, l)));
    const csv = h('a', { id: 'usage-csv', download: 'usage.csv' }, 'Download CSV');
    const out = h('div', { id: 'usage-result' });
    const chartEl = h('div', { id: 'chart-usage', role: 'img', 'aria-label': 'Requests and errors per period' });
    const chartBox = h('section', { class: 'panel chart', hidden: true }, h('h2', null, 'Requests per period'), chartEl);
    let chart = null;

    const query = () => {
      const q = new URLSearchParams({ from: from.value, to: to.value });
      if (consumer.value) q.set('consumer', consumer.value);
      if (groupBy.value) q.set('group_by', groupBy.value);
      return q;
    };
    const load = async () => {
      const q = query();
      const csvQ = new URLSearchParams(q);
      csvQ.set('format', 'csv');
      csv.href = '/admin/usage?' + csvQ;
      let res;
      try {
        res = await api('/admin/usage?' + q);
      } catch (e) {
        replace(out, notice('error', (e.body && e.body.param ? e.body.param + ': ' : '') + e.message));
        return;
      }
      const by = res.group_by || '';
      const rows = res.rows;
      const max = Math.max(1, ...rows.map((r) => r.requests));
      // The second column names what the rows are grouped by; token
      // columns appear when any row has tokens (LLM routes).
      const key = { route: ['Route', (r) => r.route], model: ['Model', (r) => r.model] }[by] || ['Period', (r) => r.period];
      const tokens = rows.some((r) => r.input_tokens || r.output_tokens);
      const tokenHead = tokens ? [{ v: 'Input tokens', num: true }, { v: 'Output tokens', num: true }] : [];
      replace(out, table(`${rows.length} rows, ${res.from.slice(0, 10)} to ${res.to.slice(0, 10)} (UTC)`,
        ['Consumer', key[0], { v: 'Requests', num: true }, { v: 'Billable', num: true }, { v: 'Errors', num: true }, ...tokenHead, { v: 'Bytes out', num: true }, { v: 'Avg latency', num: true }, ''],
        rows.map((r) => [r.consumer || h('span', { class: 'muted' }, 'anonymous'), key[1](r),
          { v: num(r.requests), num: true }, { v: num(r.billable), num: true }, { v: num(r.errors), num: true },
          ...(tokens ? [{ v: num(r.input_tokens || 0), num: true }, { v: num(r.output_tokens || 0), num: true }] : []),
          { v: num(r.bytes_out), num: true }, { v: r.avg_latency_ms ? num(r.avg_latency_ms) + ' ms' : '–', num: true },
          h('div', { class: 'bar', 'aria-hidden': 'true', dataset: { share: String(r.requests / max) } })]),
        { id: 'usage-table' }));
      // Widths through the CSSOM: the page's policy forbids style attributes.
      for (const bar of out.querySelectorAll('.bar')) bar.style.width = (Number(bar.dataset.share) * 8) + 'rem';
      const timed = by === 'day' || by === 'hour';
      chartBox.hidden = !timed || rows.length === 0;
      if (chart) {
        chart.destroy();
        chart = null;
      }
      if (timed && rows.length) {
        // One bar per period, summed over consumers.
        const per = new Map();
        for (const r of rows) {
          const x = periodStart(r.period, by);
          const v = per.get(x) || [0, 0];
          per.set(x, [v[0] + r.requests, v[1] + r.errors]);
        }
        const xs = [...per.keys()].sort((a, b) => a - b);
        chart = new Chart(chartEl, { yLabel: 'requests', bars: true, series: [{ label: 'requests' }, { label: 'errors' }] });
        chart.set([xs, xs.map((x) => per.get(x)[0]), xs.map((x) => per.get(x)[1])]);
      }
    };
    const form = h('form', { class: 'inline', id: 'usage-form', onsubmit: (e) => { e.preventDefault(); load(); } },
      h('div', { class: 'field' }, h('label', { for: 'usage-consumer' }, 'Consumer'), consumer),
      h('div', { class: 'field' }, h('label', { for: 'usage-from' }, 'From (UTC)'), from),
      h('div', { class: 'field' }, h('label', { for: 'usage-to' }, 'To, exclusive'), to),
      h('div', { class: 'field' }, h('label', { for: 'usage-group' }, 'Group by'), groupBy),
      h('button', { type: 'submit' }, 'Show'), csv);
    main.append(form, chartBox, out);
    await load();
    return () => chart && chart.destroy();
  },
};
