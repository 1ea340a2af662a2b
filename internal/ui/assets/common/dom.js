// DOM helpers: elements are built with text nodes, never from HTML strings,
// so data from the gateway is never parsed as markup.

// h creates an element: attributes (on* are listeners; class, dataset and
// boolean properties are set as such) and children (strings become text;
// arrays are flattened; null and false are skipped).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// replace empties el and appends children.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

// table builds an accessible table: caption, header cells with scope,
// rows of cells (a cell is content or {v: content, num: true}).
export function table(caption, headers, rows, attrs) {
  const head = h('tr', null, headers.map((x) => {
    const c = typeof x === 'object' ? x : { v: x };
    return h('th', { scope: 'col', class: c.num ? 'num' : null }, c.v);
  }));
  const body = rows.map((r) => h('tr', null, r.map((x, i) => {
    const c = x !== null && typeof x === 'object' && !(x instanceof Node) && !Array.isArray(x) ? x : { v: x };
    const tag = i === 0 ? 'th' : 'td';
    return h(tag, { scope: i === 0 ? 'row' : null, class: c.num ? 'num' : null }, c.v);
  })));
  return h('div', { class: 'table-wrap' },
    h('table', attrs, caption ? h('caption', null, caption) : null, h('thead', null, head), h('tbody', null, body)));
}

// notice is a message box; errors are announced at once (role=alert).
export function notice(kind, ...children) {
  return h('div', { class: 'notice ' + kind, role: kind === 'error' ? 'alert' : 'status' }, ...children);
}

// badge shows a state with a colour and its word (never colour alone).
export function badge(text, kind) {
  return h('span', { class: 'badge ' + kind }, text);
}

// confirmButton is a destructive button that asks again in place (no
// modal dialog): the first press shows the question with Confirm and
// Cancel.
export function confirmButton(text, label, question, id, action) {
  const box = h('span', { class: 'confirm' });
  const ask = () => {
    const yes = h('button', { type: 'button', class: 'danger', id: 'confirm-' + id, onclick: async () => { yes.disabled = true; await action(); } }, 'Confirm');
    replace(box, h('span', { role: 'alert' }, question + ' '), yes, ' ',
      h('button', { type: 'button', class: 'secondary', onclick: () => { replace(box, first); first.focus(); } }, 'Cancel'));
    yes.focus();
  };
  const first = h('button', { type: 'button', class: 'danger', id, 'aria-label': label, onclick: ask }, text);
  box.append(first);
  return box;
}
