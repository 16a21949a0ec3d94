// Resumable uploads with tus-js-client (the client the issue names), against a real `veil serve`
// that this script starts, kills and restarts: node tus.mjs <veil binary> <work dir> [MiB]
//
// A document of 200 MiB (generated here, never committed) is uploaded in 16 MiB PATCHes; the client
// aborts at 30 % and resumes; at 60 % the server is killed (SIGKILL) and started again on the same
// data folder and port, and the client resumes; the stored document must be byte-identical.
// A second tab follows the upload with the uploadProgress subscription (server-sent events).
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import * as tus from "tus-js-client";

const [bin, work, mib = "200"] = process.argv.slice(2);
if (!bin || !work) {
  console.error("usage: node tus.mjs <veil binary> <work dir> [MiB]");
  process.exit(2);
}
const token = "tus-js-" + randomBytes(24).toString("hex");
const port = await new Promise((resolve) => {
  const s = createServer().listen(0, "127.0.0.1", () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const base = `http://127.0.0.1:${port}`;
const fail = (msg) => {
  console.error("FAIL tus: " + msg);
  if (process.env.TUS_DEBUG) console.error(logs.slice(-4000));
  process.exitCode = 1;
  throw new Error(msg);
};

// The file: printable text (a document type Veil accepts), random so no run duplicates another.
const size = Number(mib) << 20;
const path = join(work, "big.txt");
{
  const out = createWriteStream(path);
  for (let left = size; left > 0; ) {
    const n = Math.min(left, 4 << 20);
    const chunk = Buffer.from(randomBytes(n).toString("base64").slice(0, n - 1) + "\n");
    left -= n;
    if (!out.write(chunk)) await new Promise((r) => out.once("drain", r));
  }
  await new Promise((r) => out.end(r));
}
const bytes = await readFile(path);
if (bytes.length !== size) fail(`generated ${bytes.length} bytes, want ${size}`);
const want = createHash("sha256").update(bytes).digest("hex");

let veil;
let logs = "";
async function start() {
  veil = spawn(bin, ["serve", "--init", "--listen", `127.0.0.1:${port}`, "--metrics-listen", ""], {
    env: { ...process.env, VEIL_DATA_DIR: join(work, "data"), VEIL_BOOTSTRAP_TOKEN: token },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const onData = (d) => (logs += d.toString());
  veil.stdout.on("data", onData);
  veil.stderr.on("data", onData);
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  fail("veil did not start within 10 s:\n" + logs.slice(-2000));
}
async function kill() {
  const exited = new Promise((r) => veil.once("exit", r));
  veil.kill("SIGKILL");
  await exited;
}

// One PATCH run of the upload until `stopAt` (a fraction) or the end; resolves with what happened.
function run(upload, stopAt, onStop) {
  return new Promise((resolve) => {
    let stopped = false;
    upload.options.onProgress = (sent, total) => {
      if (!stopped && stopAt && sent >= total * stopAt) {
        stopped = true;
        Promise.resolve(onStop()).then(() => resolve("stopped"));
      }
    };
    upload.options.onError = (err) => {
      if (!stopped) resolve(err);
    };
    upload.options.onSuccess = () => resolve("done");
    upload.start();
  });
}

await start();
try {
  const upload = new tus.Upload(bytes, {
    endpoint: `${base}/uploads/`,
    headers: { Authorization: `Bearer ${token}` },
    metadata: { filename: "big.txt", filetype: "text/plain", title: "Two hundred MiB" },
    chunkSize: 16 << 20, // a killed instance loses at most the PATCH in progress
    retryDelays: null, // this script decides when to resume
    removeFingerprintOnSuccess: true,
  });
  // 30 %: the client aborts (the connection drops mid-PATCH).
  if ((await run(upload, 0.3, () => upload.abort(false).catch(() => {}))) !== "stopped") fail("the upload ended before 30 %");
  const id = upload.url.slice(upload.url.lastIndexOf("/") + 1);
  const head = async () => {
    const res = await fetch(upload.url, { method: "HEAD", headers: { Authorization: `Bearer ${token}`, "Tus-Resumable": "1.0.0" } });
    return Number(res.headers.get("upload-offset"));
  };
  const at30 = await head();
  console.log(`ok tus: aborted at 30 %, the server kept ${at30} of ${size} bytes`);
  if (!(at30 > 0)) fail("nothing of the aborted PATCH was kept");

  // A second tab follows the upload (uploadProgress over server-sent events).
  const progress = [];
  const sse = fetch(`${base}/graphql`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify({ query: `subscription($id: ID!) { uploadProgress(id: $id) { state received offset size item { id } } }`, variables: { id } }),
  }).then(async (res) => {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of res.body) {
      buf += dec.decode(chunk, { stream: true });
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const ev = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = ev.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5)).join("");
        if (data) {
          const p = JSON.parse(data).data?.uploadProgress;
          if (p) progress.push(p);
        }
      }
    }
  }).catch(() => {});

  // 60 %: the server is killed, then started again on the same data folder and port.
  if ((await run(upload, 0.6, kill)) !== "stopped") fail("the upload ended before 60 %");
  await start();
  const at60 = await head();
  console.log(`ok tus: server killed at 60 % and restarted; it has ${at60} of ${size} bytes`);
  if (!(at60 >= at30)) fail(`the offset went back from ${at30} to ${at60}`);
  const res = await Promise.race([run(upload, 0, () => {}), new Promise((r) => setTimeout(() => r("timed out after 120 s"), 120000))]);
  if (res !== "done") fail(`resuming failed: ${res}`);
  console.log(`ok tus: resumed to the end`);

  const q = await fetch(`${base}/graphql`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify({ query: `query($id: ID!) { upload(id: $id) { state item { id ... on Document { url sha256 fileSize title } } } }`, variables: { id } }),
  }).then((r) => r.json());
  const doc = q.data?.upload?.item;
  if (q.data?.upload?.state !== "COMPLETED" || !doc) fail(`upload(id): ${JSON.stringify(q)}`);
  if (doc.sha256 !== want || doc.fileSize !== size || doc.title !== "Two hundred MiB") fail(`stored ${JSON.stringify(doc)}, sent ${want}/${size}`);
  // identity: Veil compresses text on the fly (brotli), which is not what is measured here.
  const dl = await fetch(base + doc.url, { headers: { Authorization: `Bearer ${token}`, "Accept-Encoding": "identity" } });
  console.log(`ok tus: upload(id) is ${q.data.upload.state}; downloading ${doc.url}`);
  const h = createHash("sha256");
  for await (const chunk of dl.body) h.update(chunk);
  if (dl.status !== 200 || h.digest("hex") !== want) fail(`download of ${doc.url}: ${dl.status}, not byte-identical`);
  console.log(`ok tus: ${size} bytes resumed twice into ${doc.id}, byte-identical (sha256 ${want.slice(0, 16)}…)`);
  // The second tab saw the upload move and finish (it was opened before the kill, so its stream
  // may have ended with the killed instance: then it saw at least the start).
  await Promise.race([sse, new Promise((r) => setTimeout(r, 2000))]);
  if (progress.length === 0) fail("uploadProgress sent nothing");
  console.log(`ok tus: uploadProgress sent ${progress.length} updates, last ${progress.at(-1).state} ${progress.at(-1).received}`);
  if ((await stat(path)).size !== size) fail("the file changed");
} finally {
  veil.kill("SIGTERM");
}
