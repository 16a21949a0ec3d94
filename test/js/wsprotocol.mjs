// Checks Veil's websocket protocols against the npm clients frontend teams use:
//  - graphql-transport-ws (graphql-ws client, and raw frames for what the client never sends):
//    close codes 4408 (no init in time), 4401 (subscribe before init), 4429 (second init),
//    4400 (unparseable or unknown message), 4409 (duplicate subscription id, made by the client
//    itself with generateID), 4403 (a token that fails is refused, never downgraded to anonymous);
//  - the auth forms clients send: connection_init payload {Authorization}, {authorization},
//    {headers: {Authorization}}, and an Authorization header on the upgrade request;
//  - the legacy protocol (graphql-ws subprotocol) with the subscriptions-transport-ws client: a
//    query, and a subscription receiving the privacy change of a publish made over HTTP.
// Usage: node wsprotocol.mjs <base url> <token> <image file> <metrics url>
import { createClient } from "graphql-ws";
import { SubscriptionClient } from "subscriptions-transport-ws";
import WebSocket from "ws";
import { readFile } from "node:fs/promises";
import { basename } from "node:path";

const [base, token, imagePath, metricsURL] = process.argv.slice(2);
if (!base || !token || !imagePath || !metricsURL) {
  console.error("usage: node wsprotocol.mjs <base url> <token> <image file> <metrics url>");
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

// raw opens a graphql-transport-ws socket, sends frames (objects are JSON-encoded, strings sent
// as they are, "ack" waits for connection_ack), and resolves with the close event.
function raw(frames, what) {
  const ws = new WebSocket(wsURL, "graphql-transport-ws");
  const closed = new Promise((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.on("error", () => {});
  ws.on("open", async () => {
    const acked = new Promise((resolve) => ws.on("message", (m) => { if (JSON.parse(m).type === "connection_ack") resolve(); }));
    for (const f of frames) {
      if (f === "ack") await acked;
      else ws.send(typeof f === "string" ? f : JSON.stringify(f));
    }
  });
  return withTimeout(closed, 15000, what);
}

async function wantClose(frames, code, what) {
  const ev = await raw(frames, what);
  if (ev.code !== code) fail(`${what}: closed with ${ev.code} ${ev.reason}, want ${code}`);
  console.log(`ok graphql-transport-ws: ${what} → ${ev.code} ${ev.reason}`);
}

// 4408 takes the server's init timeout (10 s): started first, awaited last.
const noInit = raw([], "no connection_init");

const init = { type: "connection_init", payload: { Authorization: `Bearer ${token}` } };
const me = (id) => ({ id, type: "subscribe", payload: { query: "{ me { email } }" } });
const privacySub = (id) => ({ id, type: "subscribe", payload: { query: "subscription { privacyChanged { mediaId } }" } });
await wantClose([me("1")], 4401, "subscribe before connection_init");
await wantClose([init, "ack", init], 4429, "a second connection_init");
await wantClose([init, "ack", "{not json"], 4400, "an unparseable message");
await wantClose([init, "ack", { type: "shout" }], 4400, "an unknown message type");
await wantClose([init, "ack", privacySub("dup"), privacySub("dup")], 4409, "a duplicate subscription id (raw frames)");

// The graphql-ws client itself, told to reuse one id, is closed with 4409 on its second subscribe.
{
  const client = createClient({
    url: wsURL, webSocketImpl: WebSocket, retryAttempts: 0, generateID: () => "same-id",
    connectionParams: { Authorization: `Bearer ${token}` },
  });
  const closed = new Promise((resolve) => client.on("closed", resolve));
  const sink = { next: () => {}, error: () => {}, complete: () => {} };
  client.subscribe({ query: "subscription { privacyChanged { mediaId } }" }, sink);
  client.subscribe({ query: "subscription { privacyChanged { mediaId } }" }, sink);
  const ev = await withTimeout(closed, 10000, "graphql-ws duplicate id");
  if (ev.code !== 4409) fail(`graphql-ws client with a duplicate id: closed with ${ev.code} ${ev.reason}, want 4409`);
  await client.dispose();
  console.log(`ok graphql-ws client: a duplicate subscription id → 4409 ${ev.reason}`);
}

// Auth forms: each authenticates `{ me { email } }`; a failing token in any of them is 4403.
async function meOver(connectionParams, headers) {
  class HeaderSocket extends WebSocket {
    constructor(url, protocols) { super(url, protocols, headers ? { headers } : {}); }
  }
  const client = createClient({ url: wsURL, webSocketImpl: HeaderSocket, retryAttempts: 0, connectionParams });
  const closed = new Promise((resolve) => client.on("closed", resolve));
  try {
    const result = await withTimeout((async () => {
      for await (const r of client.iterate({ query: "{ me { email } }" })) return r;
    })(), 10000, "me over the socket");
    return { result };
  } catch (err) {
    const ev = await Promise.race([closed, new Promise((r) => setTimeout(() => r(null), 2000))]);
    return { error: err, close: ev };
  } finally {
    await client.dispose();
  }
}
const forms = {
  "payload Authorization": [{ Authorization: `Bearer ${token}` }],
  "payload authorization": [{ authorization: `Bearer ${token}` }],
  "payload headers.Authorization": [{ headers: { Authorization: `Bearer ${token}` } }],
  "upgrade header": [undefined, { Authorization: `Bearer ${token}` }],
};
for (const [name, [params, headers]] of Object.entries(forms)) {
  const { result, error } = await meOver(params, headers);
  if (!result?.data?.me?.email) fail(`auth form ${name}: ${error ? error.message ?? JSON.stringify(error) : JSON.stringify(result)}`);
  console.log(`ok auth form ${name}: me = ${result.data.me.email}`);
  const badToken = "Bearer veil_tok_01M818HZN4S9NGPTE8NJGQZFVH_nonsense";
  const badParams = params && JSON.parse(JSON.stringify(params).replace(`Bearer ${token}`, badToken));
  const badHeaders = headers && { Authorization: badToken };
  const bad = await meOver(badParams, badHeaders);
  if (bad.result) fail(`auth form ${name} with a failing token answered ${JSON.stringify(bad.result)} (downgraded to anonymous?)`);
  // A refused upgrade (401 before the socket opens) has no close code; a refused init is 4403.
  const code = bad.close?.code ?? bad.error?.code;
  if (headers ? bad.result : code !== 4403) fail(`auth form ${name} with a failing token: ${code} ${bad.error?.message ?? ""}`);
  console.log(`ok auth form ${name} with a failing token: refused (${code ?? "upgrade refused"})`);
}

// Legacy protocol: subscriptions-transport-ws.
{
  const client = new SubscriptionClient(wsURL, {
    reconnect: false, connectionParams: { Authorization: `Bearer ${token}` },
  }, WebSocket);
  const once = (op) => new Promise((resolve, reject) => {
    const sub = client.request(op).subscribe({
      next: (r) => { sub.unsubscribe(); resolve(r); },
      error: (e) => reject(new Error(JSON.stringify(e))),
    });
  });
  const meResult = await withTimeout(once({ query: "{ me { email } }" }), 10000, "legacy query");
  if (!meResult?.data?.me?.email) fail(`legacy query: ${JSON.stringify(meResult)}`);
  console.log(`ok subscriptions-transport-ws: query me = ${meResult.data.me.email}`);

  const form = new FormData();
  form.append("operations", JSON.stringify({ query: "mutation($f: Upload!) { uploadImage(input: {file: $f}) { id } }", variables: { f: null } }));
  form.append("map", JSON.stringify({ 0: ["variables.f"] }));
  form.append("0", new Blob([await readFile(imagePath)]), basename(imagePath));
  const up = await (await fetch(`${base}/graphql`, { method: "POST", headers: { Authorization: `Bearer ${token}` }, body: form })).json();
  if (up.errors) fail(`upload: ${JSON.stringify(up.errors)}`);
  const imageId = up.data.uploadImage.id;

  const before = await subscriptionsHeld();
  const event = once({ query: "subscription { privacyChanged { mediaId privacy } }" });
  event.catch(() => {});
  for (let i = 0; i < 200 && (await subscriptionsHeld()) <= before; i++) await new Promise((r) => setTimeout(r, 50));
  const { upsertContent } = await gql(
    'mutation($m: ID!) { upsertContent(input: {kind: "page", key: "legacy-ws", references: [{mediaId: $m}]}) { id } }', { m: imageId });
  await gql("mutation($id: ID!) { publishContent(id: $id) { madePublic } }", { id: upsertContent.id });
  const ev = await withTimeout(event, 10000, "legacy privacyChanged");
  if (ev.errors || ev.data.privacyChanged.mediaId !== imageId || ev.data.privacyChanged.privacy !== "PUBLIC") {
    fail(`legacy privacyChanged: ${JSON.stringify(ev)}`);
  }
  client.close();
  console.log(`ok subscriptions-transport-ws: privacyChanged ${imageId} PUBLIC`);
}

async function subscriptionsHeld() {
  const text = await (await fetch(metricsURL)).text();
  const m = text.match(/^veil_subscriptions (\S+)$/m);
  return m ? Number(m[1]) : 0;
}

const timeout = await noInit;
if (timeout.code !== 4408) fail(`no connection_init: closed with ${timeout.code} ${timeout.reason}, want 4408`);
console.log(`ok graphql-transport-ws: no connection_init → 4408 ${timeout.reason}`);
console.log("ok websocket protocols: close codes, duplicate ids, auth forms, legacy client");
process.exit(0);
