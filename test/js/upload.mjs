// Uploads a file to a running Veil with apollo-upload-client (the client the issue names) and
// checks that what was stored is byte-identical: node upload.mjs <base url> <token> <file>...
import { ApolloClient, InMemoryCache, gql } from "@apollo/client";
import UploadHttpLink from "apollo-upload-client/UploadHttpLink.mjs";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { basename } from "node:path";

const [base, token, ...paths] = process.argv.slice(2);
if (!base || !token || paths.length === 0) {
  console.error("usage: node upload.mjs <base url> <token> <file>...");
  process.exit(2);
}
const client = new ApolloClient({
  cache: new InMemoryCache(),
  link: new UploadHttpLink({
    uri: `${base}/graphql`,
    headers: { Authorization: `Bearer ${token}`, "Apollo-Require-Preflight": "true" },
  }),
});
// apollo-upload-client extracts every File in the variables into its own multipart part.
const single = gql`
  mutation Upload($file: Upload!) {
    uploadImage(input: { file: $file, tags: ["apollo"] }) { id sha256 fileSize url }
  }
`;
let failed = 0;
for (const path of paths) {
  const bytes = await readFile(path);
  const want = createHash("sha256").update(bytes).digest("hex");
  const file = new File([bytes], basename(path), { type: "image/jpeg" });
  try {
    const { data } = await client.mutate({ mutation: single, variables: { file } });
    const got = data.uploadImage;
    if (got.sha256 !== want || got.fileSize !== bytes.length) {
      console.error(`FAIL ${path}: stored ${got.sha256}/${got.fileSize}, sent ${want}/${bytes.length}`);
      failed++;
      continue;
    }
    const res = await fetch(base + got.url, { headers: { Authorization: `Bearer ${token}` } });
    const back = Buffer.from(await res.arrayBuffer());
    if (res.status !== 200 || !back.equals(bytes)) {
      console.error(`FAIL ${path}: download ${res.status}, ${back.length} bytes`);
      failed++;
      continue;
    }
    console.log(`ok ${basename(path)} ${got.id} ${got.sha256}`);
  } catch (e) {
    console.error(`FAIL ${path}: ${e.message}`);
    failed++;
  }
}

// One File in two variables (apollo-upload-client sends one part mapped to both paths), into two
// collections, with a quote in its name (FormData sends it as %22): two images, both named so.
{
  const bytes = await readFile(paths[0]);
  const name = `say "cheese" ${basename(paths[0])}`;
  const file = new File([bytes], name, { type: "image/jpeg" });
  const collections = [];
  for (const n of ["apollo-twice-a", "apollo-twice-b"]) {
    const res = await fetch(`${base}/graphql`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: "mutation($n: String!) { createCollection(input: {name: $n}) { id } }", variables: { n } }),
    });
    collections.push((await res.json()).data.createCollection.id);
  }
  const twice = gql`
    mutation Twice($a: Upload!, $b: Upload!, $ca: ID, $cb: ID) {
      a: uploadImage(input: { file: $a, collectionId: $ca }) { id filename sha256 }
      b: uploadImage(input: { file: $b, collectionId: $cb }) { id filename sha256 }
    }
  `;
  try {
    const { data } = await client.mutate({ mutation: twice, variables: { a: file, b: file, ca: collections[0], cb: collections[1] } });
    const want = createHash("sha256").update(bytes).digest("hex");
    if (data.a.id === data.b.id || data.a.sha256 !== want || data.b.sha256 !== want || data.a.filename !== name || data.b.filename !== name) {
      console.error(`FAIL one file in two variables: ${JSON.stringify(data)}`);
      failed++;
    } else {
      console.log(`ok one file in two variables: ${data.a.id} and ${data.b.id}, named ${data.a.filename}`);
    }
  } catch (e) {
    console.error(`FAIL one file in two variables: ${e.message}`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
