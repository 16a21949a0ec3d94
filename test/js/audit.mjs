// Runs the GraphQL-over-HTTP conformance audit of the graphql-http npm package against Veil's
// /graphql, once anonymously and once with a token (the answers must not differ in form), and
// fails on any warning or error. Notices (what the spec leaves open) are printed.
// Usage: node audit.mjs <base url> <token>
import { serverAudits } from "graphql-http";

const [base, token] = process.argv.slice(2);
if (!base || !token) {
  console.error("usage: node audit.mjs <base url> <token>");
  process.exit(2);
}
const url = `${base}/graphql`;

async function audit(label, fetchFn) {
  const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
  const bad = [];
  for (const a of serverAudits({ url, fetchFn })) {
    const r = await a.fn();
    counts[r.status]++;
    if (r.status === "ok") continue;
    let body = "";
    try { body = await r.response.text(); } catch { /* already read by the audit */ }
    const line = `${r.status.toUpperCase()} [${label}] ${r.id} ${r.name}: ${r.reason}` +
      ` (HTTP ${r.response.status}${body ? ` ${body.slice(0, 200)}` : ""})`;
    if (r.status === "notice") console.log(line);
    else bad.push(line);
  }
  for (const line of bad) console.error(line);
  console.log(`graphql-http audit [${label}]: ${counts.ok} ok, ${counts.notice} notice, ${counts.warn} warn, ${counts.error} error`);
  return bad.length;
}

const withToken = (input, init = {}) => {
  const headers = new Headers(init.headers);
  headers.set("Authorization", `Bearer ${token}`);
  return fetch(input, { ...init, headers });
};
const failures = (await audit("anonymous", fetch)) + (await audit("token", withToken));
if (failures > 0) {
  console.error(`FAIL graphql-http audit: ${failures} warnings or errors`);
  process.exit(1);
}
console.log("ok graphql-http audit: 0 warnings, 0 errors");
