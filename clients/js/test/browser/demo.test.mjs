// The demo page served by `actorlog serve`, in headless Debian Chromium
// driven by playwright-core: two tabs, each sees the other's clicks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { chromium } from 'playwright-core';
import { startServer, pkgDir, uniqueKey } from '../helpers.mjs';

const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const artifacts = path.join(pkgDir, 'test-artifacts');

let srv;
let browser;
let profile;
before(async () => {
  if (!existsSync(executablePath)) {
    throw new Error(`no Chromium at ${executablePath}: apt-get install -y chromium, or set CHROMIUM_PATH`);
  }
  srv = await startServer({ keepData: true });
  const res = await fetch(`${srv.url}/demo/`);
  if (res.status === 404) {
    throw new Error('GET /demo/ is a 404: this actorlog binary does not serve the demo (api.New must call s.demoRoutes(r))');
  }
  profile = mkdtempSync(path.join(os.tmpdir(), 'actorlog-chromium-'));
  // A persistent context in a fresh profile directory of our own: the
  // flags keep Chromium off the network but for the page's server.
  browser = await chromium.launchPersistentContext(profile, {
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
    viewport: { width: 1000, height: 760 },
    timeout: 30_000,
  });
  mkdirSync(artifacts, { recursive: true });
});

after(async () => {
  await browser?.close();
  await srv?.stop();
  if (srv) rmSync(srv.dataDir, { recursive: true, force: true });
  if (profile) rmSync(profile, { recursive: true, force: true });
});

async function openTab(url, problems) {
  const page = await browser.newPage();
  page.setDefaultTimeout(10_000);
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  await page.goto(url);
  await page.locator('#counter-status[data-status="open"]').waitFor();
  await page.locator('#chat-status[data-status="open"]').waitFor();
  return page;
}

const countIs = (page, n) => page.locator('#count', { hasText: new RegExp(`^${n}$`) }).waitFor();

test('two tabs of the demo: clicks in one show in the other, chat messages too, and both survive a server restart', async () => {
  const counter = uniqueKey('demo');
  const room = uniqueKey('room');
  const url = `${srv.url}/demo/?counter=${counter}&room=${room}`;
  const problems = [];
  const tab1 = await openTab(url, problems);
  const tab2 = await openTab(url, problems);
  await countIs(tab1, 0);
  await countIs(tab2, 0);

  // Counter: + three times in tab 1, − once in tab 2.
  for (let i = 0; i < 3; i++) await tab1.click('#inc');
  await countIs(tab2, 3);
  await tab2.click('#dec');
  await countIs(tab1, 2);
  await countIs(tab2, 2);
  const state = await (await fetch(`${srv.url}/actors/counter/${counter}/state`)).json();
  assert.equal(state.state.count, 2);
  assert.equal(state.seq, 4);
  assert.equal(await tab2.locator('#counter-seq').textContent(), '4');

  // Chat: both join, tab 1 writes, tab 2 reads.
  await tab1.fill('#username', 'alice');
  await tab1.click('#join');
  await tab2.fill('#username', 'bob');
  await tab2.click('#join');
  await tab1.locator('#participants', { hasText: 'alice, bob' }).waitFor();
  await tab1.fill('#text', 'hello from tab 1');
  await tab1.click('#send');
  await tab2.locator('#messages li', { hasText: 'hello from tab 1' }).waitFor();
  await tab2.fill('#text', 'and back from tab 2');
  await tab2.press('#text', 'Enter');
  await tab1.locator('#messages li', { hasText: 'and back from tab 2' }).waitFor();
  assert.deepEqual(await tab2.locator('#messages li .who').allTextContents(), ['alice', 'bob']);

  // Reset from tab 2 shows in tab 1.
  await tab2.click('#reset');
  await countIs(tab1, 0);

  // A server restart on the same port and data: both tabs reconnect and
  // resume; a write made while they are away shows up in both.
  await srv.term();
  await tab1.locator('#counter-status[data-status="reconnecting"]').waitFor();
  srv = await startServer({ port: srv.port, dataDir: srv.dataDir, keepData: true });
  await fetch(`${srv.url}/rpc/counter:${counter}/add`, { method: 'POST', body: '{"value": 40}' });
  await countIs(tab1, 40);
  await countIs(tab2, 40);
  await tab1.locator('#counter-status[data-status="open"]').waitFor();
  await tab1.click('#inc');
  await tab1.click('#inc');
  await countIs(tab2, 42);
  // They joined over their sockets, so they left when the server stopped,
  // and the page joined again on reconnecting.
  await tab1.locator('#participants', { hasText: /^(alice, bob|bob, alice)$/ }).waitFor();

  const shot = path.join(artifacts, 'demo.png');
  await tab2.screenshot({ path: shot, fullPage: true });
  await tab1.screenshot({ path: path.join(artifacts, 'demo-tab1.png'), fullPage: true });
  assert.ok(existsSync(shot));

  // The restart itself logs failed socket attempts in the console; nothing else may.
  const unexpected = problems.filter((p) => !/WebSocket connection to .* failed|Failed to load resource|ERR_CONNECTION_REFUSED/.test(p));
  assert.deepEqual(unexpected, []);
  // Closing a tab: its user leaves the room (its socket closes, and the
  // page also leaves on pagehide).
  await tab2.close();
  await tab1.locator('#participants', { hasText: /^alice$/ }).waitFor();
  await tab1.close();
});
