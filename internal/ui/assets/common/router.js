// The hash router of both apps: "#/NAME" shows pages[NAME] (the fallback
// page when there is none) in main, marks its link in the nav, titles the
// document "Page · site" and announces it. A page's render(main, context)
// returns a stop function that ends its timers; the page shown is stopped
// before the next one renders, and by stop(). Hash changes show the page
// they name, except while the sign-in form is up ("#main" is the skip
// link's target, not a page).
import { h, replace, notice } from './dom.js';
import { ApiError } from './api.js';

export function router({ pages, fallback, main, links, site, context }) {
  let current = null; // the page shown: {stop}

  function pageName() {
    const name = location.hash.replace(/^#\/?/, '').split('?')[0];
    return pages[name] ? name : fallback;
  }

  function stop() {
    if (current && current.stop) current.stop();
    current = null;
  }

  async function show() {
    stop();
    const name = pageName();
    const page = pages[name];
    for (const a of links()) {
      if (a.getAttribute('href') === '#/' + name) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    document.title = page.title + ' · ' + site;
    replace(main, h('h1', null, page.title));
    const state = { stop: null };
    current = state;
    try {
      state.stop = await page.render(main, context);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return;
      main.appendChild(notice('error', 'Could not load this page: ' + err.message));
    }
    if (current !== state && state.stop) state.stop();
    document.getElementById('announce').textContent = page.title + ' page loaded';
  }

  window.addEventListener('hashchange', async () => {
    if (!location.hash.startsWith('#/') || document.getElementById('sign-in')) return;
    await show();
    main.focus();
  });

  return { show, stop };
}
