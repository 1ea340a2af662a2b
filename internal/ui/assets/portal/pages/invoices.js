// Invoices: the consumer's invoice for a month, from its plan's pricing.
import { api } from '../../common/api.js';
import { h, table, replace, notice } from '../../common/dom.js';
import { num } from '../../common/format.js';

export default {
  title: 'Invoices',
  async render(main) {
    const out = h('div', { id: 'invoice' });
    const now = new Date();
    const month = h('input', { id: 'invoice-period', name: 'period', type: 'month', required: true,
      value: `${now.getUTCFullYear()}-${String(now.getUTCMonth() + 1).padStart(2, '0')}` });
    const load = async () => {
      let inv;
      try {
        inv = await api('/portal/api/invoices?period=' + encodeURIComponent(month.value));
      } catch (e) {
        replace(out, notice('error', e.message));
        return;
      }
      const cur = inv.currency ? ' ' + inv.currency : '';
      replace(out, h('section', { class: 'panel' },
        h('h2', null, `Invoice for ${inv.period}`),
        h('p', { class: 'muted' }, `Plan ${inv.plan || 'none'} · ${num(inv.usage.requests)} requests, ${num(inv.usage.billable)} billable, ${num(inv.usage.units)} units`),
        inv.lines.length ? table('Lines', ['Item', { v: 'Quantity', num: true }, { v: 'Amount', num: true }],
          inv.lines.map((l) => [l.item.replace('_', ' '), { v: l.quantity === undefined ? '' : num(l.quantity), num: true }, { v: l.amount + cur, num: true }]), { id: 'invoice-lines' })
          : h('p', null, 'Your plan has no pricing: nothing to invoice.'),
        h('p', null, h('strong', null, 'Total: '), h('span', { id: 'invoice-total' }, inv.total + cur))));
    };
    main.append(h('form', { class: 'inline', id: 'invoice-form', onsubmit: (e) => { e.preventDefault(); load(); } },
      h('div', { class: 'field' }, h('label', { for: 'invoice-period' }, 'Month (UTC)'), month),
      h('button', { type: 'submit' }, 'Show')), out);
    await load();
    return null;
  },
};
