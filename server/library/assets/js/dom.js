// Element building that never parses markup: every value from the API becomes text.

/** h('a', {href: '#/', class: 'x', onclick: f}, 'text', child…) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'hidden') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

/** Replaces the children of el. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Announces text to screen readers and shows it briefly. */
export function toast(text) {
  const t = document.getElementById('toast');
  t.textContent = text;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.textContent = ''; }, 6000);
}

export function bytes(n) {
  if (n < 1024) return n + ' B';
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < units.length - 1);
  return n.toFixed(n < 10 ? 1 : 0) + ' ' + units[i];
}

export function time(t) {
  if (!t) return '';
  const d = new Date(t);
  return isNaN(d) ? String(t) : d.toLocaleString();
}

export function debounce(f, ms) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => f(...args), ms); };
}

/** The item page of a media id (img_… or doc_…). */
export function itemHref(id) {
  return (id.startsWith('doc_') ? '#/document/' : '#/image/') + encodeURIComponent(id);
}

/** A privacy badge: text and colour both say it. */
export function badge(privacy, outdated) {
  return h('span', { class: 'badges' },
    h('span', { class: 'badge ' + (privacy === 'PUBLIC' ? 'public' : 'private'), 'data-privacy': privacy },
      privacy === 'PUBLIC' ? 'Public' : 'Private'),
    outdated ? h('span', { class: 'badge outdated', title: 'Its storage permissions may not match its privacy' }, 'Permissions outdated') : null);
}
