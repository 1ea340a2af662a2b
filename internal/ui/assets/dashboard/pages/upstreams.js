// Upstreams: every target with its health, passive ejection and latency
// estimate, refreshed every few seconds.
import { api } from '../../common/api.js';
import { h, table, badge, replace, notice } from '../../common/dom.js';
import { num, pct, ms, time } from '../../common/format.js';
import { quantile } from '../../common/metrics.js';

const interval = 3000;

function stateOf(t) {
  switch (t.state) {
    case 'healthy': return badge('healthy', 'ok');
    case 'ejected': return h('span', null, badge('ejected', 'warn'), ' until ', time(t.ejected_until));
    default: return badge(t.state, 'bad');
  }
}

async function load() {
  const [ups, sum] = await Promise.all([api('/admin/upstreams'), api('/admin/metrics/summary')]);
  const traffic = new Map(sum.targets.map((t) => [t.upstream + ' ' + t.target, t]));
  return { ups: ups.upstreams, traffic };
}

function draw(box, { ups, traffic }) {
  replace(box, ups.map((u) => {
    const healthy = u.targets.filter((t) => t.state === 'healthy').length;
    return h('section', { class: 'panel', 'aria-labelledby': 'up-' + u.name, dataset: { upstream: u.name } },
      h('h2', { id: 'up-' + u.name }, u.name),
      h('p', { class: 'muted' }, `${healthy} of ${u.targets.length} targets healthy · balancer ${u.balancer} · retries ${u.retries}`),
      table(null, ['Target', { v: 'Weight', num: true }, 'State', { v: 'In flight', num: true }, { v: 'Attempts', num: true },
        { v: 'Failed', num: true }, { v: 'Ejections', num: true }, { v: 'p99', num: true }, { v: 'EWMA', num: true }],
      u.targets.map((t) => {
        const m = traffic.get(u.name + ' ' + t.url) || { attempts: 0, failures: 0, ejections: 0, duration: { count: 0, buckets: [] } };
        return [h('code', null, t.url), { v: num(t.weight), num: true }, stateOf(t), { v: num(t.in_flight), num: true },
          { v: num(m.attempts), num: true }, { v: m.attempts ? pct(m.failures / m.attempts) : '–', num: true },
          { v: num(m.ejections), num: true }, { v: ms(quantile(0.99, m.duration)), num: true },
          { v: t.ewma_ms ? num(t.ewma_ms) + ' ms' : '–', num: true }];
      })));
  }));
}

export default {
  title: 'Upstreams',
  async render(main) {
    const box = h('div', { id: 'upstreams' });
    const problem = h('div');
    main.append(h('p', { class: 'muted' }, `Health from active checks and passive ejection, now; attempts, failures (5xx or no answer), ejections and p99 latency since the gateway started. Updated every ${interval / 1000} s.`), problem, box);
    draw(box, await load());
    const timer = setInterval(async () => {
      try {
        draw(box, await load());
        replace(problem);
      } catch (e) {
        if (e.status !== 401) replace(problem, notice('error', 'Could not refresh: ' + e.message));
      }
    }, interval);
    return () => clearInterval(timer);
  },
};
