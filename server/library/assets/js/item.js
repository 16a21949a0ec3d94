// An item's page: its metadata (editable), the focal point set by clicking or dragging on the
// image with three fill renditions previewing it, the privacy badge with the content that uses
// the item, the state of its files' storage permissions, and delete.
import { gql, ApiError, parseSrcset, showSrcset, blobURL } from './api.js';
import { h, fill, bytes, time, debounce, badge, toast, itemHref } from './dom.js';
import { changes, outdated, retryNow } from './livepanel.js';
import { collectionSelect, loadCollections } from './browse.js';

const previews = [
  { spec: 'fill-300x300', label: 'Square', w: 150, hgt: 150 },
  { spec: 'fill-480x270', label: 'Wide 16:9', w: 240, hgt: 135 },
  { spec: 'fill-200x300', label: 'Tall 2:3', w: 100, hgt: 150 },
];
const previewSpecs = JSON.stringify(previews.map((p) => p.spec));

const common = `id title filename url fileSize contentType createdAt updatedAt tags privacy
  filePermissionsOutdated canDelete collection { id name }
  usage { field live content { id kind key title live } }`;
const imageQuery = `query($id: ID!) { me { isAdmin } image(id: $id) { ${common} alt width height
  focalPoint { x y width height }
  large: srcset(specs: ["width-{480,960,1440}"])
  previews: renditions(specs: ${previewSpecs}) { spec url } } }`;
const documentQuery = `query($id: ID!) { me { isAdmin } document(id: $id) { ${common} } }`;

export async function renderItem(main, kind, id) {
  const heading = h('h2', { id: 'page-h', tabindex: '-1' }, 'Loading…');
  main.dataset.view = '';
  fill(main, h('p', {}, h('a', { href: '#/' }, '\u2190 Library')), heading);
  let item;
  let admin = false;
  async function load() {
    const d = await gql(kind === 'image' ? imageQuery : documentQuery, { id });
    admin = d.me && d.me.isAdmin;
    item = d[kind];
  }
  try {
    await load();
  } catch (e) {
    heading.textContent = 'Could not load ' + id;
    main.append(h('p', { class: 'error-text' }, e.message));
    return;
  }
  if (!item) {
    heading.textContent = 'Not found';
    main.append(h('p', {}, `No ${kind} ${id}, or you may not see it.`));
    return;
  }
  await loadCollections().catch(() => {});

  const badgeSlot = h('div', { id: 'privacy' });
  const usageSlot = h('div', { id: 'usage' });
  const permSlot = h('div', { id: 'permissions' });
  const deleteSlot = h('div', { id: 'delete' });
  const meta = metadataForm(kind, item, (updated) => { item = { ...item, ...updated }; heading.textContent = item.title; });

  heading.textContent = item.title || item.filename;
  const facts = h('dl', { class: 'facts' },
    fact('File', item.filename), fact('Type', item.contentType), fact('Size', bytes(item.fileSize)),
    kind === 'image' ? fact('Dimensions', `${item.width} × ${item.height}`) : null,
    fact('Added', time(item.createdAt)), fact('Id', item.id),
    h('dt', {}, 'Original'), h('dd', {}, h('a', { href: item.url, id: 'original-link', download: kind === 'document' ? item.filename : null }, kind === 'image' ? 'open' : 'download')));

  const left = kind === 'image' ? focalEditor(item) : null;
  main.append(h('div', { class: 'item' + (left ? '' : ' document') },
    left,
    h('div', { class: 'side' },
      h('section', { 'aria-labelledby': 'privacy-h' }, h('h3', { id: 'privacy-h' }, 'Privacy'), badgeSlot, usageSlot),
      h('section', { 'aria-labelledby': 'perm-h' }, h('h3', { id: 'perm-h' }, 'File permissions'), permSlot),
      h('section', { 'aria-labelledby': 'meta-h' }, h('h3', { id: 'meta-h' }, 'Details'), meta, facts),
      h('section', { 'aria-labelledby': 'delete-h' }, h('h3', { id: 'delete-h' }, 'Delete'), deleteSlot))));

  // The original link needs the token too: open it from a blob.
  main.querySelector('#original-link').addEventListener('click', async (e) => {
    e.preventDefault();
    try {
      const u = await blobURL(item.url);
      const a = h('a', { href: u, download: item.filename });
      if (kind === 'image') { a.removeAttribute('download'); a.target = '_blank'; a.rel = 'noopener'; }
      a.click();
    } catch (err) { toast('Could not open the file: ' + err.message); }
  });

  async function renderState() {
    fill(badgeSlot, badge(item.privacy, item.filePermissionsOutdated));
    const liveUse = item.usage.filter((u) => u.live);
    // A published content's draft reference is listed only when it differs from the live one.
    const liveKeys = new Set(liveUse.map((u) => u.content.id + '\n' + u.field));
    const drafts = item.usage.filter((u) => !u.live && !liveKeys.has(u.content.id + '\n' + u.field));
    const useItem = (u) => h('li', {}, `${u.content.kind}/${u.content.key}`, u.content.title ? ` \u201c${u.content.title}\u201d` : '', u.field ? ` (${u.field})` : '', u.live ? ' \u2014 live' : ' \u2014 draft');
    fill(usageSlot,
      item.privacy === 'PUBLIC'
        ? h('p', {}, liveUse.length ? 'Public because live content uses it:' : 'Public.')
        : h('p', {}, 'Private: no live content uses it. Only signed-in users who may view its collection can fetch it.'),
      liveUse.length ? h('ul', { class: 'usage', id: 'usage-live' }, liveUse.map(useItem)) : null,
      drafts.length ? h('p', { class: 'muted' }, 'Drafts using it (not live yet):') : null,
      drafts.length ? h('ul', { class: 'usage', id: 'usage-draft' }, drafts.map(useItem)) : null,
      !item.usage.length ? h('p', { class: 'muted' }, 'No content uses it (usage is shown to holders of the PUBLISH permission).') : null);

    if (!item.filePermissionsOutdated) {
      fill(permSlot, h('p', { id: 'perm-state', 'data-outdated': 'false' }, `Its files\u2019 storage permissions match: ${item.privacy === 'PUBLIC' ? 'public' : 'private'}.`));
    } else {
      const retry = h('button', { type: 'button', id: 'retry-item' }, 'Retry now');
      const result = h('p', { role: 'status', class: 'note' });
      const detail = h('p', { id: 'perm-error', class: 'error-text' });
      fill(permSlot, h('div', { class: 'warning', id: 'perm-state', 'data-outdated': 'true' },
        h('p', {}, 'Its files\u2019 storage permissions may not match its privacy yet.'), detail, retry, result));
      retry.addEventListener('click', async () => {
        retry.disabled = true;
        try { result.textContent = await retryNow(); } catch (e) { result.textContent = 'Retry failed: ' + e.message; }
        reloadSoon();
      });
      try {
        const entry = (await outdated()).find((n) => n.mediaId === item.id);
        if (entry) {
          detail.textContent = entry.syncing ? 'Being set now.'
            : (entry.lastError ? 'Last error: ' + entry.lastError : 'No attempt has finished yet.') +
              ` (${entry.attempts} attempt${entry.attempts === 1 ? '' : 's'}${entry.lastAttemptAt ? ', last ' + time(entry.lastAttemptAt) : ''})`;
        }
      } catch (e) {
        detail.textContent = e instanceof ApiError && e.code === 'FORBIDDEN' ? 'Its last error is shown to holders of the PUBLISH permission.' : 'Could not read its last error: ' + e.message;
      }
    }

    const del = h('button', { type: 'button', id: 'delete-button', class: 'danger', disabled: !item.canDelete, 'aria-describedby': 'delete-reason' }, 'Delete');
    const reason = h('p', { id: 'delete-reason', class: 'note' });
    if (!item.canDelete) {
      reason.textContent = liveUse.length && !admin
        ? `Cannot delete: live content uses it (${liveUse.map((u) => u.content.kind + '/' + u.content.key).join(', ')}). Unpublish that content first.`
        : `Cannot delete: you do not have the DELETE permission on the collection \u201c${item.collection.name}\u201d.`;
    } else {
      reason.textContent = liveUse.length ? 'Live content uses it: deleting it breaks that content (you are an admin).' : 'Deletes it and all its files.';
    }
    const confirmRow = h('div', { class: 'confirm', hidden: true },
      h('button', { type: 'button', id: 'delete-confirm', class: 'danger' }, 'Yes, delete it'), ' ',
      h('button', { type: 'button', id: 'delete-cancel' }, 'Cancel'));
    fill(deleteSlot, del, reason, confirmRow);
    del.addEventListener('click', () => { confirmRow.hidden = false; confirmRow.querySelector('#delete-cancel').focus(); });
    confirmRow.querySelector('#delete-cancel').addEventListener('click', () => { confirmRow.hidden = true; del.focus(); });
    confirmRow.querySelector('#delete-confirm').addEventListener('click', async () => {
      try {
        const m = kind === 'image' ? 'deleteImage' : 'deleteDocument';
        await gql(`mutation($id: ID!, $force: Boolean) { ${m}(id: $id, force: $force) { deletedId } }`, { id: item.id, force: liveUse.length > 0 && admin });
        toast(`Deleted ${item.title || item.id}.`);
        location.hash = '#/';
      } catch (e) {
        reason.textContent = 'Not deleted: ' + e.message;
      }
    });
  }
  await renderState();
  main.dataset.view = kind + ':' + id; // rendered (tests wait for it)

  // Privacy and permission results for this item, as they arrive, update the page.
  const reloadSoon = debounce(async () => {
    if (!main.contains(heading)) return;
    try { await load(); } catch { return; }
    if (item) await renderState();
  }, 300);
  const onChange = (e) => {
    if (!main.contains(heading)) return changes.removeEventListener('media', onChange);
    if (e.detail.mediaId === id) reloadSoon();
  };
  changes.addEventListener('media', onChange);
}

function fact(k, v) {
  return [h('dt', {}, k), h('dd', {}, v)];
}

function metadataForm(kind, item, saved) {
  const title = h('input', { id: 'm-title', value: item.title, autocomplete: 'off' });
  const alt = kind === 'image' ? h('textarea', { id: 'm-alt', rows: 2 }) : null;
  if (alt) alt.value = item.alt;
  const tags = h('input', { id: 'm-tags', value: item.tags.join(', '), autocomplete: 'off', 'aria-describedby': 'm-tags-hint' });
  const coll = collectionSelect({ id: 'm-collection' }, item.collection.id);
  const status = h('p', { role: 'status', class: 'note', id: 'm-status' });
  const form = h('form', { class: 'meta', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'm-title' }, 'Title'), title),
    alt ? h('div', { class: 'field' }, h('label', { for: 'm-alt' }, 'Alternative text'), alt) : null,
    h('div', { class: 'field' }, h('label', { for: 'm-tags' }, 'Tags'), tags, h('span', { id: 'm-tags-hint', class: 'note' }, 'Separated by commas.')),
    h('div', { class: 'field' }, h('label', { for: 'm-collection' }, 'Collection'), coll),
    h('button', { type: 'submit', id: 'm-save' }, 'Save details'), status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const input = {
      id: item.id, title: title.value.trim(), collectionId: coll.value,
      tags: tags.value.split(',').map((t) => t.trim()).filter(Boolean),
    };
    if (alt) input.alt = alt.value;
    const m = kind === 'image' ? 'updateImage(input: $input)' : 'updateDocument(input: $input)';
    const type = kind === 'image' ? 'UpdateImageInput' : 'UpdateDocumentInput';
    status.textContent = 'Saving…';
    try {
      const d = await gql(`mutation($input: ${type}!) { r: ${m} { title tags collection { id name } ${alt ? 'alt' : ''} } }`, { input });
      saved(d.r);
      status.textContent = 'Saved.';
    } catch (err) {
      status.textContent = 'Not saved: ' + err.message + (err.extensions.field ? ` (${err.extensions.field})` : '');
    }
  });
  return form;
}

// The focal point editor: a click centres the focal area there (keeping its size), a drag draws
// it; arrow keys move it (Shift: further). Each change is saved and the three fill previews,
// whose URLs follow the focal point, are fetched again.
function focalEditor(item) {
  const W = item.width;
  const H = item.height;
  let fp = item.focalPoint ? { ...item.focalPoint } : null;
  const img = h('img', { alt: item.alt || '', class: 'focal-image', draggable: 'false', width: W, height: H });
  showSrcset(img, parseSrcset(item.large), 640);
  const box = h('div', { class: 'focal-box', hidden: !fp });
  const area = h('div', {
    class: 'focal-area', id: 'focal-area', tabindex: '0', role: 'application',
    'aria-label': 'Focal point editor', 'aria-describedby': 'focal-help focal-value',
  }, img, box);
  const value = h('p', { id: 'focal-value', class: 'note', role: 'status' });
  const clear = h('button', { type: 'button', id: 'focal-clear' }, 'Clear focal point');
  const figures = previews.map((p) => {
    const pi = h('img', { alt: `${p.label} crop`, width: p.w, height: p.hgt });
    return { p, img: pi, fig: h('figure', {}, pi, h('figcaption', {}, `${p.label} (${p.spec})`)) };
  });

  function draw() {
    box.hidden = !fp;
    clear.disabled = !fp;
    if (!fp) {
      value.textContent = 'No focal point: fill renditions crop around the centre.';
      return;
    }
    box.style.left = ((fp.x - fp.width / 2) / W) * 100 + '%';
    box.style.top = ((fp.y - fp.height / 2) / H) * 100 + '%';
    box.style.width = (fp.width / W) * 100 + '%';
    box.style.height = (fp.height / H) * 100 + '%';
    value.textContent = `Focal point at ${fp.x}, ${fp.y} (${Math.round((fp.x / W) * 100)}% across, ${Math.round((fp.y / H) * 100)}% down), ${fp.width} × ${fp.height}.`;
  }

  function showPreviews(list) {
    for (const f of figures) {
      const r = list.find((x) => x.spec === f.p.spec) || list[figures.indexOf(f)];
      if (r) showSrcset(f.img, [{ url: r.url, width: f.p.w * 2 }], f.p.w);
    }
  }

  let saving = Promise.resolve();
  const save = debounce(() => {
    const input = { id: item.id, focalPoint: fp ? { x: fp.x, y: fp.y, width: fp.width, height: fp.height } : null };
    saving = saving.then(async () => {
      try {
        const d = await gql(`mutation($input: UpdateImageInput!) { updateImage(input: $input) {
          focalPoint { x y width height } previews: renditions(specs: ${previewSpecs}) { spec url } } }`, { input });
        showPreviews(d.updateImage.previews);
        area.dataset.saved = String(Date.now());
        toast(fp ? 'Focal point saved.' : 'Focal point cleared.');
      } catch (e) {
        toast('Focal point not saved: ' + e.message);
      }
    });
  }, 200);

  const clamp = (v, lo, hi) => Math.max(lo, Math.min(hi, v));
  function toImage(e) {
    const r = area.getBoundingClientRect();
    return { x: clamp(Math.round(((e.clientX - r.left) / r.width) * W), 0, W), y: clamp(Math.round(((e.clientY - r.top) / r.height) * H), 0, H) };
  }
  function fit(p) {
    p.width = clamp(p.width, 1, W);
    p.height = clamp(p.height, 1, H);
    p.x = clamp(p.x, Math.ceil(p.width / 2), W - Math.floor(p.width / 2));
    p.y = clamp(p.y, Math.ceil(p.height / 2), H - Math.floor(p.height / 2));
    return p;
  }
  const defaultSize = () => ({ width: Math.max(1, Math.round(W / 5)), height: Math.max(1, Math.round(H / 5)) });

  let start = null;
  let moved = false;
  area.addEventListener('pointerdown', (e) => {
    if (e.button !== 0) return;
    e.preventDefault();
    area.focus();
    area.setPointerCapture(e.pointerId);
    start = toImage(e);
    moved = false;
  });
  area.addEventListener('pointermove', (e) => {
    if (!start) return;
    const p = toImage(e);
    if (!moved && Math.abs(p.x - start.x) < W / 100 && Math.abs(p.y - start.y) < H / 100) return;
    moved = true;
    const w = Math.max(1, Math.abs(p.x - start.x));
    const hh = Math.max(1, Math.abs(p.y - start.y));
    fp = { x: Math.round(Math.min(p.x, start.x) + w / 2), y: Math.round(Math.min(p.y, start.y) + hh / 2), width: w, height: hh };
    draw();
  });
  area.addEventListener('pointerup', (e) => {
    if (!start) return;
    if (!moved) {
      const size = fp ? { width: fp.width, height: fp.height } : defaultSize();
      fp = fit({ ...toImage(e), ...size });
    } else {
      fp = fit(fp);
    }
    start = null;
    draw();
    save();
  });
  area.addEventListener('pointercancel', () => { start = null; });
  area.addEventListener('keydown', (e) => {
    const step = e.shiftKey ? 10 : 2;
    const d = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[e.key];
    if (!d) return;
    e.preventDefault();
    const cur = fp || { x: Math.round(W / 2), y: Math.round(H / 2), ...defaultSize() };
    fp = fit({ ...cur, x: cur.x + Math.round((d[0] * step * W) / 100), y: cur.y + Math.round((d[1] * step * H) / 100) });
    draw();
    save();
  });
  clear.addEventListener('click', () => { fp = null; draw(); save(); });

  draw();
  showPreviews(item.previews);
  return h('section', { class: 'focal', 'aria-labelledby': 'focal-h' },
    h('h3', { id: 'focal-h' }, 'Focal point'),
    h('p', { id: 'focal-help', class: 'note' }, 'Click the image to centre the focal area there, or drag to draw it. With the keyboard: focus the image and use the arrow keys (Shift moves further).'),
    area, value, clear,
    h('div', { class: 'previews', id: 'previews', 'aria-label': 'Fill renditions with this focal point', role: 'group' }, figures.map((f) => f.fig)));
}

export { itemHref };
