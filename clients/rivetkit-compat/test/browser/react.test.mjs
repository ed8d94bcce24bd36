// A page built with @rivetkit/react (createRivetKit, useActor), bundled by
// esbuild, in headless Chromium (playwright-core) against a real
// `actorlog serve`: three tabs, one per encoding of the client, on the same
// counter and chat room, each seeing the others' writes. The page is
// served from a second loopback port, so the client's calls are
// cross-origin, as from an app's own dev server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';
import { startServer, uniqueKey } from '../helpers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const artifacts = path.resolve(here, '..', '..', 'test-artifacts');

let srv;
let site;
let siteURL;
let browser;
let tmp;
before(async () => {
  if (!existsSync(executablePath)) {
    throw new Error(`no Chromium at ${executablePath}: apt-get install -y chromium, or set CHROMIUM_PATH`);
  }
  tmp = mkdtempSync(path.join(os.tmpdir(), 'rivetkit-page-'));
  await esbuild.build({
    entryPoints: [path.join(here, 'page', 'app.jsx')],
    outfile: path.join(tmp, 'app.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    jsx: 'automatic',
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'warning',
  });
  const files = {
    '/': ['text/html', readFileSync(path.join(here, 'page', 'index.html'))],
    '/app.js': ['text/javascript', readFileSync(path.join(tmp, 'app.js'))],
  };
  site = http.createServer((req, res) => {
    const f = files[new URL(req.url, 'http://x').pathname];
    if (req.url === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    if (!f) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': f[0] }).end(f[1]);
  });
  await new Promise((resolve) => site.listen(0, '127.0.0.1', resolve));
  siteURL = `http://127.0.0.1:${site.address().port}/`;

  srv = await startServer({ keepData: true });
  browser = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
    viewport: { width: 900, height: 700 },
    timeout: 30_000,
  });
  mkdirSync(artifacts, { recursive: true });
});

after(async () => {
  await browser?.close();
  await srv?.stop();
  if (srv) rmSync(srv.dataDir, { recursive: true, force: true });
  await new Promise((resolve) => (site ? site.close(resolve) : resolve()));
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

async function openTab(query, problems) {
  const page = await browser.newPage();
  page.setDefaultTimeout(15_000);
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  if (process.env.PAGE_LOG) page.on('console', (m) => console.log(`[page] ${m.type()}: ${m.text()}`));
  await page.goto(`${siteURL}?${new URLSearchParams({ endpoint: srv.url, ...query })}`);
  try {
    await page.locator('#counter-status[data-status="connected"]').waitFor();
    await page.locator('#chat-status[data-status="connected"]').waitFor();
  } catch (e) {
    throw new Error(`${e.message}\npage: ${await page.locator('body').innerText()}\nproblems: ${problems.join('\n')}`);
  }
  return page;
}

const countIs = (page, n) => page.locator('#count', { hasText: new RegExp(`^${n}$`) }).waitFor();

test('useActor in three tabs (bare, json, cbor): counter clicks and chat messages show in every tab, and survive a server restart', async (ctx) => {
  const counter = uniqueKey('react');
  const room = uniqueKey('room');
  const problems = [];
  const tabs = [
    await openTab({ counter, room, user: 'ann' }, problems), // the default encoding, bare
    await openTab({ counter, room, user: 'bob', encoding: 'json' }, problems),
    await openTab({ counter, room, user: 'cid', encoding: 'cbor' }, problems),
  ];
  for (const t of tabs) await countIs(t, 0);

  for (let i = 0; i < 3; i++) await tabs[0].click('#inc');
  for (const t of tabs) await countIs(t, 3);
  await tabs[1].click('#dec');
  for (const t of tabs) await countIs(t, 2);
  await tabs[2].click('#inc');
  for (const t of tabs) await countIs(t, 3);

  // The same through the handle, over HTTP: a cross-origin POST with the
  // client's headers and credentials, preflighted, in each encoding.
  for (const [i, t] of tabs.entries()) {
    await t.click('#inc-http');
    for (const u of tabs) await countIs(u, 4 + i);
  }
  await tabs[0].click('#dec');
  await tabs[0].click('#dec');
  await tabs[0].click('#dec');
  for (const t of tabs) await countIs(t, 3);

  // An action's error reaches the page as an ActorError's group.code.
  await tabs[2].click('#bad');
  await tabs[2].locator('#counter-error', { hasText: 'user.invalid' }).waitFor();

  // Chat: ann writes, bob and cid read; cid answers.
  await tabs[0].fill('#text', 'hello from the bare tab');
  await tabs[0].click('#send');
  for (const t of tabs) await t.locator('#messages li', { hasText: 'hello from the bare tab' }).waitFor();
  await tabs[2].fill('#text', 'and from cbor');
  await tabs[2].press('#text', 'Enter');
  for (const t of tabs) await t.locator('#messages li', { hasText: 'and from cbor' }).waitFor();
  assert.deepEqual(await tabs[1].locator('#messages li .who').allTextContents(), ['ann', 'cid']);
  // ann, opened first, saw bob and cid join.
  await tabs[0].locator('#joined', { hasText: 'bob, cid' }).waitFor();

  // actorlog's own API holds the same data.
  const state = await (await fetch(`${srv.url}/actors/counter/${counter}/state`)).json();
  assert.equal(state.state.count, 3);
  const chat = await (await fetch(`${srv.url}/actors/chatRoom/${room}/state`)).json();
  assert.deepEqual(chat.state.messages.map((m) => m.text), ['hello from the bare tab', 'and from cbor']);

  await tabs[0].screenshot({ path: path.join(artifacts, 'react-bare.png'), fullPage: true });
  await tabs[1].screenshot({ path: path.join(artifacts, 'react-json.png'), fullPage: true });
  await tabs[2].screenshot({ path: path.join(artifacts, 'react-cbor.png'), fullPage: true });
  assert.ok(existsSync(path.join(artifacts, 'react-bare.png')));
  assert.match(await tabs[1].locator('h1').textContent(), /json/);

  // A server restart on the same port and data. When its connection
  // drops and the first retry fails, the client's connection goes idle;
  // useActor then opens a new one, and so on until the server is back.
  await srv.term();
  await tabs[0].locator('#counter-status:not([data-status="connected"])').waitFor();
  srv = await startServer({ port: srv.port, dataDir: srv.dataDir, keepData: true });
  await fetch(`${srv.url}/rpc/counter:${counter}/add`, { method: 'POST', body: '{"value": 40}' });
  for (const t of tabs) await t.locator('#counter-status[data-status="connected"]').waitFor();
  for (const t of tabs) await countIs(t, 43);
  await tabs[1].click('#inc');
  for (const t of tabs) await countIs(t, 44);
  await tabs[1].fill('#text', 'after the restart');
  await tabs[1].click('#send');
  for (const t of tabs) await t.locator('#messages li', { hasText: 'after the restart' }).waitFor();
  await tabs[1].screenshot({ path: path.join(artifacts, 'react-json-after-restart.png'), fullPage: true });

  // The restart logs failed socket attempts and fetches in the console;
  // nothing else may.
  const unexpected = problems.filter((p) => !/WebSocket connection to .* failed|Failed to load resource|ERR_CONNECTION_REFUSED/.test(p));
  assert.deepEqual(unexpected, []);
  ctx.diagnostic(`${problems.length} console errors of failed connections during the restart`);
  for (const tab of tabs) await tab.close();
});
