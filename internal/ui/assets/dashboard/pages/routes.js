// Routes: how each route matches, where it goes, its auth and limits
// (from the running config) and its traffic since the gateway started.
import { api } from '../../common/api.js';
import { h, table } from '../../common/dom.js';
import { num, pct, ms } from '../../common/format.js';
import { quantile } from '../../common/metrics.js';

function matchOf(r) {
  const parts = [];
  if (r.hosts && r.hosts.length) parts.push('host ' + r.hosts.join(', '));
  if (r.path) parts.push('path ' + r.path);
  if (r.path_prefix) parts.push('prefix ' + r.path_prefix);
  if (r.methods && r.methods.length) parts.push(r.methods.join(' '));
  if (r.headers && Object.keys(r.headers).length) parts.push('headers ' + Object.keys(r.headers).join(', '));
  if (r.version) parts.push('version ' + r.version);
  return parts.length ? h('code', null, parts.join(' · ')) : h('span', { class: 'muted' }, 'everything');
}

function authOf(c) {
  if (!c || !c.auth || !c.auth.length) return h('span', { class: 'muted' }, 'none');
  const groups = c.allow_groups && c.allow_groups.length ? ' (groups ' + c.allow_groups.join(', ') + ')' : '';
  return c.auth.join(', ') + groups;
}

function limitsOf(c) {
  const out = [];
  if (c && c.rate_limit) {
    const rl = c.rate_limit;
    out.push(`${rl.requests} per ${rl.per || '?'}` + (rl.burst ? `, burst ${rl.burst}` : '') + (rl.key ? ` by ${rl.key}` : ''));
  }
  if (c && c.max_body_bytes) out.push('body ≤ ' + c.max_body_bytes);
  return out.length ? out.join('; ') : h('span', { class: 'muted' }, 'none');
}

export default {
  title: 'Routes',
  async render(main) {
    const [rs, cfg, sum] = await Promise.all([api('/admin/routes'), api('/admin/config'), api('/admin/metrics/summary')]);
    const conf = new Map((cfg.routes || []).map((r) => [r.name, r]));
    const traffic = new Map(sum.routes.map((r) => [r.route, r]));
    const rows = rs.routes.map((r) => {
      const t = traffic.get(r.name) || { requests: 0, errors: 0 };
      return [
        r.name,
        matchOf(r),
        r.upstream || (conf.get(r.name) && conf.get(r.name).aggregate ? 'aggregate' : '–'),
        authOf(conf.get(r.name)),
        limitsOf(conf.get(r.name)),
        { v: num(t.requests), num: true },
        { v: t.requests ? pct(t.errors / t.requests) : '–', num: true },
        { v: t.duration ? ms(quantile(0.99, t.duration)) : '–', num: true },
      ];
    });
    main.append(
      h('p', { class: 'muted' }, `${rs.routes.length} routes in configuration order. Traffic counts since the gateway started.`),
      table('Running routes', ['Route', 'Match', 'Upstream', 'Auth', 'Limits', { v: 'Requests', num: true }, { v: '5xx', num: true }, { v: 'p99', num: true }], rows, { id: 'routes-table' }),
    );
    return null;
  },
};
