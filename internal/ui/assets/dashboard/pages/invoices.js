// Invoices: a consumer's invoice for a month, from its plan's pricing.
import { api } from '../../common/api.js';
import { h, table, replace, notice } from '../../common/dom.js';
import { num } from '../../common/format.js';

export default {
  title: 'Invoices',
  async render(main) {
    const { consumers } = await api('/admin/consumers');
    const out = h('div', { id: 'invoice' });
    if (!consumers.length) {
      main.append(h('p', null, 'No consumers yet.'));
      return null;
    }
    const now = new Date();
    const consumer = h('select', { id: 'invoice-consumer', name: 'consumer' }, consumers.map((c) => h('option', { value: c.id }, c.id)));
    const month = h('input', { id: 'invoice-period', name: 'period', type: 'month', required: true,
      value: `${now.getUTCFullYear()}-${String(now.getUTCMonth() + 1).padStart(2, '0')}` });
    const load = async () => {
      let inv;
      try {
        inv = await api(`/admin/invoices/${encodeURIComponent(consumer.value)}?period=${encodeURIComponent(month.value)}`);
      } catch (e) {
        replace(out, notice('error', e.message));
        return;
      }
      const cur = inv.currency ? ' ' + inv.currency : '';
      replace(out, h('section', { class: 'panel' },
        h('h2', null, `Invoice ${inv.consumer}, ${inv.period}`),
        h('p', { class: 'muted' }, `Plan ${inv.plan || 'none'} · ${num(inv.usage.requests)} requests, ${num(inv.usage.billable)} billable, ${num(inv.usage.units)} units`),
        inv.lines.length ? table('Lines', ['Item', { v: 'Quantity', num: true }, { v: 'Amount', num: true }],
          inv.lines.map((l) => [l.item.replace('_', ' '), { v: l.quantity === undefined ? '' : num(l.quantity), num: true }, { v: l.amount + cur, num: true }]), { id: 'invoice-lines' })
          : h('p', null, 'This plan has no pricing: nothing to invoice.'),
        h('p', null, h('strong', null, 'Total: '), h('span', { id: 'invoice-total' }, inv.total + cur))));
    };
    main.append(h('form', { class: 'inline', id: 'invoice-form', onsubmit: (e) => { e.preventDefault(); load(); } },
      h('div', { class: 'field' }, h('label', { for: 'invoice-consumer' }, 'Consumer'), consumer),
      h('div', { class: 'field' }, h('label', { for: 'invoice-period' }, 'Month (UTC)'), month),
      h('button', { type: 'submit' }, 'Show')), out);
    await load();
    return null;
  },
};
