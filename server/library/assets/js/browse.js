// The library: images as a grid and documents as a list, filtered by collection (with its
// subtree), tag and title text, loaded page by page over the connection's cursor as the list
// scrolls; uploads by drag and drop or the file picker, each with its own progress bar.
import { gql, upload, parseSrcset, lazySrcset } from './api.js';
import { h, fill, bytes, debounce, itemHref, badge, toast } from './dom.js';
import { changes } from './livepanel.js';

// Items per request; ?pageSize=N (1-100) in the page's address changes it.
const pageSize = Math.min(100, Math.max(1, parseInt(new URLSearchParams(location.search).get('pageSize'), 10) || 30));
const thumbSpecs = '["fill-160x160", "fill-320x320", "fill-480x480"]';
const thumbCSS = 160; // the widest a grid cell is drawn, in CSS pixels

// Filters and tab outlive a visit to an item page.
const state = { tab: 'images', collectionId: '', sub: true, search: '', tag: '' };
let collections = [];

const imagesQuery = `query($first: Int, $after: String, $filter: MediaFilter, $count: Boolean!) {
  images(first: $first, after: $after, filter: $filter) {
    totalCount @include(if: $count)
    pageInfo { hasNextPage endCursor }
    nodes { id title alt privacy filePermissionsOutdated tags srcset(specs: ${thumbSpecs}) } } }`;
const documentsQuery = `query($first: Int, $after: String, $filter: MediaFilter, $count: Boolean!) {
  documents(first: $first, after: $after, filter: $filter) {
    totalCount @include(if: $count)
    pageInfo { hasNextPage endCursor }
    nodes { id title filename contentType fileSize privacy filePermissionsOutdated tags } } }`;

/** Collections as a tree, depth first: [{id, name, depth}]. */
export async function loadCollections() {
  const d = await gql('{ collections { id name parent { id } } }');
  const kids = new Map();
  for (const c of d.collections) {
    const p = c.parent ? c.parent.id : '';
    if (!kids.has(p)) kids.set(p, []);
    kids.get(p).push(c);
  }
  const out = [];
  const walk = (parent, depth) => {
    for (const c of (kids.get(parent) || []).sort((a, b) => a.name.localeCompare(b.name))) {
      out.push({ id: c.id, name: c.name, depth });
      walk(c.id, depth + 1);
    }
  };
  walk('', 0);
  collections = out;
  return out;
}

/** A <select> of the collection tree, indented by depth. */
export function collectionSelect(attrs, selected, anyLabel) {
  return h('select', attrs,
    anyLabel ? h('option', { value: '' }, anyLabel) : null,
    collections.map((c) => {
      const o = h('option', { value: c.id }, '\u00a0\u00a0\u00a0'.repeat(c.depth) + c.name);
      if (c.id === selected) o.selected = true;
      return o;
    }));
}

export async function renderBrowse(main) {
  await loadCollections().catch(() => {});
  const search = h('input', { type: 'search', id: 'f-search', value: state.search, placeholder: 'Title contains…', autocomplete: 'off' });
  const tag = h('input', { type: 'text', id: 'f-tag', value: state.tag, list: 'tag-list', autocomplete: 'off' });
  const tags = h('datalist', { id: 'tag-list' });
  const coll = collectionSelect({ id: 'f-collection' }, state.collectionId, 'All collections');
  const sub = h('input', { type: 'checkbox', id: 'f-sub', checked: state.sub });
  const tabImages = h('button', { type: 'button', role: 'tab', id: 'tab-images', 'aria-controls': 'results' }, 'Images ', h('span', { class: 'count', id: 'count-images' }));
  const tabDocs = h('button', { type: 'button', role: 'tab', id: 'tab-documents', 'aria-controls': 'results' }, 'Documents ', h('span', { class: 'count', id: 'count-documents' }));
  const summary = h('p', { id: 'summary', class: 'summary', role: 'status' });
  const results = h('div', { id: 'results', role: 'tabpanel', 'aria-labelledby': 'tab-' + state.tab });
  const more = h('button', { type: 'button', id: 'load-more', hidden: true }, 'Load more');
  const sentinel = h('div', { class: 'sentinel', 'aria-hidden': 'true' });

  main.dataset.view = '';
  fill(main,
    h('h2', { id: 'page-h', tabindex: '-1', class: 'visually-hidden' }, 'Media library'),
    uploadSection(() => reload()),
    h('section', { 'aria-labelledby': 'filters-h', class: 'filters' },
      h('h3', { id: 'filters-h', class: 'visually-hidden' }, 'Filters'),
      h('div', { class: 'field' }, h('label', { for: 'f-search' }, 'Search'), search),
      h('div', { class: 'field' }, h('label', { for: 'f-tag' }, 'Tag'), tag, tags),
      h('div', { class: 'field' }, h('label', { for: 'f-collection' }, 'Collection'), coll),
      h('div', { class: 'field check' }, sub, h('label', { for: 'f-sub' }, 'Include subcollections'))),
    h('div', { role: 'tablist', 'aria-label': 'Kind of media', class: 'tabs' }, tabImages, tabDocs),
    summary, results, more, sentinel);

  let gen = 0; // a newer load makes older answers stale
  let cursor = null;
  let hasNext = false;
  let loading = -1; // the generation a page is being loaded for
  let shown = 0;
  let total = null;
  const seenTags = new Set();

  function filter() {
    const f = {};
    if (state.collectionId) { f.collectionId = state.collectionId; f.includeSubcollections = state.sub; }
    if (state.search) f.search = state.search;
    if (state.tag) f.tag = state.tag;
    return f;
  }

  function selectTab() {
    for (const [tab, el] of [['images', tabImages], ['documents', tabDocs]]) {
      el.setAttribute('aria-selected', String(state.tab === tab));
      el.tabIndex = state.tab === tab ? 0 : -1;
    }
    results.setAttribute('aria-labelledby', 'tab-' + state.tab);
  }

  async function reload() {
    gen++;
    cursor = null; hasNext = false; shown = 0; total = null;
    selectTab();
    fill(results, state.tab === 'images'
      ? h('ul', { class: 'grid', id: 'grid', 'aria-label': 'Images' })
      : h('ul', { class: 'doclist', id: 'doclist', 'aria-label': 'Documents' }));
    await page();
    // The other tab's count, exact, for the same filters.
    const other = state.tab === 'images' ? 'documents' : 'images';
    const g = gen;
    gql(`query($filter: MediaFilter) { ${other}(first: 1, filter: $filter) { totalCount } }`, { filter: filter() })
      .then((d) => { if (g === gen) document.getElementById('count-' + other).textContent = `(${d[other].totalCount})`; }, () => {});
  }

  async function page() {
    if (loading === gen) return;
    const g = gen;
    loading = g;
    summary.textContent = shown ? `Loading more… (${shown} of ${total})` : 'Loading…';
    try {
      const q = state.tab === 'images' ? imagesQuery : documentsQuery;
      const d = await gql(q, { first: pageSize, after: cursor, filter: filter(), count: total === null });
      if (g !== gen) return;
      const conn = d[state.tab];
      if (total === null) total = conn.totalCount;
      const list = results.firstChild;
      for (const n of conn.nodes) {
        list.append(state.tab === 'images' ? imageCard(n) : documentRow(n));
        for (const t of n.tags) seenTags.add(t);
      }
      shown += conn.nodes.length;
      cursor = conn.pageInfo.endCursor;
      hasNext = conn.pageInfo.hasNextPage;
      fill(tags, [...seenTags].sort().map((t) => h('option', { value: t })));
      document.getElementById('count-' + state.tab).textContent = `(${total})`;
      const noun = state.tab === 'images' ? 'image' : 'document';
      summary.textContent = total === 0 ? `No ${noun}s match.` : `Showing ${shown} of ${total} ${noun}${total === 1 ? '' : 's'}.`;
      more.hidden = !hasNext;
    } catch (e) {
      if (g === gen) summary.textContent = 'Could not load: ' + e.message;
    } finally {
      if (loading === g) loading = -1;
    }
    // Keep filling while the sentinel is still in view (a tall screen, a short page).
    if (g === gen && hasNext && inView(sentinel)) page();
  }

  const inView = (el) => el.getBoundingClientRect().top < innerHeight + 400;
  new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting) && hasNext && main.contains(sentinel)) page();
  }, { rootMargin: '400px' }).observe(sentinel);
  more.addEventListener('click', () => page());

  const apply = debounce(() => reload(), 250);
  search.addEventListener('input', () => { state.search = search.value.trim(); apply(); });
  tag.addEventListener('input', () => { state.tag = tag.value.trim(); apply(); });
  coll.addEventListener('change', () => { state.collectionId = coll.value; reload(); });
  sub.addEventListener('change', () => { state.sub = sub.checked; if (state.collectionId) reload(); });
  for (const [tab, el] of [['images', tabImages], ['documents', tabDocs]]) {
    el.addEventListener('click', () => { if (state.tab !== tab) { state.tab = tab; reload(); } });
    el.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
        const next = el === tabImages ? tabDocs : tabImages;
        next.focus();
        next.click();
      }
    });
  }
  results.addEventListener('keydown', gridKeys);

  // Badges follow privacy changes while the list is shown.
  const onChange = (e) => {
    if (!main.contains(results)) return changes.removeEventListener('media', onChange);
    const card = results.querySelector(`[data-id="${CSS.escape(e.detail.mediaId)}"]`);
    if (card) refreshBadge(card, e.detail.mediaId);
  };
  changes.addEventListener('media', onChange);

  await reload();
  main.dataset.view = 'library';
}

const refreshBadge = debounce(async (card, id) => {
  const field = id.startsWith('doc_') ? 'document' : 'image';
  try {
    const d = await gql(`query($id: ID!) { ${field}(id: $id) { privacy filePermissionsOutdated } }`, { id });
    const item = d[field];
    if (item) card.querySelector('.badges').replaceWith(badge(item.privacy, item.filePermissionsOutdated));
  } catch { /* the list stays as it was */ }
}, 300);

function imageCard(n) {
  const img = h('img', { alt: '', width: thumbCSS, height: thumbCSS, decoding: 'async' });
  lazySrcset(img, parseSrcset(n.srcset), thumbCSS);
  return h('li', { 'data-id': n.id },
    h('a', { href: itemHref(n.id), class: 'card' },
      h('span', { class: 'thumb' }, img),
      h('span', { class: 'title' }, n.title || n.id),
      badge(n.privacy, n.filePermissionsOutdated)));
}

function documentRow(n) {
  return h('li', { 'data-id': n.id },
    h('a', { href: itemHref(n.id), class: 'row' },
      h('span', { class: 'title' }, n.title || n.filename),
      h('span', { class: 'muted' }, `${n.filename} · ${n.contentType} · ${bytes(n.fileSize)}`),
      badge(n.privacy, n.filePermissionsOutdated)));
}

// Arrow keys move between the cards of the grid (by row and column as laid out), Home and End
// to the first and last; Tab leaves the grid as usual.
function gridKeys(e) {
  const links = [...e.currentTarget.querySelectorAll('li > a')];
  const i = links.indexOf(document.activeElement);
  if (i < 0) return;
  const top = (el) => el.getBoundingClientRect().top;
  let cols = links.findIndex((l) => top(l) > top(links[0]) + 1); // cards in the first row
  if (cols < 1) cols = links.length;
  const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: cols, ArrowUp: -cols }[e.key];
  let j = null;
  if (step) j = Math.min(links.length - 1, Math.max(0, i + step));
  if (e.key === 'Home') j = 0;
  if (e.key === 'End') j = links.length - 1;
  if (j === null) return;
  e.preventDefault();
  links[j].focus();
  links[j].scrollIntoView({ block: 'nearest' });
}

// Uploads: several files at once, two in flight, each with its own progress bar and outcome.
function uploadSection(done) {
  const input = h('input', { type: 'file', id: 'file-input', multiple: true, class: 'visually-hidden' });
  const drop = h('div', { class: 'drop', id: 'drop' },
    h('p', {}, 'Drop images or documents here, or '),
    h('label', { for: 'file-input', class: 'button' }, 'choose files…'),
    input);
  const list = h('ul', { class: 'uploads', id: 'uploads', 'aria-label': 'Uploads' });
  const queue = [];
  let running = 0;

  function add(files) {
    for (const f of files) {
      const bar = h('progress', { max: 100, value: 0, 'aria-label': 'Upload of ' + f.name });
      const status = h('span', { class: 'status' }, 'waiting');
      const row = h('li', { class: 'upload', 'data-name': f.name, 'data-state': 'waiting' },
        h('span', { class: 'name' }, f.name), h('span', { class: 'muted' }, bytes(f.size)), bar, status);
      list.prepend(row);
      queue.push({ f, bar, status, row });
    }
    pump();
  }

  function pump() {
    while (running < 2 && queue.length) {
      const job = queue.shift();
      running++;
      run(job).finally(() => {
        running--;
        pump();
        if (!running && !queue.length) done();
      });
    }
  }

  async function run({ f, bar, status, row }) {
    row.dataset.state = 'uploading';
    status.textContent = 'uploading';
    const input = state.collectionId ? { collectionId: state.collectionId } : {};
    try {
      const item = await upload(f, input, (loaded, total) => {
        bar.value = Math.round((loaded / total) * 100);
        if (loaded === total) status.textContent = 'checking…';
      });
      bar.value = 100;
      row.dataset.state = 'done';
      fill(status, 'uploaded: ', h('a', { href: itemHref(item.id) }, item.title || item.id));
    } catch (e) {
      if (e.code === 'DUPLICATE' && e.extensions.existingId) {
        row.dataset.state = 'duplicate';
        fill(status, 'already in the library: ', h('a', { href: itemHref(e.extensions.existingId) }, e.extensions.existingId));
      } else {
        row.dataset.state = 'refused';
        bar.value = 0;
        fill(status, h('span', { class: 'error-text' }, 'refused: ' + e.message));
      }
      toast(`${f.name}: ${status.textContent}`);
    }
  }

  input.addEventListener('change', () => { add([...input.files]); input.value = ''; });
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    add([...e.dataTransfer.files]);
  });
  return h('section', { 'aria-labelledby': 'upload-h', class: 'upload-section' },
    h('h3', { id: 'upload-h' }, 'Upload'), drop, list);
}
