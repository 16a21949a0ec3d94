// Veil's media library page. Everything it shows comes from the GraphQL API, asked with the token
// the user pastes (or brings in the URL fragment: /library/#token=…, which never reaches a server
// and is removed from the address bar at once).
import { gql, session, events } from './api.js';
import { h, fill, toast } from './dom.js';
import { renderBrowse } from './browse.js';
import { renderItem } from './item.js';
import { mountLive, stopLive } from './livepanel.js';

const main = document.getElementById('main');
const aside = document.getElementById('live');

const fragment = new URLSearchParams(location.hash.slice(1));
if (fragment.get('token')) {
  session.set(fragment.get('token'));
  history.replaceState(null, '', location.pathname + location.search);
}

let me = null;

async function signIn(token) {
  session.set(token);
  try {
    const d = await gql('{ me { name email isAdmin } }');
    if (!d.me) throw new Error('that token signs in nobody');
    me = d.me;
  } catch (e) {
    session.clear();
    me = null;
    throw e;
  }
}

function signOut(message) {
  session.clear();
  me = null;
  stopLive();
  document.getElementById('who').hidden = true;
  aside.hidden = true;
  aside.replaceChildren();
  document.getElementById('live-count').textContent = '';
  renderSignIn(message);
}

function renderSignIn(message) {
  document.getElementById('nav').hidden = true;
  const input = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'off', spellcheck: 'false', required: true, 'aria-describedby': 'token-help' });
  const error = h('p', { id: 'sign-in-error', class: 'error-text', role: 'alert' }, message || '');
  const form = h('form', { id: 'sign-in', class: 'sign-in' },
    h('h2', { id: 'page-h', tabindex: '-1' }, 'Sign in'),
    h('div', { class: 'field' }, h('label', { for: 'token' }, 'API token'), input),
    h('p', { id: 'token-help', class: 'note' },
      'Paste an API token (veil_tok_\u2026). ', h('code', {}, 'veil token create --admin'),
      ' prints a link that signs you in. The token is kept in this tab only (sessionStorage) and sent as a Bearer header; closing the tab forgets it.'),
    h('button', { type: 'submit' }, 'Sign in'), error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    try {
      await signIn(input.value.trim());
      start();
    } catch (err) {
      error.textContent = 'Not signed in: ' + err.message;
    }
  });
  fill(main, form);
  input.focus();
}

function start() {
  document.getElementById('who-name').textContent = `${me.name} (${me.email})`;
  document.getElementById('who').hidden = false;
  document.getElementById('nav').hidden = false;
  aside.hidden = false;
  mountLive(aside, session.token);
  route();
}

async function route() {
  if (!me) return;
  const m = location.hash.match(/^#\/(image|document)\/(.+)$/);
  if (m) await renderItem(main, m[1], decodeURIComponent(m[2]));
  else await renderBrowse(main);
  const heading = document.getElementById('page-h');
  if (heading && document.activeElement === document.body) heading.focus({ preventScroll: true });
}

window.addEventListener('hashchange', () => {
  if (!location.hash.startsWith('#/') && location.hash !== '') return; // an anchor within the page
  window.scrollTo(0, 0); route().then(() => document.getElementById('page-h')?.focus({ preventScroll: true })); });
document.getElementById('sign-out').addEventListener('click', () => signOut('Signed out.'));
events.addEventListener('unauthenticated', () => { if (me) signOut('The server refused the token (expired or revoked?). Sign in again.'); });
document.addEventListener('keydown', (e) => {
  if (e.key === '/' && !/^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName)) {
    const s = document.getElementById('f-search');
    if (s) { e.preventDefault(); s.focus(); }
  }
});

if (session.token) {
  signIn(session.token).then(start, (e) => renderSignIn('Not signed in: ' + e.message));
} else {
  renderSignIn();
}
toast('');
