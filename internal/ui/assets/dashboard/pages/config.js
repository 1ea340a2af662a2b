// Config: the running configuration (secrets redacted by the gateway), the
// last reload, and a reload button whose problems are listed at their
// lines.
import { api } from '../../common/api.js';
import { h, table, replace, notice } from '../../common/dom.js';
import { time } from '../../common/format.js';

function reloadResult(r) {
  if (r.ok) {
    return notice('success', h('p', null, `Reloaded at ${time(r.at)}: generation ${r.generation} is in force.`),
      r.restart_required && r.restart_required.length
        ? h('p', null, 'Changed sections that need a restart: ' + r.restart_required.join(', ') + '.') : null);
  }
  const problems = r.problems || [];
  return notice('error',
    h('p', null, `Reload refused at ${time(r.at)}; generation ${r.generation} keeps serving.`),
    problems.length
      ? table(problems.length === 1 ? '1 problem' : `${problems.length} problems`, ['Line', 'File', 'Key', 'Problem'],
        problems.map((p) => [p.line ? String(p.line) : '–', p.file || '', h('code', null, p.path || ''), p.message]), { id: 'reload-problems' })
      : h('p', null, r.error));
}

export default {
  title: 'Config',
  async render(main) {
    const [status, cfg] = await Promise.all([api('/admin/status'), api('/admin/config')]);
    const result = h('div', { id: 'reload-result' });
    if (status.last_reload) result.append(h('h2', null, 'Last reload'), reloadResult({ ...status.last_reload, generation: status.generation }));
    const button = h('button', { type: 'button', id: 'reload', onclick: async () => {
      button.disabled = true;
      try {
        const r = await api('/admin/reload', { method: 'POST' });
        replace(result, h('h2', null, 'Reload'), reloadResult(r));
        replace(pre, JSON.stringify(await api('/admin/config'), null, 2));
      } catch (e) {
        replace(result, h('h2', null, 'Reload'), e.body && e.body.ok === false ? reloadResult(e.body) : notice('error', 'Reload failed: ' + e.message));
      } finally {
        button.disabled = false;
      }
    } }, 'Reload from file');
    const pre = h('pre', { class: 'config', id: 'running-config', tabindex: '0', 'aria-label': 'Running configuration, JSON' }, JSON.stringify(cfg, null, 2));
    main.append(
      h('p', { class: 'muted' }, `Generation ${status.generation}, loaded ${time(status.loaded_at)} from ${status.config_file || 'the command line'}.`),
      h('p', null, button, ' ', h('span', { class: 'muted' }, 'Re-reads the file, as SIGHUP does; a file with problems changes nothing.')),
      result,
      h('h2', null, 'Running configuration'),
      h('p', { class: 'muted' }, 'Defaults filled in; secrets (tokens, keys, passwords) are shown as [redacted] and never leave the gateway.'),
      pre);
    return null;
  },
};
