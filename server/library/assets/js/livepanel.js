// The live panel: privacy changes, file permission results and CDN purge results as they arrive
// (one websocket), and the items whose file permissions are outdated, with "Retry now".
import { gql, ApiError } from './api.js';
import { h, fill, time, debounce, itemHref, toast } from './dom.js';
import { Live } from './live.js';

// Other views listen here: a 'media' event (detail: {mediaId, kind}) for every result.
export const changes = new EventTarget();

const maxEvents = 100;
let live = null;

const outdatedQuery = `{ outdatedFilePermissions(first: 100) { nodes {
  mediaId privacy attempts lastError lastAttemptAt syncing media { __typename id title } } } }`;

/** The outdated entries (PUBLISH holders only), or null with the reason when they cannot be read. */
export async function outdated() {
  const d = await gql(outdatedQuery);
  return d.outdatedFilePermissions.nodes;
}

/** Runs retryFilePermissions and says what it did. */
export async function retryNow() {
  const d = await gql('mutation { retryFilePermissions { items files failed contended } }');
  const r = d.retryFilePermissions;
  const text = `Retried ${r.items} item${r.items === 1 ? '' : 's'}: ${r.files} file permission${r.files === 1 ? '' : 's'} set, ${r.failed} still failing` +
    (r.contended ? `, ${r.contended} being set by another instance` : '') + '.';
  toast(text);
  refreshOutdated();
  return text;
}

let refreshOutdated = () => {};

export function mountLive(aside, token) {
  const state = h('span', { class: 'conn', id: 'live-state' }, 'connecting…');
  const count = h('span', { id: 'outdated-count' });
  const list = h('ul', { class: 'outdated', id: 'outdated-list' });
  const retry = h('button', { type: 'button', id: 'retry-all', disabled: true }, 'Retry now');
  const retryResult = h('p', { class: 'note', id: 'retry-result', role: 'status' });
  const log = h('ol', { class: 'events', id: 'events', 'aria-live': 'off' });
  fill(aside,
    h('div', { class: 'live-head' }, h('h2', { id: 'live-h' }, 'Live'), state),
    h('section', { 'aria-labelledby': 'outdated-h' },
      h('h3', { id: 'outdated-h' }, 'Outdated file permissions ', count),
      list, retry, retryResult),
    h('section', { 'aria-labelledby': 'events-h' },
      h('h3', { id: 'events-h' }, 'Results as they arrive'),
      h('p', { class: 'note empty-hint' }, 'Publish or unpublish content and its media\u2019s privacy changes, permission results and CDN purges show here.'),
      log));

  retry.addEventListener('click', async () => {
    retry.disabled = true;
    try {
      retryResult.textContent = await retryNow();
    } catch (e) {
      retryResult.textContent = 'Retry failed: ' + e.message;
    }
  });

  refreshOutdated = debounce(async () => {
    try {
      const nodes = await outdated();
      count.textContent = `(${nodes.length}${nodes.length === 100 ? '+' : ''})`;
      fill(list, nodes.length ? nodes.map((n) => h('li', { 'data-media-id': n.mediaId },
        h('a', { href: itemHref(n.mediaId) }, n.media ? n.media.title || n.mediaId : n.mediaId),
        ' ', h('span', { class: 'muted' }, `should be ${n.privacy.toLowerCase()}; ${n.syncing ? 'being set now' : n.attempts + ' attempt' + (n.attempts === 1 ? '' : 's')}`),
        n.lastError ? h('div', { class: 'error-text' }, n.lastError) : null))
        : h('li', { class: 'muted' }, 'None: every file\u2019s storage permission matches its item\u2019s privacy.'));
      retry.disabled = nodes.length === 0;
      document.getElementById('live-count').textContent = nodes.length ? `(${nodes.length} outdated)` : '';
    } catch (e) {
      count.textContent = '';
      const why = e instanceof ApiError && e.code === 'FORBIDDEN' ? 'Listing them needs the PUBLISH permission.' : 'Could not list them: ' + e.message;
      fill(list, h('li', { class: 'muted' }, why));
      retry.disabled = true;
    }
  }, 250);

  function add(kind, mediaId, text, ok, t) {
    aside.querySelector('.empty-hint')?.remove();
    log.prepend(h('li', { class: 'event ' + kind + (ok === false ? ' failed' : ''), 'data-kind': kind, 'data-media-id': mediaId },
      h('time', { datetime: t }, time(t)), ' ',
      h('span', { class: 'kind' }, kind), ' ',
      h('a', { href: itemHref(mediaId) }, mediaId), ' ', text));
    while (log.children.length > maxEvents) log.lastChild.remove();
    changes.dispatchEvent(new CustomEvent('media', { detail: { mediaId, kind } }));
  }

  live = new Live(token);
  live.addEventListener('state', (e) => {
    const { state: s, detail } = e.detail;
    state.textContent = {
      open: 'connected', connecting: 'connecting…', closed: 'closed',
      reconnecting: `disconnected, retrying in ${detail}s`, refused: 'refused: ' + detail,
    }[s] || s;
    state.dataset.state = s;
    if (s === 'open') refreshOutdated(); // events missed while disconnected
  });
  const cause = (ev) => `${ev.cause}${ev.contentId ? ' of ' + ev.contentId : ''}`;
  live.subscribe('subscription { privacyChanged { mediaId privacy contentId cause time } }', null, ({ data }) => {
    const ev = data && data.privacyChanged;
    if (!ev) return;
    add('privacy', ev.mediaId, `became ${ev.privacy.toLowerCase()} (${cause(ev)})`, true, ev.time);
    refreshOutdated();
  });
  live.subscribe('subscription { filePermissionResults { mediaId key public ok error attempt complete files failed contentId time } }', null, ({ data }) => {
    const ev = data && data.filePermissionResults;
    if (!ev) return;
    const perm = ev.public ? 'public' : 'private';
    const text = ev.complete
      ? `files made ${perm}: ${ev.files - ev.failed} of ${ev.files} set${ev.failed ? `, ${ev.failed} failed` : ''} (attempt ${ev.attempt})`
      : `${ev.key} ${perm}: ${ev.ok ? 'set' : 'failed: ' + ev.error}`;
    add('permissions', ev.mediaId, text, ev.ok, ev.time);
    if (ev.complete) refreshOutdated();
  });
  live.subscribe('subscription { cdnPurgeResults { mediaId url ok error privacy cause time } }', null, ({ data }) => {
    const ev = data && data.cdnPurgeResults;
    if (!ev) return;
    add('cdn', ev.mediaId, `purge ${ev.ok ? 'done' : 'failed: ' + ev.error} (${ev.cause})`, ev.ok, ev.time);
  });
  live.start();
}

export function stopLive() {
  if (live) live.stop();
  live = null;
}

export function refreshOutdatedSoon() { refreshOutdated(); }
