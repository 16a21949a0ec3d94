// Checks Veil's media library page (/library/) in a real browser (Debian's Chromium driven by
// playwright-core), every request to another host refused as on a machine without internet, as an
// editor (VIEW, ADD, CHANGE, DELETE on the root collection, PUBLISH; not an admin):
//  1. sign in by pasting a token; it is kept in sessionStorage, never in a cookie; a /library/#token=
//     link signs in too and leaves the address bar;
//  2. upload three files at once (two images, one document), each with a progress bar that moves;
//     a hostile file (HTML named .jpg) refused with the server's message; a duplicate shown as a
//     link to the existing item; the counts and the grid follow; arrow keys move through the grid;
//  3. on an image's page, a click and then a drag on the image set the focal point and the three
//     fill previews change each time; title, alt text, tags and collection are edited and saved;
//     the library filters by text, tag and collection (with and without its subtree), shows the
//     documents tab, and pages over the cursor (one item a page: ?pageSize=1);
//  4. content published through the API turns the badge public, lists the content under usage,
//     disables delete with the reason, and the live panel shows the privacy change and the
//     permission results;
//  5. the mem driver's injected fault (VEIL_TEST_MEM_ACL_FAULTS) leaves an item outdated: its page
//     and the live panel show it with its last error; with the fault gone, "Retry now" fixes it;
//  6. unpublished, the image is deleted from its page;
//  7. at 360 px wide and in the dark scheme the page fits and stays accessible.
// axe-core runs on every view (no serious or critical violation). Screenshots of each step go to
// the screenshots folder (not committed).
// Usage: node library.mjs <base url> <admin token> <fault file> <corpus dir> <screenshots dir>
import { chromium } from 'playwright-core';
import { readFile, writeFile, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const [base, adminToken, faultFile, corpus, shots] = process.argv.slice(2);
if (!base || !adminToken || !faultFile || !corpus || !shots) {
  console.error('usage: node library.mjs <base url> <admin token> <fault file> <corpus dir> <screenshots dir>');
  process.exit(2);
}
const origin = new URL(base).origin;
const axeSource = (await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8'));
await mkdir(shots, { recursive: true });
for (const f of await readdir(shots)) if (/^\d\d-[a-z0-9-]+\.png$/.test(f)) await rm(join(shots, f)); // a previous run's
let browser;
let current = 'start';
async function fail(msg) {
  console.error(`FAIL library (${current}): ${msg}`);
  if (browser) await browser.close();
  process.exit(1);
}

async function gql(query, variables, token = adminToken) {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (body.errors) await fail(`${query.slice(0, 60)}…: ${JSON.stringify(body.errors)}`);
  return body.data;
}

// An editor: everything on the root collection and PUBLISH, but no admin.
const { collections } = await gql('{ collections { id parent { id } } }');
const root = collections.find((c) => !c.parent).id;
const { createUser } = await gql('mutation { createUser(input: {name: "Eddie Editor", email: "editor@example.test"}) { id } }');
const { createGroup } = await gql('mutation { createGroup(name: "editors") { id } }');
for (const p of ['VIEW', 'ADD', 'CHANGE', 'DELETE']) {
  await gql('mutation($g: ID!, $p: Permission!, $c: ID) { grant(input: {groupId: $g, permission: $p, collectionId: $c}) { id } }', { g: createGroup.id, p, c: root });
}
await gql('mutation($g: ID!) { grant(input: {groupId: $g, permission: PUBLISH}) { id } }', { g: createGroup.id });
await gql('mutation($g: ID!, $u: ID!) { addToGroup(groupId: $g, userId: $u) { id } }', { g: createGroup.id, u: createUser.id });
const { createToken: { token } } = await gql('mutation($u: ID!) { createToken(input: {name: "library test", userId: $u}) { token } }', { u: createUser.id });

browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light' });
const external = [];
await context.route('**/*', (route) => {
  const u = new URL(route.request().url());
  if (u.origin !== origin) {
    external.push(u.href);
    return route.abort('internetdisconnected');
  }
  return route.continue();
});
const problems = [];
function watch(page) {
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  return page;
}
const page = watch(await context.newPage());
page.setDefaultTimeout(15000);
let shot = 0;

async function step(name) {
  current = name;
  console.log(`  library: ${name}`);
}
async function snap(name, p = page) {
  await p.screenshot({ path: join(shots, `${String(++shot).padStart(2, '0')}-${name}.png`), fullPage: true });
}
// axe-core, injected through the DevTools protocol (the page's CSP allows no injected script tag).
async function axe(label, p = page) {
  if (!(await p.evaluate(() => typeof window.axe === 'object'))) await p.evaluate(axeSource);
  const res = await p.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  if (bad.length) {
    await fail(`axe on ${label}: ${bad.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('; ')}`).join(' | ')}`);
  }
}
const text = (sel, p = page) => p.locator(sel).innerText();
// Waits until the page has rendered a view: "library" or "image:<id>".
const view = (v) => page.locator(`main[data-view="${v}"]`).waitFor();

// 1. Sign in.
await step('sign in by pasting a token');
const resp = await page.goto(`${base}/library/`, { waitUntil: 'load' });
if (!resp.headers()['content-security-policy']?.includes("script-src 'self'")) await fail('no strict Content-Security-Policy on the page');
await page.locator('#token').waitFor();
await axe('the sign-in form');
await snap('sign-in');
await page.fill('#token', 'veil_tok_not-a-real-token');
await page.click('#sign-in button[type=submit]');
await page.waitForFunction(() => document.getElementById('sign-in-error')?.textContent.includes('Not signed in'));
await page.fill('#token', token);
await page.click('#sign-in button[type=submit]');
await page.waitForFunction(() => /No images match|Showing/.test(document.getElementById('summary')?.textContent || ''));
await page.waitForFunction(() => document.getElementById('live-state')?.dataset.state === 'open');
if ((await text('#who-name')) !== 'Eddie Editor (editor@example.test)') await fail(`signed in as ${await text('#who-name')}`);
if ((await page.evaluate(() => sessionStorage.getItem('veil.library.token'))) !== token) await fail('the token is not in sessionStorage');
if ((await context.cookies()).length) await fail(`cookies were set: ${JSON.stringify(await context.cookies())}`);
{
  const p2 = watch(await context.newPage());
  await p2.goto(`${base}/library/#token=${encodeURIComponent(token)}`, { waitUntil: 'load' });
  await p2.waitForFunction(() => !document.getElementById('who').hidden);
  if (p2.url().includes('token')) await fail(`the token stayed in the address bar: ${p2.url()}`);
  await p2.close();
}

// 2. Uploads: three at once with progress, a hostile file, a duplicate. Uploads are slowed down
// (DevTools network conditions) so that progress is seen between 0 and 100.
await step('upload three files with progress');
const cdp = await context.newCDPSession(page);
await cdp.send('Network.enable');
await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: 256 * 1024 });
await page.evaluate(() => {
  window.progressSeen = {};
  new MutationObserver((muts) => {
    for (const m of muts) {
      if (m.target.tagName !== 'PROGRESS') continue;
      const name = m.target.closest('li').dataset.name;
      (window.progressSeen[name] ||= []).push(Number(m.target.value));
    }
  }).observe(document.getElementById('uploads'), { attributes: true, subtree: true, attributeFilter: ['value'] });
});
const files = [join(corpus, 'photos/LadyBird.jpg'), join(corpus, 'photos/Garden.jpg'), join(corpus, 'documents/shared-mime-info-spec.pdf')];
await page.setInputFiles('#file-input', files);
await page.waitForFunction(() => {
  const rows = [...document.querySelectorAll('#uploads li')];
  return rows.length === 3 && rows.every((r) => r.dataset.state === 'done');
}, null, { timeout: 30000 }).catch(async () => fail(`uploads did not finish: ${await text('#uploads')}`));
await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
const seen = await page.evaluate(() => window.progressSeen);
for (const name of ['LadyBird.jpg', 'Garden.jpg', 'shared-mime-info-spec.pdf']) {
  const v = seen[name] || [];
  if (!v.includes(100) || !v.some((x) => x > 0 && x < 100)) await fail(`progress of ${name} went ${JSON.stringify(v)}, want steps between 0 and 100 and then 100`);
}
await page.waitForFunction(() => document.getElementById('count-images')?.textContent === '(2)' && document.getElementById('count-documents')?.textContent === '(1)')
  .catch(async () => fail(`counts: images ${await text('#count-images')}, documents ${await text('#count-documents')}`));
await page.waitForFunction(() => document.querySelectorAll('#grid li img[src^="blob:"]').length === 2)
  .catch(async () => fail('the grid thumbnails never loaded'));
await snap('uploaded');

await step('a hostile file is refused, a duplicate is a link');
await page.setInputFiles('#file-input', [
  { name: 'invoice.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('<html><body><script>alert(document.cookie)</script></body></html>') },
  { name: 'LadyBird.jpg', mimeType: 'image/jpeg', buffer: await readFile(join(corpus, 'photos/LadyBird.jpg')) },
]);
await page.waitForFunction(() => document.querySelector('#uploads li[data-name="invoice.jpg"]')?.dataset.state === 'refused');
const refusal = await text('#uploads li[data-name="invoice.jpg"] .status');
if (!/refused: .+/.test(refusal)) await fail(`refusal message: ${refusal}`);
await page.waitForFunction(() => [...document.querySelectorAll('#uploads li[data-name="LadyBird.jpg"]')].some((r) => r.dataset.state === 'duplicate'));
const dupLink = await page.locator('#uploads li[data-state=duplicate] a').getAttribute('href');
if (!/^#\/image\/img_/.test(dupLink)) await fail(`duplicate link ${dupLink}`);
await axe('the library with uploads');
await snap('refused-and-duplicate');

const ids = Object.fromEntries((await gql('{ images { nodes { id filename } } documents { nodes { id } } }')).images.nodes.map((n) => [n.filename, n.id]));
const ladybird = ids['LadyBird.jpg'];
const garden = ids['Garden.jpg'];
if (!ladybird || !garden) await fail(`uploaded images: ${JSON.stringify(ids)}`);
if (dupLink !== `#/image/${ladybird}`) await fail(`duplicate links to ${dupLink}, want ${ladybird}`);

await step('keyboard navigation in the grid');
await page.locator('#grid li a').first().focus();
await page.keyboard.press('ArrowRight');
if ((await page.evaluate(() => document.activeElement.closest('li')?.dataset.id)) !== (await page.locator('#grid li').nth(1).getAttribute('data-id'))) await fail('ArrowRight did not move to the next card');
const first = await page.locator('#grid li').first().getAttribute('data-id');
await page.keyboard.press('Home');
await page.keyboard.press('Enter');
await view(`image:${first}`);

// 3. Focal point.
await step('set a focal point and watch the fill previews change');
await page.goto(`${base}/library/#/image/${ladybird}`);
await view(`image:${ladybird}`);
await page.locator('#focal-area img[src^="blob:"]').waitFor();
const previewSrcs = () => page.evaluate(() => [...document.querySelectorAll('#previews img')].map((i) => i.complete && i.naturalWidth > 0 && i.src.startsWith('blob:') ? i.dataset.src : null));
await page.waitForFunction(() => [...document.querySelectorAll('#previews img')].every((i) => i.src.startsWith('blob:') && i.complete && i.naturalWidth > 0));
const before = await previewSrcs();
const areaBox = await page.locator('#focal-area').boundingBox();
async function previewsChangeFrom(old, what) {
  await page.waitForFunction((old) => {
    const imgs = [...document.querySelectorAll('#previews img')];
    return imgs.every((i, k) => i.dataset.src !== old[k] && i.src.startsWith('blob:') && i.complete && i.naturalWidth > 0);
  }, old).catch(async () => fail(`${what}: previews still ${JSON.stringify(await previewSrcs())}`));
  return previewSrcs();
}
await page.mouse.click(areaBox.x + areaBox.width * 0.2, areaBox.y + areaBox.height * 0.3);
const afterClick = await previewsChangeFrom(before, 'a click');
let fp = (await gql('query($id: ID!) { image(id: $id) { width height focalPoint { x y width height } } }', { id: ladybird })).image;
if (!fp.focalPoint || Math.abs(fp.focalPoint.x / fp.width - 0.2) > 0.03 || Math.abs(fp.focalPoint.y / fp.height - 0.3) > 0.03) await fail(`focal point after a click at 20%, 30%: ${JSON.stringify(fp)}; page says ${await text("#toast")} / ${await text("#focal-value")}; previews ${JSON.stringify(before)} -> ${JSON.stringify(afterClick)}`);
await snap('focal-click');
await page.mouse.move(areaBox.x + areaBox.width * 0.6, areaBox.y + areaBox.height * 0.5);
await page.mouse.down();
await page.mouse.move(areaBox.x + areaBox.width * 0.75, areaBox.y + areaBox.height * 0.7, { steps: 5 });
await page.mouse.move(areaBox.x + areaBox.width * 0.9, areaBox.y + areaBox.height * 0.9, { steps: 5 });
await page.mouse.up();
await previewsChangeFrom(afterClick, 'a drag');
fp = (await gql('query($id: ID!) { image(id: $id) { width height focalPoint { x y width height } } }', { id: ladybird })).image;
if (Math.abs(fp.focalPoint.width / fp.width - 0.3) > 0.03 || Math.abs(fp.focalPoint.x / fp.width - 0.75) > 0.03) await fail(`focal point after a drag over 60–90%: ${JSON.stringify(fp)}`);
await axe('the image page');
await snap('focal-drag');

// 3b. Details, then the filters: text, tag, collection (tree), documents; cursor paging.
await step('edit details, filter by text, tag and collection, page over the cursor');
const { createCollection: gardens } = await gql('mutation($p: ID) { createCollection(input: {name: "Gardens", parentId: $p}) { id } }', { p: root });
await page.goto(`${base}/library/#/image/${garden}`);
await view(`image:${garden}`);
await page.fill('#m-title', 'Marigold garden');
await page.fill('#m-alt', 'A red and yellow marigold');
await page.fill('#m-tags', 'flowers, orange');
await page.selectOption('#m-collection', gardens.id);
await page.click('#m-save');
await page.waitForFunction(() => document.getElementById('m-status').textContent === 'Saved.')
  .catch(async () => fail(`details not saved: ${await text('#m-status')}`));
const saved = (await gql('query($id: ID!) { image(id: $id) { title alt tags collection { id } } }', { id: garden })).image;
if (saved.title !== 'Marigold garden' || saved.alt !== 'A red and yellow marigold' || saved.tags.join() !== 'flowers,orange' || saved.collection.id !== gardens.id) await fail(`saved details: ${JSON.stringify(saved)}`);
await page.goto(`${base}/library/?pageSize=1#/`); // a new load: the session's token signs in again
await view('library');
await page.waitForFunction(() => document.getElementById('summary').textContent === 'Showing 2 of 2 images.')
  .catch(async () => fail(`one item a page: ${await text('#summary')}`));
const gridIds = async () => page.evaluate(() => [...document.querySelectorAll('#grid li')].map((li) => li.dataset.id));
if (new Set(await gridIds()).size !== 2) await fail(`paging repeated items: ${await gridIds()}`);
async function filtered(want, what) {
  await page.waitForFunction((want) => {
    const ids = [...document.querySelectorAll('#grid li')].map((li) => li.dataset.id);
    return document.getElementById('summary').textContent.startsWith('Showing') && ids.length === want.length && want.every((id) => ids.includes(id));
  }, want).catch(async () => fail(`${what}: grid ${await gridIds()}, want ${want}; ${await text('#summary')}`));
}
await page.fill('#f-search', 'lady');
await filtered([ladybird], 'search "lady"');
if ((await text('#count-images')) !== '(1)') await fail(`count with search: ${await text('#count-images')}`);
await page.fill('#f-search', '');
await page.fill('#f-tag', 'orange');
await filtered([garden], 'tag "orange"');
await page.fill('#f-tag', '');
await page.selectOption('#f-collection', gardens.id);
await filtered([garden], 'collection Gardens');
await page.selectOption('#f-collection', root);
await filtered([ladybird, garden], 'root collection with subcollections');
await page.uncheck('#f-sub');
await filtered([ladybird], 'root collection alone');
await page.check('#f-sub');
await page.selectOption('#f-collection', '');
await page.click('#tab-documents');
await page.waitForFunction(() => document.querySelectorAll('#doclist li').length === 1 && document.getElementById('summary').textContent === 'Showing 1 of 1 document.')
  .catch(async () => fail(`documents tab: ${await text('#summary')}`));
await axe('the documents list');
await snap('documents');
await page.keyboard.press('ArrowLeft'); // back to the images tab, by keyboard
await filtered([ladybird, garden], 'the images tab again');
await page.goto(`${base}/library/#/image/${ladybird}`);
await view(`image:${ladybird}`);

// 4. Publish through the API: badge, usage, delete disabled, live panel.
await step('publish content through the API and watch the badge and the live panel');
const { upsertContent: content } = await gql('mutation($m: ID!) { upsertContent(input: {kind: "page", key: "home", title: "Home page", references: [{mediaId: $m, field: "hero"}]}) { id } }', { m: ladybird });
await page.waitForFunction(() => document.querySelector('#usage-draft')?.textContent.includes('page/home')).catch(() => {}); // a draft shows on the next reload only
await gql('mutation($id: ID!) { publishContent(id: $id) { madePublic } }', { id: content.id });
await page.waitForFunction(() => document.querySelector('#privacy .badge')?.dataset.privacy === 'PUBLIC')
  .catch(async () => fail(`badge stayed ${await text('#privacy')}`));
await page.waitForFunction(() => document.getElementById('usage-live')?.textContent.includes('page/home'));
await page.waitForFunction((id) => [...document.querySelectorAll('#events li')].some((li) => li.dataset.kind === 'privacy' && li.dataset.mediaId === id && li.textContent.includes('became public')), ladybird)
  .catch(async () => fail(`no privacy event in the live panel: ${await text('#events')}`));
await page.waitForFunction((id) => [...document.querySelectorAll('#events li')].some((li) => li.dataset.kind === 'permissions' && li.dataset.mediaId === id && li.textContent.includes('files made public')), ladybird)
  .catch(async () => fail(`no permission result in the live panel: ${await text('#events')}`));
await page.waitForFunction(() => document.getElementById('delete-button')?.disabled && document.getElementById('delete-reason').textContent.includes('live content uses it'))
  .catch(async () => fail(`delete not disabled with the reason: ${await text('#delete')}`));
await axe('the published image page');
await snap('published');

// 5. An injected permission fault, then "Retry now".
await step('retry an outdated item made by the mem driver\'s fault injection');
await writeFile(faultFile, `${garden}\n`);
const { upsertContent: content2 } = await gql('mutation($m: ID!) { upsertContent(input: {kind: "page", key: "garden", references: [{mediaId: $m}]}) { id } }', { m: garden });
await page.goto(`${base}/library/#/image/${garden}`);
await view(`image:${garden}`);
await gql('mutation($id: ID!) { publishContent(id: $id) { madePublic } }', { id: content2.id });
await page.waitForFunction(() => document.getElementById('perm-state')?.dataset.outdated === 'true' && /injected fault/.test(document.getElementById('perm-error')?.textContent || ''))
  .catch(async () => fail(`the item page never showed the outdated state with its error: ${await text('#permissions')}`));
await page.waitForFunction((id) => document.querySelector(`#outdated-list li[data-media-id="${id}"]`)?.textContent.includes('injected fault'), garden)
  .catch(async () => fail(`the live panel's outdated list: ${await text('#outdated-list')}`));
await page.waitForFunction((id) => [...document.querySelectorAll('#events li.failed')].some((li) => li.dataset.mediaId === id), garden);
await axe('an outdated item');
await snap('outdated');
await writeFile(faultFile, '');
await page.click('#retry-item');
await page.waitForFunction(() => document.getElementById('perm-state')?.dataset.outdated === 'false')
  .catch(async () => fail(`retry did not fix the item: ${await text('#permissions')}`));
await page.waitForFunction(() => /^Retried 1 item: \d+ file permissions? set, 0 still failing/.test(document.getElementById('toast').textContent) || document.querySelector('#outdated-list li.muted')?.textContent.startsWith('None'));
await page.waitForFunction(() => document.querySelector('#outdated-list li.muted')?.textContent.startsWith('None'))
  .catch(async () => fail(`the outdated list after the retry: ${await text('#outdated-list')}`));
const st = (await gql('query($id: ID!) { image(id: $id) { filePermissionsOutdated privacy } }', { id: garden })).image;
if (st.filePermissionsOutdated || st.privacy !== 'PUBLIC') await fail(`after the retry the API says ${JSON.stringify(st)}`);
await snap('retried');

// 6. Unpublish, then delete from the page.
await step('unpublish and delete');
await page.goto(`${base}/library/#/image/${ladybird}`);
await view(`image:${ladybird}`);
await gql('mutation($id: ID!) { unpublishContent(id: $id) { madePrivate } }', { id: content.id });
await page.waitForFunction(() => document.querySelector('#privacy .badge')?.dataset.privacy === 'PRIVATE' && !document.getElementById('delete-button').disabled)
  .catch(async () => fail(`after unpublish: ${await text('#privacy')} / ${await text('#delete')}`));
await page.click('#delete-button');
await page.click('#delete-confirm');
await page.waitForFunction(() => location.hash === '#/' && document.getElementById('count-images')?.textContent === '(1)')
  .catch(async () => fail(`after delete: ${page.url()} ${await text('#summary').catch(() => '')}`));
{
  const res = await fetch(`${base}/graphql`, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${adminToken}` },
    body: JSON.stringify({ query: 'query($id: ID!) { image(id: $id) { id } }', variables: { id: ladybird } }) });
  const body = await res.json();
  if (body.data?.image || body.errors?.[0]?.extensions?.code !== 'NOT_FOUND') await fail(`the deleted image: ${JSON.stringify(body)}`);
}
await snap('deleted');

// 7. Narrow and dark.
await step('360 px wide, light and dark');
await page.setViewportSize({ width: 360, height: 740 });
for (const scheme of ['light', 'dark']) {
  await page.emulateMedia({ colorScheme: scheme });
  for (const [label, hash] of [['library', '#/'], ['item', `#/image/${garden}`]]) {
    await page.goto(`${base}/library/${hash}`);
    await page.waitForFunction(() => document.querySelector('#summary')?.textContent.startsWith('Showing') || document.querySelector('#previews img[src^="blob:"]'));
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    if (overflow > 0) await fail(`${label} at 360 px (${scheme}) is ${overflow}px wider than the screen`);
    await axe(`${label} at 360 px, ${scheme}`);
    await snap(`${label}-360-${scheme}`);
  }
}
await page.setViewportSize({ width: 1280, height: 900 });
await page.goto(`${base}/library/#/`);
await page.waitForFunction(() => document.querySelector('#summary')?.textContent.startsWith('Showing'));
await axe('the library, desktop, dark');
await snap('library-desktop-dark');

current = 'end';
const csp = problems.filter((p) => /Content Security Policy/i.test(p));
if (csp.length) await fail(`CSP violations: ${csp.join('; ')}`);
// The refused sign-in attempt answers 401, which Chromium logs; nothing else may be an error.
const errors = problems.filter((p) => !/status of 401/.test(p));
if (errors.length) await fail(`browser errors: ${errors.join('; ')}`);
if (external.length) await fail(`requests to other hosts: ${external.join(', ')}`);
await browser.close();
console.log(`ok library: sign-in, uploads with progress, refusal, duplicate, focal point previews, publish, live panel, fault retry, delete, 360 px, dark, axe; screenshots in ${shots}`);
