// Consumers: the list, creating one, and its API keys: create (the key is
// shown once) and revoke.
import { api } from '../../common/api.js';
import { h, table, replace, notice, badge, confirmButton } from '../../common/dom.js';
import { time } from '../../common/format.js';

export default {
  title: 'Consumers',
  async render(main) {
    const [list, cfg] = await Promise.all([api('/admin/consumers'), api('/admin/config')]);
    const plans = Object.keys(cfg.plans || {}).sort();
    const listBox = h('div', { id: 'consumers' });
    const detail = h('section', { class: 'panel', id: 'consumer-detail', 'aria-live': 'polite', hidden: true });
    const msg = h('div');

    const drawList = (consumers) => replace(listBox, table(`${consumers.length} consumers`,
      ['Consumer', 'Plan', 'Groups', 'Source', 'Created', 'Keys'],
      consumers.map((c) => [c.id, c.plan || h('span', { class: 'muted' }, 'none'), (c.groups || []).join(', '),
        c.source, time(c.created_at),
        h('button', { type: 'button', class: 'secondary', 'aria-label': 'Keys of ' + c.id, onclick: () => openConsumer(c.id) }, 'Keys')]),
      { id: 'consumers-table' }));

    const reloadList = async () => drawList((await api('/admin/consumers')).consumers);

    // openConsumer shows a consumer's keys, and the plaintext of a key
    // just made (once: it is never fetched again).
    const openConsumer = async (id, created) => {
      const c = await api('/admin/consumers/' + encodeURIComponent(id));
      const status = h('div');
      const keys = c.keys.map((k) => [h('code', null, k.id), h('code', null, 'gk_' + k.prefix + '…'), time(k.created_at),
        k.revoked_at ? badge('revoked ' + time(k.revoked_at), 'bad') : badge('active', 'ok'),
        k.revoked_at ? '' : confirmButton('Revoke', 'Revoke key ' + k.id, `Revoke ${k.id}? Requests with it are refused within a second.`, 'revoke-' + k.id, async () => {
          try {
            await api(`/admin/consumers/${encodeURIComponent(id)}/keys/${encodeURIComponent(k.id)}`, { method: 'DELETE' });
            await openConsumer(id);
            detail.querySelector('#key-status').replaceChildren(notice('success', `Key ${k.id} revoked.`));
          } catch (e) {
            replace(status, notice('error', 'Revoking failed: ' + e.message));
          }
        })]);
      replace(detail,
        h('h2', { id: 'detail-title', tabindex: '-1' }, 'Consumer ' + c.id),
        h('p', { class: 'muted' }, `Plan ${c.plan || 'none'} · source ${c.source}`),
        created ? notice('success',
          h('p', null, h('strong', null, 'New key for ' + id + '. '), 'Copy it now: it is shown this once and cannot be read again.'),
          h('div', { class: 'secret' }, h('output', { id: 'new-key', 'aria-label': 'New API key' }, created.key),
            h('button', { type: 'button', class: 'secondary', onclick: () => navigator.clipboard && navigator.clipboard.writeText(created.key) }, 'Copy'))) : null,
        h('div', { id: 'key-status' }),
        status,
        table('API keys (the key itself is never shown again)', ['Key id', 'Prefix', 'Created', 'State', ''], keys, { id: 'keys-table' }),
        h('p', null, h('button', { type: 'button', id: 'create-key', onclick: async () => {
          try {
            const k = await api(`/admin/consumers/${encodeURIComponent(id)}/keys`, { method: 'POST' });
            await openConsumer(id, k);
          } catch (e) {
            replace(status, notice('error', 'Creating a key failed: ' + e.message));
          }
        } }, 'Create key'),
        ' ',
        c.source === 'api' ? confirmButton('Delete consumer', 'Delete consumer ' + id, `Delete ${id} and revoke its keys?`, 'delete-consumer', async () => {
          try {
            await api('/admin/consumers/' + encodeURIComponent(id), { method: 'DELETE' });
            detail.hidden = true;
            await reloadList();
            replace(msg, notice('success', `Consumer ${id} deleted.`));
          } catch (e) {
            replace(status, notice('error', 'Deleting failed: ' + e.message));
          }
        }) : h('span', { class: 'muted' }, 'Defined in the config file: change it there.')));
      detail.hidden = false;
      if (!created) detail.querySelector('#detail-title').focus();
    };

    const idInput = h('input', { id: 'new-id', name: 'id', required: true, pattern: '[A-Za-z0-9._\\-]+', autocomplete: 'off' });
    const planSelect = h('select', { id: 'new-plan', name: 'plan' }, h('option', { value: '' }, 'none'), plans.map((p) => h('option', { value: p }, p)));
    const groupsInput = h('input', { id: 'new-groups', name: 'groups', placeholder: 'partners, trial', autocomplete: 'off' });
    const form = h('form', { class: 'inline', id: 'create-consumer', onsubmit: async (e) => {
      e.preventDefault();
      const groups = groupsInput.value.split(',').map((s) => s.trim()).filter(Boolean);
      try {
        const c = await api('/admin/consumers', { method: 'POST', body: { id: idInput.value.trim(), plan: planSelect.value, groups } });
        form.reset();
        await reloadList();
        replace(msg, notice('success', `Consumer ${c.id} created.`));
        await openConsumer(c.id);
      } catch (err) {
        replace(msg, notice('error', 'Creating the consumer failed: ' + err.message));
      }
    } },
    h('div', { class: 'field' }, h('label', { for: 'new-id' }, 'Consumer id'), idInput),
    h('div', { class: 'field' }, h('label', { for: 'new-plan' }, 'Plan'), planSelect),
    h('div', { class: 'field' }, h('label', { for: 'new-groups' }, 'Groups (comma-separated)'), groupsInput),
    h('button', { type: 'submit' }, 'Create consumer'));

    main.append(h('h2', null, 'New consumer'), form, msg, listBox, detail);
    drawList(list.consumers);
    return null;
  },
};
