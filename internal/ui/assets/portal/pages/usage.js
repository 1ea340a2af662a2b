// Usage: the consumer's own traffic by day, hour, route or model, as a
// chart, a table and a CSV download.
import { api } from '../../common/api.js';
import { h, table, replace, notice } from '../../common/dom.js';
import { num, isoDate } from '../../common/format.js';
import { Chart } from '../../common/chart.js';

const groupings = [['day', 'Day'], ['hour', 'Hour'], ['route', 'Route'], ['model', 'Model (LLM routes)'], ['', 'Total']];

function periodStart(p, by) {
  return Date.parse(by === 'hour' ? p : p + 'T00:00:00Z') / 1000;
}

export default {
  title: 'Usage',
  async render(main) {
    const now = new Date();
    const first = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
    const tomorrow = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));
    const from = h('input', { id: 'usage-from', name: 'from', type: 'date', value: isoDate(first), required: true });
    const to = h('input', { id: 'usage-to', name: 'to', type: 'date', value: isoDate(tomorrow), required: true });
    const groupBy = h('select', { id: 'usage-group', name: 'group_by' }, groupings.map(([v, l]) => h('option', { value: v }, l)));
    const csv = h('a', { id: 'usage-csv', download: 'usage.csv' }, 'Download CSV');
    const out = h('div', { id: 'usage-result' });
    const chartEl = h('div', { id: 'chart-usage', role: 'img', 'aria-label': 'Your requests and errors per period' });
    const chartBox = h('section', { class: 'panel chart', hidden: true }, h('h2', null, 'Requests per period'), chartEl);
    let chart = null;

    const load = async () => {
      const q = new URLSearchParams({ from: from.value, to: to.value });
      if (groupBy.value) q.set('group_by', groupBy.value);
      const csvQ = new URLSearchParams(q);
      csvQ.set('format', 'csv');
      csv.href = '/portal/api/usage?' + csvQ;
      let res;
      try {
        res = await api('/portal/api/usage?' + q);
      } catch (e) {
        replace(out, notice('error', (e.body && e.body.param ? e.body.param + ': ' : '') + e.message));
        return;
      }
      const by = res.group_by || '';
      const rows = res.rows;
      const key = { route: ['Route', (r) => r.route], model: ['Model', (r) => r.model] }[by] || ['Period', (r) => r.period || 'total'];
      const tokens = rows.some((r) => r.input_tokens || r.output_tokens);
      const tokenHead = tokens ? [{ v: 'Input tokens', num: true }, { v: 'Output tokens', num: true }] : [];
      const total = rows.reduce((a, r) => a + r.requests, 0);
      replace(out,
        h('p', null, 'Requests in this range: ', h('strong', { id: 'usage-total' }, num(total))),
        table(`${rows.length} rows, ${res.from.slice(0, 10)} to ${res.to.slice(0, 10)} (UTC)`,
          [key[0], { v: 'Requests', num: true }, { v: 'Billable', num: true }, { v: 'Errors', num: true }, ...tokenHead, { v: 'Bytes out', num: true }, { v: 'Avg latency', num: true }],
          rows.map((r) => [key[1](r), { v: num(r.requests), num: true }, { v: num(r.billable), num: true }, { v: num(r.errors), num: true },
            ...(tokens ? [{ v: num(r.input_tokens || 0), num: true }, { v: num(r.output_tokens || 0), num: true }] : []),
            { v: num(r.bytes_out), num: true }, { v: r.avg_latency_ms ? num(r.avg_latency_ms) + ' ms' : '–', num: true }]),
          { id: 'usage-table' }));
      const timed = by === 'day' || by === 'hour';
      chartBox.hidden = !timed || rows.length === 0;
      if (chart) {
        chart.destroy();
        chart = null;
      }
      if (timed && rows.length) {
        const xs = rows.map((r) => periodStart(r.period, by));
        chart = new Chart(chartEl, { yLabel: 'requests', bars: true, series: [{ label: 'requests' }, { label: 'errors' }] });
        chart.set([xs, rows.map((r) => r.requests), rows.map((r) => r.errors)]);
      }
    };
    const form = h('form', { class: 'inline', id: 'usage-form', onsubmit: (e) => { e.preventDefault(); load(); } },
      h('div', { class: 'field' }, h('label', { for: 'usage-from' }, 'From (UTC)'), from),
      h('div', { class: 'field' }, h('label', { for: 'usage-to' }, 'To, exclusive'), to),
      h('div', { class: 'field' }, h('label', { for: 'usage-group' }, 'Group by'), groupBy),
      h('button', { type: 'submit' }, 'Show'), csv);
    main.append(form, chartBox, out);
    await load();
    return () => chart && chart.destroy();
  },
};
