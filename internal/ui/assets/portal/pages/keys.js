// API keys: the consumer's keys (id and prefix, never the secret), a new
// key shown once, and revoking one's own keys.
import { api } from '../../common/api.js';
import { h, table, replace, notice, badge, confirmButton } from '../../common/dom.js';
import { time } from '../../common/format.js';

export default {
  title: 'API keys',
  async render(main, { signOut }) {
    const box = h('div', { id: 'keys' });
    const draw = async (created, message) => {
      const { keys } = await api('/portal/api/keys');
      const status = h('div');
      const rows = keys.map((k) => [h('code', null, k.id), h('code', null, 'gk_' + k.prefix + '…'), time(k.created_at),
        [k.revoked_at ? badge('revoked ' + time(k.revoked_at), 'bad') : badge('active', 'ok'), k.current ? ' (signed in with)' : ''],
        k.revoked_at || k.source !== 'api' ? (k.source !== 'api' && !k.revoked_at ? h('span', { class: 'muted' }, 'set by the operator') : '')
          : confirmButton('Revoke', 'Revoke key ' + k.id,
            k.current ? `Revoke ${k.id}? You signed in with it: this signs you out.` : `Revoke ${k.id}? Requests with it are refused within a second.`,
            'revoke-' + k.id, async () => {
              try {
                await api('/portal/api/keys/' + encodeURIComponent(k.id), { method: 'DELETE' });
              } catch (e) {
                replace(status, notice('error', 'Revoking failed: ' + e.message));
                return;
              }
              if (k.current) signOut();
              else await draw(null, `Key ${k.id} revoked.`);
            })]);
      replace(box,
        created ? notice('success',
          h('p', null, h('strong', null, 'New key. '), 'Copy it now: it is shown this once and cannot be read again.'),
          h('div', { class: 'secret' }, h('output', { id: 'new-key', tabindex: '-1', 'aria-label': 'New API key' }, created.key),
            h('button', { type: 'button', class: 'secondary', onclick: () => navigator.clipboard && navigator.clipboard.writeText(created.key) }, 'Copy'))) : null,
        message ? notice('success', message) : null,
        status,
        table('Your API keys (a key itself is never shown again)', ['Key id', 'Prefix', 'Created', 'State', ''], rows, { id: 'keys-table' }),
        h('p', null, h('button', { type: 'button', id: 'create-key', onclick: async () => {
          try {
            await draw(await api('/portal/api/keys', { method: 'POST' }));
            box.querySelector('#new-key').focus();
          } catch (e) {
            replace(status, notice('error', 'Creating a key failed: ' + e.message));
          }
        } }, 'Create a key')));
    };
    main.append(h('p', null, 'To rotate a key: create a new one, switch your clients to it, then revoke the old one.'), box);
    await draw();
    return null;
  },
};
