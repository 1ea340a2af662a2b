// Usage: the ledger by day, hour or route over a date range, as a chart,
// a table and a CSV download.
import { api } from '../../common/api.js';
import { h, table, replace } from '../../common/dom.js';
import { num, isoDate } from '../../common/format.js';
import { fetchUsage, usageColumns, periodStart, usageChart } from '../../common/usage.js';

// groupings are the group_by values GET /admin/usage takes.
const groupings = [['day', 'Day'], ['hour', 'Hour'], ['route', 'Route'], ['model', 'Model (LLM routes)'], ['', 'Consumer total']];

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
      const res = await fetchUsage('/admin/usage', query(), csv, out);
      if (!res) return;
      const by = res.group_by || '';
      const rows = res.rows;
      const max = Math.max(1, ...rows.map((r) => r.requests));
      // The consumer first, then the shared columns, then a bar of each
      // row's share of the busiest.
      const cols = usageColumns(rows, by);
      replace(out, table(`${rows.length} rows, ${res.from.slice(0, 10)} to ${res.to.slice(0, 10)} (UTC)`,
        ['Consumer', ...cols.head, ''],
        rows.map((r) => [r.consumer || h('span', { class: 'muted' }, 'anonymous'), ...cols.cells(r),
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
        chart = usageChart(chartEl, xs, xs.map((x) => per.get(x)[0]), xs.map((x) => per.get(x)[1]));
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
