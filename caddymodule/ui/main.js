// The page's entry point: signing in and out, the caller's summary, and
// the hash routes #/apps, #/spaces/<id> and #/admin.

import { api, identity, token, onUnauthorized, clearErrors, showError, report, ApiError } from './api.js';
import { renderApps, renderSpace } from './spaces.js';
import { renderAdmin } from './admin.js';

const $ = (id) => document.getElementById(id);

/** The caller as GET /me describes them, once signed in. */
let me = null;

function showOnly(id) {
  for (const view of ['loading', 'signin-view', 'off-view', 'signed-in']) $(view).hidden = view !== id;
  $('nav').hidden = id !== 'signed-in';
  $('signout').hidden = id !== 'signed-in' || identity !== 'jwt';
}

/** Back to the sign-in form, forgetting the token, with a reason if any. */
function signOut(reason) {
  token.clear();
  me = null;
  clearErrors();
  const dialog = $('share');
  if (dialog.open) dialog.close();
  $('view').replaceChildren();
  $('signin-error').textContent = reason || '';
  showOnly('signin-view');
  $('token').focus();
}

async function signIn(event) {
  // The page's CSP has form-action 'none': the form is never submitted
  // anywhere, the token goes only into the Authorization header.
  event.preventDefault();
  const input = $('token');
  const value = input.value.trim().replace(/^Bearer\s+/i, '');
  if (!value) {
    $('signin-error').textContent = 'Paste your access token first.';
    input.focus();
    return;
  }
  $('signin-error').textContent = '';
  token.set(value);
  input.value = '';
  await loadMe();
  // The form is gone: give focus to what replaced it.
  if (me) focusHeading();
}

async function loadMe() {
  clearErrors();
  try {
    me = await api('GET', '/me');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return; // handled by onUnauthorized
    // The gateway or the store is unreachable: say so, and let a jwt
    // user try again (the token is kept, a reload retries it).
    showOnly(identity === 'jwt' ? 'signin-view' : '');
    showError(err);
    return;
  }
  renderMe();
  showOnly('signed-in');
  await route();
}

function renderMe() {
  const p = me.permissions || {};
  $('me-user').textContent = me.user;
  $('me-roles').textContent = me.tenant_roles.length ? me.tenant_roles.join(', ') : 'None';
  const allowed = me.public_link_creation === 'allowed';
  $('me-plc').textContent = allowed ? 'Allowed' : 'Denied';
  $('me-plc').className = allowed ? 'badge on' : 'badge off';
  $('nav-admin').hidden = !(p.manage_roles || p.view_capacity || p.view_audit);
}

/** Renders the view the address names, into a fresh container. */
async function route() {
  if (!me) return;
  clearErrors();
  const hash = location.hash.replace(/^#\/?/, '');
  const [name, arg] = hash.split('/').map((s) => decodeURIComponent(s || ''));
  const view = document.createElement('div');
  $('view').replaceChildren(view);
  for (const link of $('nav').querySelectorAll('a')) {
    const current = link.dataset.route === (name === 'admin' ? 'admin' : 'apps');
    if (current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  try {
    if (name === 'spaces' && arg) {
      document.title = 'Space — Anonymous access';
      await renderSpace(view, arg);
    } else if (name === 'admin') {
      document.title = 'Administration — Anonymous access';
      await renderAdmin(view, me);
    } else {
      document.title = 'Apps — Anonymous access';
      await renderApps(view, me);
    }
  } catch (err) {
    report(err);
  }
}

/** Moves focus to a new view's heading, so screen readers announce it. */
function focusHeading() {
  const heading = $('view').querySelector('h1');
  if (heading) heading.focus({ preventScroll: false });
}

function start() {
  $('signin-form').addEventListener('submit', signIn);
  // The skip link must not change the hash: the hash is the route.
  document.querySelector('.skip-link').addEventListener('click', (event) => {
    event.preventDefault();
    $('main').focus();
  });
  $('signout').addEventListener('click', () => signOut('You are signed out.'));
  window.addEventListener('hashchange', async () => {
    await route();
    focusHeading();
  });
  onUnauthorized(() => {
    if (identity === 'jwt') {
      signOut('The access token was not accepted: it may have expired, or be meant for another service. Sign in with a new one.');
    } else {
      showError(new Error('The gateway did not recognise you. Sign in again through your organisation, then reload this page.'));
    }
  });
  if (identity === 'none' || !['jwt', 'header'].includes(identity)) {
    showOnly('off-view');
    return;
  }
  if (identity === 'jwt' && !token.get()) {
    showOnly('signin-view');
    return;
  }
  loadMe();
}

start();
