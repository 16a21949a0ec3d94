// A frontend's integration test against `veil serve --ephemeral`: the admin token is the one the
// job chose (VEIL_BOOTSTRAP_TOKEN); upload an image the way a browser does (fetch + FormData,
// GraphQL multipart), read it back with a rendition, and fetch the rendition.
import assert from "node:assert/strict";

const url = process.env.VEIL_URL, token = process.env.VEIL_BOOTSTRAP_TOKEN;
const gql = async (body, headers = {}) => {
  const res = await fetch(url + "/graphql", { method: "POST", body, headers: { Authorization: "Bearer " + token, ...headers } });
  return { status: res.status, json: await res.json() };
};

const me = await gql(JSON.stringify({ query: "{ me { email isAdmin } }" }), { "Content-Type": "application/json" });
assert.equal(me.status, 200);
assert.deepEqual(me.json.data.me, { email: "admin@localhost", isAdmin: true });

// A 1×1 PNG.
const png = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64");
const form = new FormData();
form.append("operations", JSON.stringify({
  query: 'mutation($f: Upload!) { uploadImage(input: {file: $f, title: "pixel"}) { id width height rendition(spec: "fill-1x1|format-webp") { url } } }',
  variables: { f: null },
}));
form.append("map", JSON.stringify({ 0: ["variables.f"] }));
form.append("0", new Blob([png], { type: "image/png" }), "pixel.png");
const up = await gql(form);
assert.equal(up.status, 200, JSON.stringify(up.json));
const img = up.json.data.uploadImage;
assert.equal(img.width, 1);

const r = await fetch(url + img.rendition.url, { headers: { Authorization: "Bearer " + token } });
assert.equal(r.status, 200);
assert.equal(r.headers.get("content-type"), "image/webp");
console.log("ok ephemeral: token, upload, rendition");
