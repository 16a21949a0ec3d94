// Presigned direct uploads with Node's built-in fetch, as a browser sends them, against a running
// Veil: node presign.mjs <base url> <token> <image.jpg> [MiB]
//
// For an image (the JPEG given) and a generated document of MiB (default 8) of random text:
// createUpload through GraphQL, a PUT of the bytes to exactly the URL and with exactly the headers
// it returned (no credentials: the signature is the credential), completeUpload, then a download
// of the original that must be byte-identical. Then the refusals: a body of another size and a URL
// whose signature was tampered with are refused (4xx) and leave nothing to complete. The URL is
// Veil's own /staged-uploads/ on a folder bucket and the bucket's presigned PUT on S3; this script
// does not care which (it prints it).
import { createHash, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { basename } from "node:path";

const [base, token, imagePath, mib = "8"] = process.argv.slice(2);
if (!base || !token || !imagePath) {
  console.error("usage: node presign.mjs <base url> <token> <image.jpg> [MiB]");
  process.exit(2);
}
let failed = 0;
const fail = (what, msg) => {
  console.error(`FAIL presign ${what}: ${msg}`);
  failed++;
};
const sha256 = (b) => createHash("sha256").update(b).digest("hex");

async function graphql(query, variables) {
  const res = await fetch(`${base}/graphql`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return res.json();
}

const createMutation = `mutation($in: CreateUploadInput!) {
  createUpload(input: $in) { id url method headers { name value } expiresAt }
}`;
const completeMutation = `mutation($id: ID!, $in: CompleteUploadInput) {
  completeUpload(id: $id, input: $in) { __typename id title fileSize contentType sha256 url }
}`;

async function create(what, input) {
  const r = await graphql(createMutation, { in: input });
  if (r.errors) throw new Error(`createUpload: ${JSON.stringify(r.errors)}`);
  const p = r.data.createUpload;
  if (p.method !== "PUT" || !(Date.parse(p.expiresAt) > Date.now())) throw new Error(`createUpload gave ${JSON.stringify(p)}`);
  return p;
}

// put sends body as fetch does in a browser: a Blob (fetch sets Content-Length), the returned
// method and headers, the URL made absolute against the API's base when Veil returned a path.
async function put(p, body, url = p.url) {
  const headers = Object.fromEntries(p.headers.map((h) => [h.name, h.value]));
  const res = await fetch(new URL(url, base), { method: p.method, headers, body: new Blob([body]) });
  return { status: res.status, text: await res.text() };
}

async function roundTrip(what, kind, filename, contentType, bytes) {
  const p = await create(what, { kind, filename, size: bytes.length, contentType, sha256: sha256(bytes) });
  const where = new URL(p.url, base);
  const put1 = await put(p, bytes);
  if (put1.status !== 200) throw new Error(`PUT ${where.origin}${where.pathname}: ${put1.status} ${put1.text.slice(0, 300)}`);
  const r = await graphql(completeMutation, { id: p.id, in: { title: `presign ${what}`, tags: ["fetch"] } });
  if (r.errors) throw new Error(`completeUpload: ${JSON.stringify(r.errors)}`);
  const item = r.data.completeUpload;
  if (item.fileSize !== bytes.length || item.sha256 !== sha256(bytes) || item.contentType !== contentType) {
    throw new Error(`completed ${JSON.stringify(item)}, sent ${bytes.length} bytes ${sha256(bytes)} ${contentType}`);
  }
  const res = await fetch(new URL(item.url, base), { headers: { Authorization: `Bearer ${token}` } });
  const back = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200 || !back.equals(bytes)) throw new Error(`download ${item.url}: ${res.status}, ${back.length} bytes`);
  console.log(`ok presign ${what}: ${item.__typename} ${item.id}, ${bytes.length} bytes PUT to ${where.origin}${where.pathname.replace(/[^/]*$/, "…")}, downloaded identical`);
}

const image = await readFile(imagePath);
// A document: printable random text, so that no run duplicates another.
const doc = Buffer.from(randomBytes(Number(mib) << 19).toString("hex"));
for (const [what, kind, filename, ct, bytes] of [
  ["image", "IMAGE", basename(imagePath), "image/jpeg", image],
  [`document ${mib} MiB`, "DOCUMENT", "notes.txt", "text/plain", doc],
]) {
  try {
    await roundTrip(what, kind, filename, ct, bytes);
  } catch (e) {
    fail(what, e.message);
  }
}

// Refusals: neither a body of another size nor a tampered URL stores anything, so the upload has
// nothing to complete; the untouched URL then still works.
try {
  const bytes = Buffer.from(randomBytes(64 << 10).toString("hex"));
  const p = await create("refusals", { kind: "DOCUMENT", filename: "refused.txt", size: bytes.length, contentType: "text/plain" });
  const short = await put(p, bytes.subarray(0, bytes.length - 1));
  if (short.status < 400 || short.status >= 500) fail("wrong size", `PUT of ${bytes.length - 1} bytes (declared ${bytes.length}): ${short.status}, want 4xx`);
  const u = new URL(p.url, base);
  const sigParam = u.searchParams.has("X-Amz-Signature") ? "X-Amz-Signature" : "signature";
  const sig = u.searchParams.get(sigParam) || "";
  u.searchParams.set(sigParam, (sig[0] === "a" ? "b" : "a") + sig.slice(1));
  const tampered = await put(p, bytes, u.toString());
  if (tampered.status !== 403) fail("tampered URL", `PUT with a changed ${sigParam}: ${tampered.status}, want 403`);
  const r = await graphql(completeMutation, { id: p.id });
  const code = r.errors?.[0]?.extensions?.code;
  if (code !== "BAD_USER_INPUT") fail("refusals", `completeUpload after refused PUTs: ${JSON.stringify(r)}, want BAD_USER_INPUT (nothing uploaded)`);
  const ok = await put(p, bytes);
  const done = ok.status === 200 ? await graphql(completeMutation, { id: p.id }) : null;
  if (!done || done.errors || done.data.completeUpload.fileSize !== bytes.length) fail("refusals", `the untouched URL after them: ${ok.status} ${JSON.stringify(done)}`);
  if (failed === 0) console.log(`ok presign refusals: wrong size ${short.status}, tampered ${sigParam} ${tampered.status}, nothing stored; the untouched URL then worked`);
} catch (e) {
  fail("refusals", e.message);
}
process.exit(failed ? 1 : 0);
