// Checks Veil's GraphiQL page in a real browser (Debian's Chromium driven by playwright-core),
// with every request to another host refused, as on a machine without internet:
// 1. the page loads from Veil alone, with no Content-Security-Policy violation and no script error;
// 2. a token given as /#token=… fills in the Authorization header and leaves the address bar;
// 3. `{ me { email } }` runs and shows the admin's email;
// 4. a subscription started from the page shows a privacy change made over HTTP.
// Usage: node graphiql.mjs <base url> <admin token> <image file>
import { chromium } from "playwright-core";
import { readFile } from "node:fs/promises";
import { basename } from "node:path";

const [base, token, imagePath] = process.argv.slice(2);
if (!base || !token || !imagePath) {
  console.error("usage: node graphiql.mjs <base url> <token> <image file>");
  process.exit(2);
}
const origin = new URL(base).origin;
let browser;
async function fail(msg) {
  console.error(`FAIL graphiql: ${msg}`);
  if (browser) await browser.close();
  process.exit(1);
}

async function gql(query, variables) {
  const res = await fetch(`${base}/graphql`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (body.errors) await fail(`${query.slice(0, 40)}…: ${JSON.stringify(body.errors)}`);
  return body.data;
}

async function upload(path) {
  const form = new FormData();
  form.append("operations", JSON.stringify({ query: "mutation($f: Upload!) { uploadImage(input: {file: $f}) { id } }", variables: { f: null } }));
  form.append("map", JSON.stringify({ 0: ["variables.f"] }));
  form.append("0", new Blob([await readFile(path)]), basename(path));
  const res = await fetch(`${base}/graphql`, { method: "POST", headers: { Authorization: `Bearer ${token}`, "Apollo-Require-Preflight": "true" }, body: form });
  const body = await res.json();
  if (body.errors) await fail(`upload: ${JSON.stringify(body.errors)}`);
  return body.data.uploadImage.id;
}

browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const context = await browser.newContext();
const external = [];
await context.route("**/*", (route) => {
  const u = new URL(route.request().url());
  if (u.origin !== origin) {
    external.push(u.href);
    return route.abort("internetdisconnected");
  }
  return route.continue();
});
const page = await context.newPage();
const problems = [];
page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));

// 1–3: the page, the token from the fragment, a query.
const q = encodeURIComponent("{ me { email } }");
const resp = await page.goto(`${base}/?query=${q}#token=${token}`, { waitUntil: "load" });
if (!resp.headers()["content-security-policy"]) await fail("no Content-Security-Policy on the page");
const run = page.locator(".graphiql-execute-button");
await run.waitFor({ timeout: 15000 }).catch(() => fail(`GraphiQL never rendered; ${problems.join("; ")}`));
if (page.url().includes("token")) await fail(`the token stayed in the address bar: ${page.url()}`);
await run.click();
await page.waitForFunction(() => document.querySelector(".result-window")?.innerText.includes("admin@localhost"), null, { timeout: 15000 })
  .catch(async () => fail(`{ me { email } } never showed admin@localhost: ${await page.locator(".result-window").innerText().catch(() => "?")}`));

// 4: a subscription from the page sees a publish made over HTTP. The page's websocket is not
// acknowledged per subscription, so publish and unpublish until an event shows.
const imageId = await upload(imagePath);
const { upsertContent } = await gql('mutation($m: ID!) { upsertContent(input: {kind: "page", key: "graphiql", references: [{mediaId: $m}]}) { id } }', { m: imageId });
const sub = encodeURIComponent("subscription { privacyChanged { mediaId privacy cause } }");
await page.goto(`${base}/?query=${sub}`, { waitUntil: "load" });
await run.waitFor({ timeout: 15000 });
await run.click();
let shown = false;
for (let i = 0; i < 40 && !shown; i++) {
  await gql(`mutation($id: ID!) { ${i % 2 ? "unpublishContent" : "publishContent"}(id: $id) { madePublic } }`, { id: upsertContent.id });
  shown = await page.waitForFunction((id) => document.querySelector(".result-window")?.innerText.includes(id), imageId, { timeout: 500 })
    .then(() => true, () => false);
}
if (!shown) await fail(`the subscription showed no privacyChanged event for ${imageId}: ${await page.locator(".result-window").innerText()}`);

const csp = problems.filter((p) => /Content Security Policy/i.test(p));
if (csp.length) await fail(`CSP violations: ${csp.join("; ")}`);
const errors = problems.filter((p) => !/favicon/.test(p));
if (errors.length) await fail(`browser errors: ${errors.join("; ")}`);
if (external.length) await fail(`requests to other hosts: ${external.join(", ")}`);
await browser.close();
console.log("ok graphiql: offline page, token from the fragment, { me { email } } and a subscription in Chromium");
