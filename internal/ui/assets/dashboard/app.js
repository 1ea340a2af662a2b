// The operator dashboard: a hash router over the pages, and sign-in with
// the admin token when the gateway has one.
import { api, setCSRF, whenUnauthorized } from '../common/api.js';
import { h, replace, notice } from '../common/dom.js';
import { router } from '../common/router.js';
import overview from './pages/overview.js';
import routes from './pages/routes.js';
import upstreams from './pages/upstreams.js';
import consumers from './pages/consumers.js';
import usage from './pages/usage.js';
import invoices from './pages/invoices.js';
import config from './pages/config.js';

const pages = { overview, routes, upstreams, consumers, usage, invoices, config };
const main = document.getElementById('main');
const signOutButton = document.getElementById('sign-out');
let signedIn = false;
const pager = router({
  pages, fallback: 'overview', main, site: 'Gantry dashboard',
  links: () => document.querySelectorAll('nav.main a'),
});

function signInForm(message) {
  pager.stop();
  signedIn = false;
  signOutButton.hidden = true;
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'current-password', required: true });
  const status = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'stack', id: 'sign-in', onsubmit: async (e) => {
    e.preventDefault();
    try {
      const s = await api('/admin/session', { method: 'POST', body: { token: input.value }, quiet401: true });
      input.value = '';
      await signedInAs(s);
    } catch (err) {
      replace(status, notice('error', err.status === 401 ? 'That is not the admin token.' : 'Sign-in failed: ' + err.message));
      input.value = '';
      input.focus();
    }
  } },
  h('div', { class: 'field' }, h('label', { for: 'token' }, 'Admin token'), input),
  h('button', { type: 'submit' }, 'Sign in'));
  replace(main, h('h1', null, 'Sign in'),
    h('p', null, 'This gateway has an admin token (admin.token). Enter it to open the dashboard; it is exchanged for a session cookie and not stored by the page.'),
    message ? notice('error', message) : null, form, status);
  document.title = 'Sign in · Gantry dashboard';
  input.focus();
}

async function signedInAs(s) {
  setCSRF(s.csrf_token);
  signedIn = s.signed_in;
  signOutButton.hidden = !s.signed_in;
  await pager.show();
  main.focus();
}

signOutButton.addEventListener('click', async () => {
  try {
    await api('/admin/session', { method: 'DELETE' });
  } finally {
    setCSRF('');
    signInForm();
  }
});

whenUnauthorized(() => {
  if (signedIn || !document.getElementById('sign-in')) signInForm(signedIn ? 'Your session has ended; sign in again.' : null);
});

async function start() {
  let s;
  try {
    s = await api('/admin/session', { quiet401: true });
  } catch (err) {
    replace(main, h('h1', null, 'Gantry dashboard'), notice('error', 'The admin API did not answer: ' + err.message));
    return;
  }
  if (s.token_required && !s.signed_in) {
    signInForm();
    return;
  }
  await signedInAs(s);
}

start();
