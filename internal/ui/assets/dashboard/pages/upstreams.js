// Upstreams: every target with its health, passive ejection and latency
// estimate, refreshed every few seconds.
import { api } from '../../common/api.js';
import { h, table, badge, replace, notice } from '../../common/dom.js';
import { num, time } from '../../common/format.js';

const interval = 3000;

function stateOf(t) {
  switch (t.state) {
    case 'healthy': return badge('healthy', 'ok');
    case 'ejected': return h('span', null, badge('ejected', 'warn'), ' until ', time(t.ejected_until));
    default: return badge(t.state, 'bad');
  }
}

function draw(box, ups) {
  replace(box, ups.map((u) => {
    const healthy = u.targets.filter((t) => t.state === 'healthy').length;
    return h('section', { class: 'panel', 'aria-labelledby': 'up-' + u.name, dataset: { upstream: u.name } },
      h('h2', { id: 'up-' + u.name }, u.name),
      h('p', { class: 'muted' }, `${healthy} of ${u.targets.length} targets healthy · balancer ${u.balancer} · retries ${u.retries}`),
      table(null, ['Target', { v: 'Weight', num: true }, 'State', { v: 'In flight', num: true }, { v: 'Latency (EWMA)', num: true }],
        u.targets.map((t) => [h('code', null, t.url), { v: num(t.weight), num: true }, stateOf(t), { v: num(t.in_flight), num: true }, { v: t.ewma_ms ? num(t.ewma_ms) + ' ms' : '–', num: true }])));
  }));
}

export default {
  title: 'Upstreams',
  async render(main) {
    const box = h('div', { id: 'upstreams' });
    const problem = h('div');
    main.append(h('p', { class: 'muted' }, `Health from active checks and passive ejection; updated every ${interval / 1000} s.`), problem, box);
    draw(box, (await api('/admin/upstreams')).upstreams);
    const timer = setInterval(async () => {
      try {
        draw(box, (await api('/admin/upstreams')).upstreams);
        replace(problem);
      } catch (e) {
        if (e.status !== 401) replace(problem, notice('error', 'Could not refresh: ' + e.message));
      }
    }, interval);
    return () => clearInterval(timer);
  },
};
