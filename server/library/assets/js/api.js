// The GraphQL API as this page uses it: one token kept in sessionStorage (this tab only, never a
// cookie, so no request is authenticated by the browser on its own: no CSRF surface), sent as a
// Bearer header on every request.

const KEY = 'veil.library.token';

export const session = {
  get token() { return sessionStorage.getItem(KEY) || ''; },
  set(token) { sessionStorage.setItem(KEY, token); },
  clear() { sessionStorage.removeItem(KEY); },
};

// Signals sign-out when the server refuses the token (expired or revoked meanwhile).
export const events = new EventTarget();

/** An error from the API: message as the server wrote it, code from extensions.code. */
export class ApiError extends Error {
  constructor(message, code, extensions) {
    super(message);
    this.code = code || '';
    this.extensions = extensions || {};
  }
}

function authHeader() {
  return session.token ? { Authorization: 'Bearer ' + session.token } : {};
}

function fromBody(status, body) {
  if (status === 401) events.dispatchEvent(new Event('unauthenticated'));
  if (body && Array.isArray(body.errors) && body.errors.length) {
    const e = body.errors[0];
    return new ApiError(e.message, e.extensions && e.extensions.code, e.extensions);
  }
  if (!body || status >= 400) return new ApiError(`the server answered ${status}`, 'HTTP');
  return null;
}

/** Runs a query or mutation and returns its data; throws ApiError. */
export async function gql(query, variables) {
  let res;
  try {
    res = await fetch('/graphql', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...authHeader() },
      body: JSON.stringify({ query, variables }),
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError('Veil cannot be reached (' + e.message + ')', 'NETWORK');
  }
  let body = null;
  try { body = await res.json(); } catch { /* not JSON: reported below */ }
  const err = fromBody(res.status, body);
  if (err) throw err;
  return body.data;
}

/**
 * Uploads one file with the GraphQL multipart request (uploadImage for image/* files,
 * uploadDocument otherwise) over XHR, whose upload events give progress(loaded, total).
 * Resolves with the new item ({__typename, id, title}); rejects with ApiError.
 */
export function upload(file, input, progress) {
  const image = file.type.startsWith('image/');
  const query = image
    ? 'mutation($input: UploadImageInput!) { uploadImage(input: $input) { __typename id title } }'
    : 'mutation($input: UploadDocumentInput!) { uploadDocument(input: $input) { __typename id title } }';
  const form = new FormData();
  form.append('operations', JSON.stringify({ query, variables: { input: { ...input, file: null } } }));
  form.append('map', JSON.stringify({ 0: ['variables.input.file'] }));
  form.append('0', file, file.name);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/graphql');
    for (const [k, v] of Object.entries(authHeader())) xhr.setRequestHeader(k, v);
    xhr.responseType = 'json';
    xhr.upload.addEventListener('progress', (e) => { if (e.lengthComputable) progress(e.loaded, e.total); });
    xhr.addEventListener('load', () => {
      const err = fromBody(xhr.status, xhr.response);
      if (err) return reject(err);
      const d = xhr.response.data;
      resolve(d.uploadImage || d.uploadDocument);
    });
    xhr.addEventListener('error', () => reject(new ApiError('the upload was interrupted: Veil cannot be reached', 'NETWORK')));
    xhr.addEventListener('abort', () => reject(new ApiError('the upload was cancelled', 'ABORTED')));
    xhr.send(form);
  });
}

// Images are fetched with the token and shown from blob: URLs: a private rendition needs the
// Bearer header, which an <img> cannot send. Blobs are kept per URL (rendition URLs are
// deterministic), at most maxBlobs of them.
const blobs = new Map();
const maxBlobs = 400;

/** Returns a blob: URL with the bytes of the same-origin media URL u. */
export function blobURL(u) {
  let p = blobs.get(u);
  if (p) {
    blobs.delete(u); // re-insert: most recently used last
    blobs.set(u, p);
    return p;
  }
  p = fetch(u, { headers: authHeader() }).then((res) => {
    if (!res.ok) throw new ApiError(`image ${res.status}`, 'HTTP');
    return res.blob();
  }).then((b) => URL.createObjectURL(b));
  p.catch(() => blobs.delete(u));
  blobs.set(u, p);
  while (blobs.size > maxBlobs) {
    const [oldest, op] = blobs.entries().next().value;
    blobs.delete(oldest);
    op.then((b) => URL.revokeObjectURL(b), () => {});
  }
  return p;
}

/** Parses a srcset value ("url 160w, url 320w") into [{url, width}] by width. */
export function parseSrcset(srcset) {
  return srcset.split(',').map((part) => {
    const [url, w] = part.trim().split(/\s+/);
    return { url, width: parseInt(w, 10) || 0 };
  }).filter((c) => c.url).sort((a, b) => a.width - b.width);
}

/**
 * Shows in img the candidate a browser would pick from the srcset for a box cssWidth pixels
 * wide: the narrowest at least as wide as the device pixels it covers, else the widest.
 */
export async function showSrcset(img, candidates, cssWidth) {
  if (!candidates.length) return;
  const need = cssWidth * (window.devicePixelRatio || 1);
  const c = candidates.find((x) => x.width >= need) || candidates[candidates.length - 1];
  img.dataset.src = c.url;
  try {
    const u = await blobURL(c.url);
    if (img.dataset.src === c.url) img.src = u;
  } catch (e) {
    img.classList.add('broken');
    img.title = 'Could not load: ' + e.message;
  }
}

// Thumbnails are loaded when they come near the viewport.
const lazy = new IntersectionObserver((entries) => {
  for (const e of entries) {
    if (!e.isIntersecting) continue;
    lazy.unobserve(e.target);
    const job = e.target._lazy;
    if (job) showSrcset(e.target, job.candidates, job.cssWidth);
  }
}, { rootMargin: '300px' });

export function lazySrcset(img, candidates, cssWidth) {
  img._lazy = { candidates, cssWidth };
  lazy.observe(img);
}
