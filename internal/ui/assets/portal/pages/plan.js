// Plan and quota: the consumer's plan, its limits, and what is left of
// them right now (read from the gateway's counters without using any).
import { api } from '../../common/api.js';
import { h, table, notice } from '../../common/dom.js';
import { num, time } from '../../common/format.js';

function left(v) {
  return v === undefined || v === null ? '–' : num(v);
}

export default {
  title: 'Plan and quota',
  async render(main) {
    const me = await api('/portal/api/me');
    const l = me.limits;
    const rows = [];
    if (l.rate_limit) rows.push(['Rate limit', `${num(l.rate_limit.amount)} requests per ${l.rate_limit.per} (burst ${num(l.rate_limit.burst)})`, { v: left(l.rate_limit.remaining), num: true }, 'refills continuously']);
    if (l.quota) rows.push(['Quota', `${num(l.quota.amount)} requests per ${l.quota.per} (UTC)`, { v: h('span', { id: 'quota-remaining' }, left(l.quota.remaining)), num: true }, time(l.quota.resets_at)]);
    if (l.token_limit) rows.push(['Token limit', `${num(l.token_limit.amount)} tokens per ${l.token_limit.per}`, { v: left(l.token_limit.remaining), num: true }, 'refills continuously']);
    if (l.token_quota) rows.push(['Token quota', `${num(l.token_quota.amount)} tokens per ${l.token_quota.per} (UTC)`, { v: h('span', { id: 'token-quota-remaining' }, left(l.token_quota.remaining)), num: true }, time(l.token_quota.resets_at)]);
    const quotaBar = l.quota && l.quota.remaining !== undefined
      ? h('p', null, h('label', { for: 'quota-meter' }, `Quota used: ${num(l.quota.used)} of ${num(l.quota.amount)} `),
        h('meter', { id: 'quota-meter', min: 0, max: l.quota.amount, value: l.quota.used, low: l.quota.amount * 0.75, high: l.quota.amount * 0.9, optimum: 0 }))
      : null;
    main.append(
      h('section', { class: 'panel' },
        h('h2', null, 'Your plan'),
        h('p', null, 'Consumer ', h('strong', { id: 'consumer-id' }, me.consumer), ' on plan ',
          h('strong', { id: 'plan-name' }, me.plan || 'none'),
          me.groups.length ? ' · groups ' + me.groups.join(', ') : ''),
        rows.length
          ? table('Limits and what is left of them', ['Limit', 'Allowance', { v: 'Remaining now', num: true }, 'Resets'], rows, { id: 'limits-table' })
          : h('p', null, 'Your plan sets no rate limit or quota.'),
        quotaBar,
        l.degraded ? notice('warning', 'The counters cannot be read right now: limits are shown without what is left of them.') : null));
    return null;
  },
};
