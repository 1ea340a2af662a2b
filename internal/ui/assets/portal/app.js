// The consumer portal: sign-in with an API key (or a token), and a hash
// router over the consumer's own pages. Everything shown comes from
// /portal/api/..., which answers about the signed-in consumer only.
import { api, setCSRF, whenUnauthorized } from '../common/api.js';
import { h, replace, notice } from '../common/dom.js';
import { router } from '../common/router.js';
import plan from './pages/plan.js';
import usage from './pages/usage.js';
import invoices from './pages/invoices.js';
import keys from './pages/keys.js';

const pages = { plan, usage, invoices, keys };
const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
const signOutButton = document.getElementById('sign-out');
// site is portal.title, as the server wrote it into the page.
const site = document.getElementById('brand').textContent;
let signedIn = false;
const pager = router({
  pages, fallback: 'plan', main, site,
  links: () => nav.querySelectorAll('a'),
  context: { signOut: () => signInForm('The key you signed in with is revoked: sign in with another one.') },
});

function signInForm(message, jwt) {
  pager.stop();
  signedIn = false;
  setCSRF('');
  signOutButton.hidden = true;
  nav.hidden = true;
  who.textContent = '';
  const kind = h('select', { id: 'credential-kind', name: 'kind' },
    h('option', { value: 'key' }, 'API key'), h('option', { value: 'token' }, 'Token (JWT)'));
  const input = h('input', { id: 'credential', name: 'credential', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' });
  const status = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'stack', id: 'sign-in', onsubmit: async (e) => {
    e.preventDefault();
    const body = kind.value === 'token' ? { token: input.value.trim() } : { key: input.value.trim() };
    try {
      const s = await api('/portal/api/session', { method: 'POST', body, quiet401: true });
      input.value = '';
      await signedInAs(s);
    } catch (err) {
      const text = err.status === 401 ? 'That key or token is not valid.'
        : err.status === 429 ? 'Too many failed attempts from this address: wait a minute and try again.'
          : 'Sign-in failed: ' + err.message;
      replace(status, notice('error', text));
      input.value = '';
      input.focus();
    }
  } },
  jwt ? h('div', { class: 'field' }, h('label', { for: 'credential-kind' }, 'Sign in with'), kind) : null,
  h('div', { class: 'field' }, h('label', { for: 'credential' }, jwt ? 'API key or token' : 'API key'), input),
  h('button', { type: 'submit' }, 'Sign in'));
  replace(main, h('h1', null, 'Sign in'),
    h('p', null, 'Sign in with one of your API keys to see your plan, remaining quota, usage and invoices, and to manage your keys. The key is checked once and not stored by the page or the session.'),
    message ? notice('error', message) : null, form, status);
  document.title = 'Sign in · ' + site;
  input.focus();
}

async function signedInAs(s) {
  setCSRF(s.csrf_token);
  signedIn = true;
  signOutButton.hidden = false;
  nav.hidden = false;
  who.textContent = 'Signed in as ' + s.consumer;
  await pager.show();
  main.focus();
}

signOutButton.addEventListener('click', async () => {
  try {
    await api('/portal/api/session', { method: 'DELETE' });
  } finally {
    signInForm();
  }
});

let jwtOffered = false;
whenUnauthorized(() => {
  if (signedIn || !document.getElementById('sign-in')) signInForm(signedIn ? 'Your session has ended; sign in again.' : null, jwtOffered);
});

async function start() {
  let s;
  try {
    s = await api('/portal/api/session', { quiet401: true });
  } catch (err) {
    replace(main, h('h1', null, site), notice('error', 'The portal did not answer: ' + err.message));
    return;
  }
  jwtOffered = s.jwt;
  if (!s.signed_in) {
    signInForm(null, s.jwt);
    return;
  }
  await signedInAs(s);
}

start();
