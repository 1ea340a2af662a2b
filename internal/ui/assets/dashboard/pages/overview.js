// Overview: request rate, error rate and p50/p99 latency, live from
// GET /admin/metrics/summary every few seconds.
import { api } from '../../common/api.js';
import { h, notice, replace } from '../../common/dom.js';
import { num, pct, ms, time } from '../../common/format.js';
import { delta } from '../../common/metrics.js';
import { Chart } from '../../common/chart.js';

// interval is the polling period; keep is how many points the charts hold.
const interval = 2000;
const keep = 150;

function stat(id, label) {
  const dd = h('dd', { id, dataset: { value: '' } }, '–');
  return { el: h('div', { class: 'card' }, h('dt', null, label), dd), dd };
}

export default {
  title: 'Overview',
  async render(main) {
    const status = await api('/admin/status');
    const rps = stat('stat-rps', 'Requests per second');
    const err = stat('stat-errors', 'Error rate (5xx)');
    const p50 = stat('stat-p50', 'Latency p50');
    const p99 = stat('stat-p99', 'Latency p99');
    const inflight = stat('stat-inflight', 'In flight');
    const trafficEl = h('div', { id: 'chart-traffic', role: 'img', 'aria-label': 'Requests and 5xx errors per second, last five minutes' });
    const latencyEl = h('div', { id: 'chart-latency', role: 'img', 'aria-label': 'Latency p50 and p99 in milliseconds, last five minutes' });
    const problem = h('div');
    main.append(
      h('p', { class: 'muted' }, `Configuration generation ${status.generation}, loaded ${time(status.loaded_at)}: ${status.routes} routes, ${status.upstreams} upstreams. Updated every ${interval / 1000} s.`),
      h('dl', { class: 'cards' }, rps.el, err.el, p50.el, p99.el, inflight.el),
      problem,
      h('div', { class: 'charts' },
        h('section', { class: 'panel chart' }, h('h2', null, 'Traffic'), trafficEl),
        h('section', { class: 'panel chart' }, h('h2', null, 'Latency'), latencyEl)),
    );
    const traffic = new Chart(trafficEl, { yLabel: 'req/s', series: [{ label: 'requests/s' }, { label: '5xx/s' }] });
    const latency = new Chart(latencyEl, { yLabel: 'ms', series: [{ label: 'p50', unit: ' ms' }, { label: 'p99', unit: ' ms' }] });
    const points = [[], [], [], [], []]; // x, rps, eps, p50 ms, p99 ms
    let prev = null;
    let timer = null;
    let stopped = false;

    const set = (s, text, value) => {
      s.dd.textContent = text;
      s.dd.dataset.value = value === null || value === undefined ? '' : String(value);
    };
    const tick = async () => {
      try {
        const cur = await api('/admin/metrics/summary');
        replace(problem);
        set(inflight, num(cur.in_flight), cur.in_flight);
        if (prev) {
          const d = delta(prev, cur);
          if (d) {
            set(rps, num(d.rps), d.rps);
            set(err, pct(d.errorRatio), d.errorRatio);
            set(p50, ms(d.p50), d.p50);
            set(p99, ms(d.p99), d.p99);
            const row = [d.at, d.rps, d.eps, d.p50 === null ? null : d.p50 * 1000, d.p99 === null ? null : d.p99 * 1000];
            row.forEach((v, i) => {
              points[i].push(v);
              if (points[i].length > keep) points[i].shift();
            });
            traffic.set([points[0], points[1], points[2]]);
            latency.set([points[0], points[3], points[4]]);
            trafficEl.dataset.max = String(Math.max(0, ...points[1]));
          }
        }
        prev = cur;
      } catch (e) {
        if (e.status === 401) return;
        replace(problem, notice('error', 'Metrics unavailable: ' + e.message));
      }
      if (!stopped) timer = setTimeout(tick, interval);
    };
    await tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
      traffic.destroy();
      latency.destroy();
    };
  },
};
