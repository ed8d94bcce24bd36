// The client against a scripted fake socket: what a correct server never
// does (duplicates), and what is hard to make a real one do (silence).
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, ActorlogError, errorFromResponse, errorFromClose } from '../dist/index.js';
import { waitFor, sleep } from './helpers.mjs';

class FakeSocket {
  static instances = [];
  static onOpen = () => {};
  constructor(url) {
    this.url = new URL(url);
    this.readyState = 0;
    this.sent = [];
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    FakeSocket.instances.push(this);
    setTimeout(() => {
      if (this.readyState !== 0) return;
      this.readyState = 1;
      this.onopen?.({});
      FakeSocket.onOpen(this, FakeSocket.instances.length - 1);
    }, 0);
  }
  send(d) {
    this.sent.push(JSON.parse(d));
    this.onSend?.(JSON.parse(d));
  }
  close(code = 1000, reason = '') {
    if (this.readyState === 3) return;
    this.readyState = 3;
    setTimeout(() => this.onclose?.({ code, reason }), 0);
  }
  frame(o) {
    this.onmessage?.({ data: JSON.stringify(o) });
  }
  drop(code, reason = '') {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

const made = [];
function client(opts = {}) {
  FakeSocket.instances = [];
  const c = createClient('ws://127.0.0.1:1/base/', { WebSocket: FakeSocket, reconnect: { initialDelayMs: 5, maxDelayMs: 20 }, ...opts });
  made.push(c);
  return c;
}
afterEach(() => {
  for (const c of made.splice(0)) c.close();
  FakeSocket.onOpen = () => {};
});

test('URLs: ws base maps to http, the socket URL carries state=1, since, token and params', async () => {
  const c = client({ token: 't o k' });
  assert.equal(c.url, 'http://127.0.0.1:1/base');
  const h = c.actor('chatRoom', 'a b', { params: { room: 'x' }, since: 3 });
  await waitFor(() => FakeSocket.instances.length === 1);
  const u = FakeSocket.instances[0].url;
  assert.equal(u.protocol, 'ws:');
  assert.equal(u.pathname, '/base/ws/chatRoom/a%20b');
  assert.deepEqual(Object.fromEntries(u.searchParams), { room: 'x', state: '1', since: '3', token: 't o k', events: '' });
  h.close();
});

test('subscriptions follow the handlers: ?events= at connection, subscribe and unsubscribe frames after', async () => {
  const c = client();
  FakeSocket.onOpen = (ws) => ws.frame({ type: 'init', actor: 'chatRoom:s', seq: 0, state: {} });
  const h = c.actor('chatRoom', 's');
  const offJoined = h.on('userJoined', () => {}); // before the socket: in its URL
  h.on('newMessage', () => {});
  await h.ready();
  const ws = FakeSocket.instances[0];
  assert.equal(ws.url.searchParams.get('events'), 'newMessage,userJoined');
  assert.deepEqual(ws.sent, []);
  const offLeft = h.on('userLeft', () => {});
  h.on('userLeft', () => {}); // a second handler: no frame
  offJoined();
  offLeft();
  const offAll = h.on('*', () => {});
  offAll();
  h.on('a,b', () => {}); // a name with a comma: by frame only
  assert.deepEqual(ws.sent, [
    { type: 'subscribe', events: ['userLeft'] },
    { type: 'unsubscribe', events: ['userJoined'] },
    { type: 'subscribe', events: ['*'] },
    { type: 'unsubscribe', events: ['*'] },
    { type: 'subscribe', events: ['newMessage', 'userLeft'] },
    { type: 'subscribe', events: ['a,b'] },
  ]);
  // The next socket asks for them at once.
  ws.drop(1012);
  await waitFor(() => FakeSocket.instances.length === 2 && h.status === 'open');
  const next = FakeSocket.instances[1];
  assert.equal(next.url.searchParams.get('events'), 'newMessage,userLeft');
  assert.deepEqual(next.sent, [{ type: 'subscribe', events: ['a,b'] }]);

  // A reducer folds every event: no ?events=, all of them.
  const r = c.actor('counter', 'r', { reduce: (s) => s });
  await waitFor(() => FakeSocket.instances.length === 3);
  assert.equal(FakeSocket.instances[2].url.searchParams.has('events'), false);
  r.close();
});

test('state frames move the resume point: a handle without events resumes after the last state it had', async () => {
  const c = client();
  FakeSocket.onOpen = (ws, n) => {
    if (n === 0) {
      ws.frame({ type: 'init', actor: 'counter:q', seq: 1, state: { count: 1 } });
      ws.frame({ type: 'state', seq: 9, state: { count: 9 } });
      ws.drop(1006);
    } else {
      assert.equal(ws.url.searchParams.get('since'), '9');
      ws.frame({ type: 'resume', actor: 'counter:q', seq: 9 });
    }
  };
  const h = c.actor('counter', 'q');
  await waitFor(() => FakeSocket.instances.length === 2 && h.status === 'open');
  assert.equal(h.seq, 9);
  assert.equal(h.state.count, 9);
});

test('duplicates and stale frames are dropped by seq; resume asks for since=<last seq>', async () => {
  const c = client();
  FakeSocket.onOpen = (ws, n) => {
    if (n === 0) {
      ws.frame({ type: 'init', actor: 'counter:d', seq: 5, state: { count: 5 } });
      for (const s of [6, 7, 7, 6, 8]) ws.frame({ type: 'countUpdated', count: s, seq: s });
      ws.frame({ type: 'timeUpdated', currentTime: 1 }); // a broadcast: no seq, never deduped
      ws.drop(1012, 'actor restarted; resume with since=8');
    } else {
      assert.equal(ws.url.searchParams.get('since'), '8');
      ws.frame({ type: 'resume', actor: 'counter:d', seq: 8 });
      for (const s of [8, 9, 10]) ws.frame({ type: 'countUpdated', count: s, seq: s });
      ws.frame({ type: 'state', seq: 10, state: { count: 10 } });
      ws.frame({ type: 'state', seq: 9, state: { count: 9 } }); // older: ignored
    }
  };
  const h = c.actor('counter', 'd');
  const seqs = [];
  h.on('countUpdated', (e) => seqs.push(e.seq));
  let broadcasts = 0;
  h.on('timeUpdated', () => broadcasts++);
  const statuses = [];
  h.onStatus((s) => statuses.push(s));
  const inits = [];
  h.onInit((i) => inits.push(i));
  await waitFor(() => seqs.length === 5 && h.state?.count === 10);
  assert.deepEqual(seqs, [6, 7, 8, 9, 10]);
  assert.equal(h.duplicatesDropped, 3);
  assert.equal(broadcasts, 1);
  assert.equal(h.seq, 10);
  assert.deepEqual(statuses, ['open', 'reconnecting', 'open']);
  assert.deepEqual(inits.map((i) => [i.seq, i.resumed]), [[5, false], [8, true]]);
});

test('a resumed socket keeps the state and folds each missed event onto it once', async () => {
  const c = client();
  FakeSocket.onOpen = (ws, n) => {
    if (n === 0) {
      ws.frame({ type: 'init', actor: 'counter:r', seq: 5, state: { count: 5 } });
      ws.frame({ type: 'countUpdated', count: 6, seq: 6 });
      ws.drop(1006);
    } else {
      assert.equal(ws.url.searchParams.get('since'), '6');
      ws.frame({ type: 'resume', actor: 'counter:r', seq: 6 });
      for (const s of [7, 8]) ws.frame({ type: 'countUpdated', count: s, seq: s });
      ws.frame({ type: 'state', seq: 8, state: { count: 8 } });
    }
  };
  const folded = [];
  const h = c.actor('counter', 'r', { reduce: (s, e) => (folded.push(e.seq), { count: s.count + 1 }) });
  const inits = [];
  h.onInit((i) => inits.push({ ...i }));
  await waitFor(() => h.getSnapshot().stateSeq === 8);
  assert.deepEqual(folded, [6, 7, 8]);
  assert.equal(h.state.count, 8);
  assert.deepEqual(inits[1], { seq: 6, state: { count: 6 }, resumed: true, gap: false, reset: false });
  assert.equal(h.status, 'open');
});

test('a socket that goes silent is dropped by the heartbeat and replaced', async () => {
  const c = client({ heartbeatMs: 40, heartbeatTimeoutMs: 80 });
  FakeSocket.onOpen = (ws, n) => {
    ws.frame({ type: 'init', actor: 'counter:hb', seq: 0, state: { count: 0 } });
    if (n > 0) ws.onSend = (f) => f.type === 'ping' && ws.frame({ type: 'pong' });
  };
  const h = c.actor('counter', 'hb');
  await waitFor(() => FakeSocket.instances.length === 2 && h.status === 'open', { timeoutMs: 2000, what: 'a second socket' });
  assert.ok(FakeSocket.instances[0].sent.some((f) => f.type === 'ping'));
  assert.equal(FakeSocket.instances[0].readyState, 3);
  await sleep(400); // the second one answers: no third
  assert.equal(FakeSocket.instances.length, 2);
  assert.equal(h.status, 'open');
});

test('socket calls: replies and error frames by id; an error frame gets the HTTP status of its code', async () => {
  const c = client();
  FakeSocket.onOpen = (ws) => {
    ws.frame({ type: 'init', actor: 'counter:c', seq: 0, state: { count: 0 } });
    ws.onSend = (f) => {
      if (f.type !== 'call') return;
      if (f.action === 'add' && f.args === undefined) ws.frame({ type: 'error', id: f.id, error: { code: 'invalid_argument', message: 'value is required' } });
      else ws.frame({ type: 'reply', id: f.id, seq: 1, result: { count: f.args?.value ?? 1 } });
    };
  };
  const h = c.actor('counter', 'c');
  await h.ready();
  assert.deepEqual(await h.callWithMeta('add', { value: 4 }), { result: { count: 4 }, seq: 1, transport: 'socket', replayed: false });
  await assert.rejects(h.call('add'), (e) => e instanceof ActorlogError && e.code === 'invalid_argument' && e.status === 422 && e.message === 'value is required');
  const t = h.call('add', { value: 1 }, { timeoutMs: 1 });
  FakeSocket.instances[0].onSend = () => {}; // never replies
  await assert.rejects(h.call('increment', undefined, { timeoutMs: 30 }), { code: 'timeout', status: 0 });
  await t.catch(() => {});
  const ac = new AbortController();
  const p = h.call('increment', undefined, { signal: ac.signal });
  ac.abort();
  await assert.rejects(p, { code: 'aborted' });
});

test('a refused socket: its close code says why; what retrying cannot fix closes the handle, the rest is retried', async () => {
  let fetches = 0;
  const noFetch = { fetch: async () => { fetches++; throw new Error('no request expected'); } };
  for (const [code, reason, name, status] of [
    [4401, 'a valid bearer token is required', 'unauthorized', 401],
    [4403, 'origin http://evil.example is not allowed', 'forbidden', 403],
    [4404, 'unknown actor type "nope"', 'not_found', 404],
    [4400, 'key is not UTF-8', 'bad_request', 400],
  ]) {
    const c = client(noFetch);
    FakeSocket.onOpen = (ws) => ws.drop(code, reason);
    const h = c.actor('counter', 'x');
    await assert.rejects(h.ready(), { code: name, status, message: reason });
    assert.equal(h.status, 'closed');
    assert.equal(FakeSocket.instances.length, 1, `${code}: not retried`);
  }

  // Unavailable (too many connections, say): retried, and it says why.
  const c2 = client(noFetch);
  FakeSocket.onOpen = (ws, n) => (n < 2 ? ws.drop(4503, 'counter:y has 10000 connections, the limit') : ws.frame({ type: 'init', actor: 'counter:y', seq: 0, state: {} }));
  const h2 = c2.actor('counter', 'y');
  const errors = [];
  h2.onStatus((s, e) => errors.push(`${s}:${e?.code}:${e?.status}`));
  await h2.ready();
  assert.deepEqual([...new Set(errors)], ['connecting:unavailable:503', 'open:undefined:undefined']);
  assert.equal(FakeSocket.instances.length, 3);

  // No close code: the server cannot be reached; retried.
  const c3 = client(noFetch);
  FakeSocket.onOpen = (ws) => ws.drop(1006);
  const h3 = c3.actor('counter', 'z');
  await waitFor(() => FakeSocket.instances.length >= 3, { what: 'retries' });
  assert.equal(h3.status, 'connecting');
  assert.equal(h3.error.code, 'network');
  assert.equal(fetches, 0, 'no HTTP request to learn why');
});

test('since past the head (4409): the handle starts again without since and says so', async () => {
  const c = client();
  FakeSocket.onOpen = (ws, n) => {
    if (n === 0) {
      assert.equal(ws.url.searchParams.get('since'), '7');
      ws.drop(4409, "since 7 is past the actor's head 2; connect without since");
    } else {
      assert.equal(ws.url.searchParams.get('since'), null);
      ws.frame({ type: 'init', actor: 'counter:w', seq: 2, state: { count: 2 } });
    }
  };
  const h = c.actor('counter', 'w', { since: 7 });
  const inits = [];
  h.onInit((i) => inits.push(i));
  await h.ready();
  assert.deepEqual(inits.map((i) => [i.seq, i.reset]), [[2, true]]);
  assert.equal(h.seq, 2);
});

test('errorFromClose: refusal codes and others', () => {
  const e = errorFromClose(4404, 'unknown actor type "x"');
  assert.deepEqual([e.code, e.status, e.message], ['not_found', 404, 'unknown actor type "x"']);
  assert.deepEqual([errorFromClose(4503, '').code, errorFromClose(4500, 'x').status], ['unavailable', 500]);
  for (const code of [1000, 1001, 1006, 1012, 4000, 4008, 4600]) assert.equal(errorFromClose(code, ''), undefined, String(code));
});

test('no WebSocket implementation: the handle closes with an error that says what to pass', async () => {
  const c = createClient('http://127.0.0.1:1', { WebSocket: undefined });
  made.push(c);
  const saved = globalThis.WebSocket;
  globalThis.WebSocket = undefined;
  try {
    const h = c.actor('counter', 'x');
    assert.equal(h.status, 'closed');
    assert.match(h.error.message, /pass one in createClient\(url, \{WebSocket\}\)/);
  } finally {
    globalThis.WebSocket = saved;
  }
});

test('errorFromResponse: JSON bodies and others', () => {
  const e = errorFromResponse(409, '{"error":{"code":"conflict","message":"another writer"}}\n');
  assert.deepEqual([e.code, e.message, e.status], ['conflict', 'another writer', 409]);
  const g = errorFromResponse(502, '<html>bad gateway</html>');
  assert.deepEqual([g.code, g.status], ['internal', 502]);
  assert.match(g.message, /HTTP 502: <html>bad gateway/);
  assert.equal(errorFromResponse(413, '').code, 'too_large');
  assert.equal(new ActorlogError('unavailable', 'x').status, 503);
});

test('a throwing subscriber does not stop the others', async () => {
  const c = client();
  FakeSocket.onOpen = (ws) => {
    ws.frame({ type: 'init', actor: 'counter:t', seq: 0, state: {} });
    ws.frame({ type: 'countUpdated', count: 1, seq: 1 });
  };
  const reported = [];
  const saved = globalThis.reportError;
  globalThis.reportError = (e) => reported.push(e);
  try {
    const h = c.actor('counter', 't');
    h.on('countUpdated', () => {
      throw new Error('boom');
    });
    const got = [];
    h.on('countUpdated', (e) => got.push(e.seq));
    await waitFor(() => got.length === 1);
    assert.equal(reported[0].message, 'boom');
  } finally {
    globalThis.reportError = saved;
  }
});
