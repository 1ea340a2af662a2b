// Usage: the consumer's own traffic by day, hour, route or model, as a
// chart, a table and a CSV download.
import { h, table, replace } from '../../common/dom.js';
import { num, isoDate } from '../../common/format.js';
import { fetchUsage, usageColumns, periodStart, usageChart } from '../../common/usage.js';

const groupings = [['day', 'Day'], ['hour', 'Hour'], ['route', 'Route'], ['model', 'Model (LLM routes)'], ['', 'Total']];

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
      const res = await fetchUsage('/portal/api/usage', q, csv, out);
      if (!res) return;
      const by = res.group_by || '';
      const rows = res.rows;
      const cols = usageColumns(rows, by);
      const total = rows.reduce((a, r) => a + r.requests, 0);
      replace(out,
        h('p', null, 'Requests in this range: ', h('strong', { id: 'usage-total' }, num(total))),
        table(`${rows.length} rows, ${res.from.slice(0, 10)} to ${res.to.slice(0, 10)} (UTC)`,
          cols.head, rows.map(cols.cells), { id: 'usage-table' }));
      const timed = by === 'day' || by === 'hour';
      chartBox.hidden = !timed || rows.length === 0;
      if (chart) {
        chart.destroy();
        chart = null;
      }
      if (timed && rows.length) {
        chart = usageChart(chartEl, rows.map((r) => periodStart(r.period, by)), rows.map((r) => r.requests), rows.map((r) => r.errors));
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
