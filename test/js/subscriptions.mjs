// Checks Veil's websocket subscriptions with the graphql-ws npm client (the graphql-transport-ws
// protocol): an admin receives the privacy change and the file-permission results of a publish
// made over HTTP, and a bad token is refused with close code 4403.
// Usage: node subscriptions.mjs <base url> <token> <image file> <metrics url>
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { readFile } from "node:fs/promises";
import { basename } from "node:path";

const [base, token, imagePath, metricsURL] = process.argv.slice(2);
if (!base || !token || !imagePath || !metricsURL) {
  console.error("usage: node subscriptions.mjs <base url> <token> <image file> <metrics url>");
  process.exit(2);
}
const wsURL = base.replace(/^http/, "ws") + "/graphql";

function fail(msg) {
  console.error(`FAIL ${msg}`);
  process.exit(1);
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms); }),
  ]);
}

async function gql(query, variables) {
  const res = await fetch(`${base}/graphql`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (body.errors) fail(`${query.slice(0, 40)}…: ${JSON.stringify(body.errors)}`);
  return body.data;
}

async function upload(path) {
  const form = new FormData();
  form.append("operations", JSON.stringify({
    query: "mutation($f: Upload!) { uploadImage(input: {file: $f}) { id } }",
    variables: { f: null },
  }));
  form.append("map", JSON.stringify({ 0: ["variables.f"] }));
  form.append("0", new Blob([await readFile(path)]), basename(path));
  const res = await fetch(`${base}/graphql`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Apollo-Require-Preflight": "true" },
    body: form,
  });
  const body = await res.json();
  if (body.errors) fail(`upload: ${JSON.stringify(body.errors)}`);
  return body.data.uploadImage.id;
}

// waitSubscriptions reads Veil's own gauge (on the metrics listener), so the publish is made only
// once the server holds the subscription (graphql-transport-ws does not acknowledge a subscribe).
async function waitSubscriptions(n) {
  for (let i = 0; i < 200; i++) {
    const text = await (await fetch(metricsURL)).text();
    const m = text.match(/^veil_subscriptions (\S+)$/m);
    if (m && Number(m[1]) >= n) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  fail(`the server never held ${n} subscription(s)`);
}

// events subscribes and resolves with the events up to and including the first one done(event)
// accepts; it rejects on an error or an early completion. The rejection is marked handled here
// and surfaces where the promise is awaited.
function events(client, payload, field, done) {
  const seen = [];
  const p = new Promise((resolve, reject) => {
    client.subscribe(payload, {
      next: (msg) => {
        if (msg.errors) return reject(new Error(`${field}: ${JSON.stringify(msg.errors)}`));
        seen.push(msg.data[field]);
        if (done(msg.data[field])) resolve(seen);
      },
      error: (err) => reject(new Error(`${field}: ${err instanceof Error ? err.message : JSON.stringify(err)}`)),
      complete: () => reject(new Error(`${field}: completed after ${JSON.stringify(seen)}`)),
    });
  });
  p.catch(() => {});
  return p;
}

// 1. An admin's subscriptions receive the privacy change and the file-permission results of a
// publish made over HTTP.
const client = createClient({
  url: wsURL,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${token}` },
  retryAttempts: 0,
});
const imageId = await upload(imagePath);
const privacy = events(client,
  { query: "subscription { privacyChanged { mediaId privacy cause contentId } }" },
  "privacyChanged", () => true);
const permissions = events(client,
  {
    query: "subscription($ids: [ID!]) { filePermissionResults(mediaIds: $ids) { mediaId key public ok complete files failed contentId } }",
    variables: { ids: [imageId] },
  },
  "filePermissionResults", (ev) => ev.complete);
await waitSubscriptions(2);
const { upsertContent } = await gql(
  'mutation($m: ID!) { upsertContent(input: {kind: "page", key: "graphql-ws", references: [{mediaId: $m}]}) { id } }',
  { m: imageId },
);
const contentId = upsertContent.id;
await gql("mutation($id: ID!) { publishContent(id: $id) { madePublic } }", { id: contentId });

const [ev] = await withTimeout(privacy, 10000, "privacyChanged");
if (ev.mediaId !== imageId || ev.privacy !== "PUBLIC" || ev.cause !== "publish" || ev.contentId !== contentId) {
  fail(`privacyChanged: ${JSON.stringify(ev)}`);
}
const perms = await withTimeout(permissions, 10000, "filePermissionResults up to the item's completion");
const files = perms.slice(0, -1);
const done = perms.at(-1);
for (const f of files) {
  if (f.mediaId !== imageId || !f.key || !f.public || !f.ok || f.contentId !== contentId) {
    fail(`file permission event: ${JSON.stringify(f)}`);
  }
}
if (done.mediaId !== imageId || !done.public || !done.ok || done.failed !== 0 || done.contentId !== contentId ||
    files.length < 1 || done.files !== files.length) {
  fail(`file permission completion after ${files.length} file event(s): ${JSON.stringify(done)}`);
}
await client.dispose();
console.log(`ok graphql-ws: privacyChanged ${imageId} PUBLIC; filePermissionResults: ${files.length} file event(s), completion files=${done.files} failed=0`);

// 2. A bad token closes the socket with 4403.
const bad = createClient({
  url: wsURL,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: "Bearer veil_tok_01M818HZN4S9NGPTE8NJGQZFVH_nonsense" },
  retryAttempts: 0,
  lazy: false,
  onNonLazyError: () => {}, // the close is checked below
});
bad.on("connected", () => fail("bad token: the server acknowledged connection_init"));
const closed = new Promise((resolve) => bad.on("closed", (event) => resolve(event)));
const event = await withTimeout(closed, 10000, "close after a bad token");
if (event.code !== 4403) fail(`bad token closed with ${event.code} ${event.reason}, want 4403`);
await bad.dispose();
console.log(`ok graphql-ws: bad token closed with 4403 (${event.reason})`);
