// The client against the real `actorlog serve`.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { createClient, ActorlogError } from '../dist/index.js';
import { startServer, startProxy, waitFor, uniqueKey, sleep } from './helpers.mjs';

let srv;
before(async () => {
  srv = await startServer();
});
after(async () => {
  await srv?.stop();
});

const fast = { initialDelayMs: 20, maxDelayMs: 200 };
const made = [];
const client = (url = srv.url, opts = {}) => {
  const c = createClient(url, { WebSocket, reconnect: fast, ...opts });
  made.push(c);
  return c;
};
// A failed test must not leave handles reconnecting (the process would not exit).
afterEach(() => {
  for (const c of made.splice(0)) c.close();
});

test('calls over HTTP: results, seq, arguments, keys that need escaping', async () => {
  const c = client();
  const key = uniqueKey('http') + ':a b/é'; // a space, a slash and a non-ASCII letter
  assert.deepEqual(await c.call('counter', key, 'increment'), { count: 1 });
  const r = await c.callWithMeta('counter', key, 'add', { value: 5 });
  assert.deepEqual(r, { result: { count: 6 }, seq: 2, transport: 'http', replayed: false });
  const got = await c.call('counter', key, 'getCount');
  assert.equal(got.count, 6);
  assert.equal(typeof got.lastUpdated, 'number');
  // The same key reached over the history route.
  const res = await fetch(`${srv.url}/actors/counter/${encodeURIComponent(key)}/state`);
  assert.equal((await res.json()).state.count, 6);
  // Idempotency: the retry returns the stored result and appends nothing.
  const a = await c.callWithMeta('counter', key, 'increment', undefined, { idempotencyKey: 'once-' + key });
  const b = await c.callWithMeta('counter', key, 'increment', undefined, { idempotencyKey: 'once-' + key });
  assert.deepEqual([a.result, a.replayed, b.result, b.replayed], [{ count: 7 }, false, { count: 7 }, true]);
  assert.equal((await c.call('counter', key, 'getCount')).count, 7);
});

test('a handle calls over HTTP until its socket is open, then over the socket', async () => {
  let fetches = 0;
  const c = client(srv.url, { fetch: (...a) => (fetches++, fetch(...a)) });
  const key = uniqueKey('sock');
  const h = c.actor('counter', key);
  assert.equal(h.status, 'connecting');
  const first = await h.callWithMeta('increment');
  assert.equal(first.transport, 'http');
  assert.equal(fetches, 1);
  await h.ready();
  assert.equal(h.status, 'open');
  const second = await h.callWithMeta('add', { value: 10 });
  assert.deepEqual(second, { result: { count: 11 }, seq: 2, transport: 'socket', replayed: false });
  assert.deepEqual(await h.call('decrement'), { count: 10 });
  assert.equal(fetches, 1, 'socket calls made no HTTP request');
  h.close();
  assert.equal(h.status, 'closed');
  // Closed: calls go over HTTP again.
  assert.equal((await h.callWithMeta('increment')).transport, 'http');
});

test('events arrive in order, each once, and state follows', async () => {
  const c = client();
  const key = uniqueKey('order');
  await c.call('counter', key, 'add', { value: 100 }); // seq 1, before the handle
  const h = c.actor('counter', key);
  const named = [];
  const all = [];
  h.on('countUpdated', (e) => named.push(e));
  h.on('*', (e) => all.push(e));
  let inits = 0;
  h.onInit((i) => {
    inits++;
    assert.equal(i.seq, 1);
    assert.equal(i.state.count, 100);
    assert.equal(i.resumed, false);
  });
  await h.ready();
  assert.equal(h.state.count, 100);
  assert.equal(h.seq, 1);
  const n = 60;
  // Half over the socket, half over HTTP from another client, interleaved.
  await Promise.all(Array.from({ length: n }, (_, i) => (i % 2 ? h.call('increment') : c.call('counter', key, 'increment'))));
  await waitFor(() => named.length === n, { what: `${n} events (got ${named.length})` });
  assert.deepEqual(named.map((e) => e.seq), Array.from({ length: n }, (_, i) => i + 2));
  assert.deepEqual(named.map((e) => e.count), Array.from({ length: n }, (_, i) => 101 + i));
  assert.ok(named.every((e) => e.type === 'countUpdated' && typeof e.lastUpdated === 'number'));
  assert.deepEqual(all, named);
  await waitFor(() => h.state?.count === 100 + n && h.getSnapshot().stateSeq === n + 1, { what: 'state frame' });
  assert.equal(h.seq, n + 1);
  assert.equal(h.duplicatesDropped, 0);
  assert.equal(inits, 1);
  h.close();
});

test('a reducer keeps state current on every event; unsubscribe stops delivery', async () => {
  const c = client();
  const key = uniqueKey('reduce');
  const h = c.actor('counter', key, { state: false, reduce: (s, e) => (e.type === 'countUpdated' ? { ...s, count: e.count } : s) });
  await h.ready();
  const seen = [];
  const off = h.on('countUpdated', (e) => seen.push(e.seq));
  const states = [];
  h.subscribe(() => states.push(h.state.count));
  for (let i = 0; i < 5; i++) await h.call('increment');
  await waitFor(() => h.state.count === 5, { what: 'reduced state' });
  off();
  await h.call('increment');
  await waitFor(() => h.state.count === 6, { what: 'reduced state after unsubscribe' });
  assert.deepEqual(seen, [1, 2, 3, 4, 5]);
  assert.deepEqual(states.filter((x, i) => states[i - 1] !== x), [0, 1, 2, 3, 4, 5, 6].slice(states[0] === 0 ? 0 : 1));
  h.close();
});

test('since replays the history still in the log, then goes live', async () => {
  const c = client();
  const key = uniqueKey('since');
  for (let i = 0; i < 5; i++) await c.call('counter', key, 'increment');
  const h = c.actor('counter', key, { since: 2 });
  const seqs = [];
  h.on('countUpdated', (e) => seqs.push(e.seq));
  let info;
  h.onInit((i) => (info = i));
  await h.ready();
  await c.call('counter', key, 'increment');
  await waitFor(() => seqs.length === 4, { what: 'replay and live event' });
  assert.deepEqual(seqs, [3, 4, 5, 6]);
  assert.equal(info.resumed, true);
  assert.equal(info.seq, 2);
  // No state to start from: the state frame after the replay brings it.
  await waitFor(() => h.state?.count === 6, { what: 'state after the replay' });
  h.close();
});

test('the server sends a handle only the events its handlers listen to', async () => {
  const received = [];
  class Recording extends WebSocket {
    constructor(url) {
      super(url);
      this.addEventListener('message', (m) => received.push(JSON.parse(String(m.data)).type));
    }
  }
  const c = client(srv.url, { WebSocket: Recording });
  const key = uniqueKey('subs');
  const h = c.actor('chatRoom', key);
  const messages = [];
  h.on('newMessage', (m) => messages.push(m.text));
  await h.ready();
  await c.call('chatRoom', key, 'join', { username: 'ann' });
  await c.call('chatRoom', key, 'sendMessage', { username: 'ann', text: 'one' });
  await waitFor(() => messages.length === 1 && h.state?.messages.length === 1, { what: 'the message and the state' });
  assert.ok(!received.includes('userJoined'), `no userJoined frame: ${received}`);
  // A handler added on an open socket: the server sends its events from then on.
  const left = [];
  h.on('userLeft', (e) => left.push(e.username));
  await h.call('leave', { username: 'ann' }); // over the socket: after the subscribe frame
  await waitFor(() => left.length === 1, { what: 'userLeft' });
  assert.equal(h.seq, 3);
  h.close();
});

test('chat room: typed actions, events and state', async () => {
  const c = client();
  const room = uniqueKey('room');
  const h = c.actor('chatRoom', room);
  await h.ready();
  assert.deepEqual(h.state, { messages: [], participants: [] });
  const got = [];
  h.on('*', (e) => got.push(e.type));
  assert.deepEqual(await h.call('join', { username: 'alice' }), { success: true, participantCount: 1 });
  const { message } = await h.call('sendMessage', { username: 'alice', text: ' hi there ' });
  assert.equal(message.text, 'hi there');
  await waitFor(() => h.state.messages.length === 1 && h.state.participants.length === 1, { what: 'chat state' });
  assert.deepEqual(got, ['userJoined', 'newMessage']);
  assert.deepEqual((await c.call('chatRoom', room, 'getMessages', { limit: 10 })).messages, [message]);
  h.close();
});

test('ephemeral broadcasts arrive without seq', async () => {
  const c = client();
  const h = c.actor('serverTime', uniqueKey('clock'));
  const tick = await new Promise((resolve) => h.on('timeUpdated', resolve));
  assert.equal(tick.type, 'timeUpdated');
  assert.equal(tick.seq, undefined);
  assert.equal(tick.timezone, 'UTC');
  assert.equal(h.seq, 0);
  h.close();
});

test('errors map to ActorlogError with code, message and status, over HTTP and the socket', async () => {
  const c = client();
  const key = uniqueKey('err');
  const h = c.actor('counter', key);
  await h.ready();
  const cases = [
    { action: 'add', args: {}, code: 'invalid_argument', status: 422, message: /^argument "value" is required$/ },
    { action: 'add', args: { value: 'x' }, code: 'bad_request', status: 400, message: /^argument "value" must be an integer, not string$/ },
    { action: 'add', args: { valu: 5 }, code: 'bad_request', status: 400, message: /^argument "valu" is not a field of add's arguments$/ },
    { action: 'nope', args: undefined, code: 'not_found', status: 404, message: /no action "nope"/ },
  ];
  for (const k of cases) {
    for (const via of ['http', 'socket']) {
      const p = via === 'http' ? c.call('counter', key, k.action, k.args) : h.call(k.action, k.args);
      await assert.rejects(p, (e) => {
        assert.ok(e instanceof ActorlogError, `${via} ${k.action}: ${e}`);
        assert.ok(e instanceof Error);
        assert.equal(e.name, 'ActorlogError');
        assert.equal(e.code, k.code, `${via} ${k.action}`);
        assert.equal(e.status, k.status, `${via} ${k.action}`);
        assert.match(e.message, k.message);
        return true;
      });
    }
  }
  // Unknown actor type: a call is a 404, a handle closes with it.
  await assert.rejects(c.call('nosuchtype', 'x', 'go'), { code: 'not_found', status: 404 });
  const bad = c.actor('nosuchtype', 'x');
  await assert.rejects(bad.ready(), { code: 'not_found', status: 404 });
  assert.equal(bad.status, 'closed');
  assert.equal(bad.error.code, 'not_found');
  // A bad actor type name is a 400.
  await assert.rejects(c.call('9bad', 'x', 'go'), { code: 'bad_request', status: 400 });
  // Nobody listening: a network error, status 0.
  const dead = client('http://127.0.0.1:9');
  await assert.rejects(dead.call('counter', 'x', 'increment'), { code: 'network', status: 0 });
  assert.equal(h.status, 'open', 'errors do not close the socket');
  h.close();
});

test('close rejects calls in flight and stops delivery', async () => {
  const c = client();
  const key = uniqueKey('close');
  const a = c.actor('counter', key);
  const b = c.actor('chatRoom', key);
  await Promise.all([a.ready(), b.ready()]);
  const statuses = [];
  a.onStatus((s) => statuses.push(s));
  const inflight = a.call('increment');
  a.close();
  await assert.rejects(inflight, { code: 'closed', status: 0 });
  assert.deepEqual(statuses, ['closed']);
  await assert.rejects(a.ready(), { code: 'closed' });
  let after = 0;
  a.on('*', () => after++);
  await c.call('counter', key, 'increment');
  await sleep(100);
  assert.equal(after, 0);
  c.close();
  assert.equal(b.status, 'closed');
});

test('a network drop: the handle reconnects and resumes with since, missing nothing, seeing nothing twice', async (t) => {
  const proxy = await startProxy(srv.port);
  try {
    const viaProxy = client(proxy.url);
    const direct = client();
    const key = uniqueKey('drop');
    const h = viaProxy.actor('counter', key);
    const seqs = [];
    const counts = [];
    const inits = [];
    let written = 0; // increments acknowledged
    const writtenAtInit = [];
    h.onInit((i) => {
      inits.push(i);
      writtenAtInit.push(written);
    });
    let replayed = 0; // events written before a resume that came after it: missed, then replayed
    h.on('countUpdated', (e) => {
      seqs.push(e.seq);
      counts.push(e.count);
      if (inits.length > 1 && e.seq <= writtenAtInit.at(-1) && e.seq > inits.at(-1).seq) replayed++;
    });
    const statuses = [];
    h.onStatus((s) => statuses.push(s));
    await h.ready();

    const n = 300;
    const cuts = new Set([60, 120, 121, 200, 260]);
    for (let i = 1; i <= n; i++) {
      await direct.call('counter', key, 'increment');
      written = i;
      if (cuts.has(i)) proxy.cut();
      if (i % 50 === 0) await sleep(30); // let some reconnects finish mid-stream
    }
    await waitFor(() => seqs.length >= n, { timeoutMs: 15_000, what: `all ${n} events (got ${seqs.length})` });
    await sleep(100); // any duplicate would arrive now
    assert.deepEqual(seqs, Array.from({ length: n }, (_, i) => i + 1), 'every seq exactly once, in order');
    assert.deepEqual(counts, seqs);
    assert.ok(inits.length >= 2, `reconnected (${inits.length} inits)`);
    assert.ok(inits.slice(1).every((i) => i.resumed && !i.gap && !i.reset));
    assert.ok(replayed > 0, 'some events were missed during a drop and replayed on resume');
    assert.ok(statuses.includes('reconnecting'), statuses.join(','));
    t.diagnostic(`${inits.length - 1} reconnects, ${replayed} events replayed on resume`);
    assert.equal(h.status, 'open');
    await waitFor(() => h.state?.count === n, { what: 'state after resume' });
    h.close();
  } finally {
    await proxy.close();
  }
});

test('a call in flight when the socket drops: retried over HTTP with its idempotency key, else connection_lost', async () => {
  const proxy = await startProxy(srv.port);
  try {
    const c = client(proxy.url);
    const key = uniqueKey('inflight');
    const h = c.actor('counter', key);
    await h.ready();
    // With a key: the call resolves once, whether or not the server saw the frame.
    const p = h.callWithMeta('increment', undefined, { idempotencyKey: 'k-' + key });
    proxy.cut();
    const r = await p;
    assert.deepEqual(r.result, { count: 1 });
    await waitFor(() => h.status === 'open', { what: 'reopen' });
    assert.equal((await c.call('counter', key, 'getCount')).count, 1, 'ran exactly once');
    // Without a key: the outcome is unknown, and the error says so.
    const q = h.call('increment');
    proxy.cut();
    await assert.rejects(q, (e) => e instanceof ActorlogError && e.code === 'connection_lost' && e.status === 0);
    h.close();
  } finally {
    await proxy.close();
  }
});

test('server restarts (crash and graceful) on the same data while a writer writes: every seq exactly once', async (t) => {
  let s = await startServer({ keepData: true });
  const { port, dataDir } = s;
  const c = client(s.url);
  const key = uniqueKey('restart');
  const h = c.actor('counter', key);
  const seqs = [];
  const inits = [];
  let written = 0;
  const writtenAtInit = [];
  h.onInit((i) => {
    inits.push(i);
    writtenAtInit.push(written);
  });
  let replayed = 0;
  h.on('countUpdated', (e) => {
    seqs.push(e.seq);
    if (inits.length > 1 && e.seq <= writtenAtInit.at(-1) && e.seq > inits.at(-1).seq) replayed++;
  });
  await h.ready();
  try {
    const n = 150;
    const deadline = Date.now() + 60_000;
    for (let i = 1; i <= n; i++) {
      // Retry each write until it lands; the idempotency key makes a retry
      // of a write whose reply was lost in the crash a no-op.
      for (;;) {
        try {
          await c.call('counter', key, 'increment', undefined, { idempotencyKey: `${key}-${i}`, timeoutMs: 5000 });
          written = i;
          break;
        } catch (e) {
          if (!(e instanceof ActorlogError) || !['network', 'unavailable', 'timeout'].includes(e.code)) throw e;
          if (Date.now() > deadline) throw e;
          await sleep(20);
        }
      }
      if (i === 50) {
        await s.kill(); // crash
        s = await startServer({ port, dataDir, keepData: true });
      }
      if (i === 100) {
        await s.term(); // graceful: sockets get 1001
        s = await startServer({ port, dataDir, keepData: true });
      }
    }
    await waitFor(() => seqs.length >= n, { timeoutMs: 20_000, what: `all ${n} events (got ${seqs.length})` });
    await sleep(100);
    assert.deepEqual(seqs, Array.from({ length: n }, (_, i) => i + 1));
    assert.equal(h.duplicatesDropped, 0);
    assert.ok(inits.length >= 3, `reconnected after each restart (${inits.length} inits)`);
    assert.ok(inits.slice(1).every((i) => i.resumed && !i.reset));
    t.diagnostic(`${inits.length - 1} reconnects, ${replayed} events replayed on resume`);
    await waitFor(() => h.state?.count === n, { what: 'final state' });
  } finally {
    h.close();
    await s.term();
    const { rmSync } = await import('node:fs');
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a wiped data directory: the handle starts again from the new history and says so', async () => {
  let s = await startServer({ keepData: true });
  const { port, dataDir } = s;
  const { rmSync } = await import('node:fs');
  const c = client(s.url);
  const key = uniqueKey('wipe');
  for (let i = 0; i < 5; i++) await c.call('counter', key, 'increment');
  const h = c.actor('counter', key);
  const inits = [];
  h.onInit((i) => inits.push(i));
  const seqs = [];
  h.on('countUpdated', (e) => seqs.push(e.seq));
  await h.ready();
  try {
    await s.term();
    rmSync(dataDir, { recursive: true, force: true });
    s = await startServer({ port, dataDir, keepData: true });
    await waitFor(() => inits.length === 2, { timeoutMs: 10_000, what: 'init after the wipe' });
    assert.equal(inits[1].reset, true);
    assert.equal(inits[1].seq, 0);
    await c.call('counter', key, 'increment');
    await waitFor(() => seqs.length === 1, { what: 'event in the new history' });
    assert.deepEqual(seqs, [1]);
  } finally {
    h.close();
    await s.term();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('token: required on HTTP and sockets when the server has one', async () => {
  const s = await startServer({ token: 's3cret' });
  try {
    const none = client(s.url);
    await assert.rejects(none.call('counter', 'x', 'increment'), (e) => e instanceof ActorlogError && e.code === 'unauthorized' && e.status === 401);
    const h0 = none.actor('counter', 'x');
    await assert.rejects(h0.ready(), { code: 'unauthorized', status: 401 });
    assert.equal(h0.status, 'closed');
    const wrong = client(s.url, { token: 'nope' });
    await assert.rejects(wrong.call('counter', 'x', 'increment'), { code: 'unauthorized' });

    const ok = client(s.url, { token: 's3cret' });
    const h = ok.actor('counter', 'x');
    const seqs = [];
    h.on('countUpdated', (e) => seqs.push(e.seq));
    await h.ready();
    assert.deepEqual(await ok.call('counter', 'x', 'increment'), { count: 1 });
    assert.equal((await h.callWithMeta('increment')).transport, 'socket');
    await waitFor(() => seqs.length === 2, { what: 'events with a token' });
    h.close();
  } finally {
    await s.stop();
  }
});
