// The real RivetKit client (rivetkit 2.3.11, createClient) against a real
// `actorlog serve`: the seed actors' flows over HTTP and over a connection,
// in each of the client's three encodings.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, ActorError } from 'rivetkit/client';
import { startServer, uniqueKey, waitFor, sleep, encodings, socketsTo, frameKind } from './helpers.mjs';

let srv;
before(async () => {
  srv = await startServer();
});
after(async () => {
  await srv?.stop();
});

/** Rejects unless promise rejects with an ActorError of group.code. */
async function rejectsWith(promise, group, code) {
  const err = await promise.then(
    (v) => assert.fail(`expected ${group}.${code}, got the result ${JSON.stringify(v)}`),
    (e) => e,
  );
  assert.ok(err instanceof ActorError, `expected an ActorError, got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(`${err.group}.${err.code}`, `${group}.${code}`, err.message);
  return err;
}

test('GET /metadata answers as the client expects: runtime, version and the seed actor names', async () => {
  const res = await fetch(`${srv.url}/metadata`);
  assert.equal(res.status, 200);
  const md = await res.json();
  assert.equal(md.runtime, 'rivetkit');
  assert.equal(md.version, '2.3.11');
  assert.deepEqual(Object.keys(md.actorNames).sort(), ['chatRoom', 'counter', 'serverTime']);
});

for (const enc of encodings) {
  describe(`rivetkit createClient, encoding ${enc.label}`, () => {
    let client;
    before(() => {
      client = createClient({ endpoint: srv.url, ...enc.opts });
    });
    after(async () => {
      await client?.dispose();
    });

    test('counter over HTTP: every action; getOrCreate, get and getForId reach the same actor', async () => {
      const key = uniqueKey(`c-${enc.name}`);
      const h = client.counter.getOrCreate([key]);
      assert.deepEqual(await h.increment(), { count: 1 });
      assert.deepEqual(await h.increment(), { count: 2 });
      assert.deepEqual(await h.decrement(), { count: 1 });
      assert.deepEqual(await h.add({ value: 41 }), { count: 42 });
      // A BigInt argument is an integer (the encodings' compat tags).
      assert.deepEqual(await h.add({ value: 0n }), { count: 42 });
      const got = await h.getCount();
      assert.equal(got.count, 42);
      assert.equal(typeof got.lastUpdated, 'number');

      // get finds it now that it has history; the id is stable and
      // getForId addresses the same actor.
      const id = await h.resolve();
      assert.equal(typeof id, 'string');
      assert.equal((await client.counter.get([key]).getCount()).count, 42);
      assert.equal(await client.counter.get([key]).resolve(), id);
      const byId = client.counter.getForId(id);
      assert.deepEqual(await byId.add({ value: -2 }), { count: 40 });
      assert.deepEqual(await h.reset(), { count: 0 });
      assert.equal((await byId.getCount()).count, 0);

      // A key of several parts is one actor; the empty key is another.
      const multi = client.counter.getOrCreate([key, 'b']);
      assert.deepEqual(await multi.increment(), { count: 1 });
      assert.equal((await h.getCount()).count, 0);
      const def = client.counter.getOrCreate();
      const before = (await def.getCount()).count;
      assert.equal((await def.increment()).count, before + 1);
    });

    test('chatRoom over HTTP: join, sendMessage, getMessages, getParticipants, leave', async () => {
      const room = client.chatRoom.getOrCreate([uniqueKey(`room-${enc.name}`)]);
      assert.deepEqual(await room.join({ username: 'ann' }), { success: true, participantCount: 1 });
      assert.deepEqual(await room.join({ username: 'bob' }), { success: true, participantCount: 2 });
      const sent = await room.sendMessage({ username: 'ann', text: 'héllo, 世界' });
      assert.equal(sent.message.text, 'héllo, 世界');
      assert.equal(sent.message.username, 'ann');
      assert.equal(typeof sent.message.id, 'string');
      await room.sendMessage({ username: 'bob', text: 'hi ann' });
      const { messages } = await room.getMessages({});
      assert.deepEqual(messages.map((m) => [m.username, m.text]), [['ann', 'héllo, 世界'], ['bob', 'hi ann']]);
      assert.equal(messages[0].id, sent.message.id);
      assert.deepEqual((await room.getMessages({ limit: 1 })).messages.map((m) => m.text), ['hi ann']);
      assert.deepEqual(await room.getParticipants(), { participants: ['ann', 'bob'], count: 2 });
      assert.deepEqual(await room.leave({ username: 'ann' }), { success: true, participantCount: 1 });
      assert.deepEqual(await room.getParticipants(), { participants: ['bob'], count: 1 });
    });

    test('serverTime over HTTP: getTime and setTimezone', async () => {
      const t = client.serverTime.getOrCreate([uniqueKey(`t-${enc.name}`)]);
      const now = await t.getTime();
      assert.equal(now.timezone, 'UTC');
      assert.ok(Math.abs(now.currentTime - Date.now()) < 60_000, `currentTime ${now.currentTime}`);
      assert.match(now.formatted, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.deepEqual(await t.setTimezone({ timezone: 'Europe/Paris' }), { timezone: 'Europe/Paris' });
      const paris = await t.getTime();
      assert.equal(paris.timezone, 'Europe/Paris');
      assert.match(paris.formatted, /[+-]\d\d:\d\d$/);
    });

    test('errors surface as ActorError with RivetKit group and code', async () => {
      const key = uniqueKey(`e-${enc.name}`);
      // get of an actor with no history: actor.not_found (after the
      // client's own retries for an actor that may be starting).
      const start = Date.now();
      await rejectsWith(client.counter.get([key]).getCount(), 'actor', 'not_found');
      assert.ok(Date.now() - start < 30_000);
      // ... and it did not create it.
      await rejectsWith(client.counter.get([key]).increment(), 'actor', 'not_found');
      await rejectsWith(client.counter.getForId('bm90IGFuIGFjdG9y').getCount(), 'actor', 'not_found');

      const h = client.counter.getOrCreate([key]);
      const invalid = await rejectsWith(h.add({}), 'user', 'invalid');
      assert.match(invalid.message, /"value" is required/);
      await rejectsWith(h.noSuchAction(), 'actor', 'action_not_found');
      await rejectsWith(client.chatRoom.getOrCreate([key]).sendMessage({ username: 'ann', text: '' }), 'user', 'invalid');
      await rejectsWith(client.serverTime.getOrCreate([key]).setTimezone({ timezone: 'Mars/Olympus' }), 'user', 'invalid');
      // Create input is refused: actorlog actors start from their initial state.
      await rejectsWith(client.counter.getOrCreate([key], { createWithInput: { count: 5 } }).getCount(), 'feature', 'not_implemented');
      // Nothing above wrote: the counter is still at zero.
      assert.equal((await h.getCount()).count, 0);
    });

    test('a connection: actions, and events only for the names it subscribed to', async () => {
      const key = uniqueKey(`conn-${enc.name}`);
      const conn = client.counter.getOrCreate([key]).connect();
      const seen = [];
      const off = conn.on('countUpdated', (e) => seen.push(e.count));
      const first = new Promise((resolve) => conn.once('countUpdated', resolve));
      assert.deepEqual(await conn.increment(), { count: 1 });
      assert.equal((await first).count, 1);
      assert.deepEqual(await conn.add({ value: 9 }), { count: 10 });
      await waitFor(() => seen.length === 2, { what: 'two countUpdated events' });
      assert.deepEqual(seen, [1, 10]);
      assert.equal(conn.connStatus, 'connected');

      // A write from elsewhere (a stateless HTTP call) reaches the connection.
      await client.counter.getOrCreate([key]).increment();
      await waitFor(() => seen.length === 3, { what: 'the HTTP write as an event' });
      assert.equal(seen[2], 11);

      // An action error over the connection rejects that call only.
      await rejectsWith(conn.add({}), 'user', 'invalid');
      await rejectsWith(conn.noSuchAction(), 'actor', 'action_not_found');
      assert.deepEqual(await conn.increment(), { count: 12 });
      await waitFor(() => seen.length === 4, { what: 'countUpdated after the errors' });

      // Unsubscribed: the server sends no more countUpdated events.
      off();
      await sleep(100);
      const [ws] = socketsTo(encodeURIComponent(key)).slice(-1);
      assert.ok(ws, 'the connection socket was recorded');
      const before = ws.frames.length;
      assert.deepEqual(await conn.increment(), { count: 13 });
      await sleep(300);
      const after = ws.frames.slice(before).map((f) => frameKind(f, enc.name));
      assert.deepEqual(after, [{ tag: 'ActionResponse' }]);
      assert.deepEqual(seen, [1, 10, 11, 12]);
      await conn.dispose();
    });

    test('chatRoom connections: newMessage, userJoined and userLeft, each only where subscribed', async () => {
      const key = uniqueKey(`chat-${enc.name}`);
      const a = client.chatRoom.getOrCreate([key]).connect();
      const b = client.chatRoom.getOrCreate([key]).connect();
      const aSeen = [];
      const bSeen = [];
      a.on('newMessage', (m) => aSeen.push(['newMessage', m.username, m.text]));
      a.on('userJoined', (p) => aSeen.push(['userJoined', p.username, p.participantCount]));
      a.on('userLeft', (p) => aSeen.push(['userLeft', p.username, p.participantCount]));
      // b listens to messages only.
      b.on('newMessage', (m) => bSeen.push(['newMessage', m.username, m.text]));
      await a.getParticipants(); // both are open and subscribed before the writes
      await b.getParticipants();

      await b.join({ username: 'bob' });
      await a.sendMessage({ username: 'ann', text: 'first' });
      await b.sendMessage({ username: 'bob', text: 'second' });
      await waitFor(() => bSeen.length === 2 && aSeen.length === 3, { what: 'chat events' });

      // b leaves by closing its connection: the room emits userLeft.
      await b.dispose();
      await waitFor(() => aSeen.length === 4, { what: 'userLeft when bob disconnected' });
      assert.deepEqual(aSeen, [
        ['userJoined', 'bob', 1],
        ['newMessage', 'ann', 'first'],
        ['newMessage', 'bob', 'second'],
        ['userLeft', 'bob', 0],
      ]);
      assert.deepEqual(bSeen, [
        ['newMessage', 'ann', 'first'],
        ['newMessage', 'bob', 'second'],
      ]);
      // On the wire, b's socket carried no userJoined: only what it asked for.
      const bSocket = socketsTo(encodeURIComponent(key)).find((s) =>
        s.frames.some((f) => frameKind(f, enc.name).tag === 'Event') &&
        !s.frames.some((f) => frameKind(f, enc.name).name === 'userJoined'));
      assert.ok(bSocket, 'a socket with events but no userJoined');
      const kinds = bSocket.frames.map((f) => frameKind(f, enc.name));
      assert.equal(kinds[0].tag, 'Init');
      assert.deepEqual(kinds.filter((k) => k.tag === 'Event').map((k) => k.name), ['newMessage', 'newMessage']);
      assert.deepEqual((await a.getMessages({})).messages.map((m) => m.text), ['first', 'second']);
      await a.dispose();
    });

    test('serverTime connection: timeUpdated broadcasts while connected', async () => {
      const conn = client.serverTime.getOrCreate([uniqueKey(`time-${enc.name}`)]).connect();
      const ticks = [];
      conn.on('timeUpdated', (t) => ticks.push(t));
      await conn.setTimezone({ timezone: 'Asia/Tokyo' });
      await waitFor(() => ticks.length >= 2, { timeoutMs: 5_000, what: 'two timeUpdated ticks' });
      assert.equal(ticks.at(-1).timezone, 'Asia/Tokyo');
      assert.ok(ticks[1].currentTime > ticks[0].currentTime);
      await conn.dispose();
    });

    test('connection parameters reach the actor; a refused connection is an ActorError', async () => {
      // chatRoom's join over a connection uses the connection; with
      // params the client sends rivet_conn_params, which must not break
      // the handshake.
      const conn = client.chatRoom.getOrCreate([uniqueKey(`p-${enc.name}`)], { params: { username: 'carol', n: 1 } }).connect();
      assert.deepEqual(await conn.join({ username: 'carol' }), { success: true, participantCount: 1 });
      await conn.dispose();

      // get of a missing actor over a connection: the handshake is refused
      // with actor.not_found, which the connection reports as an error.
      const missing = client.counter.get([uniqueKey('nobody')]).connect();
      const errors = [];
      missing.onError((e) => errors.push(e));
      await rejectsWith(missing.getCount(), 'actor', 'not_found');
      await waitFor(() => errors.length > 0, { what: 'onError' });
      assert.equal(`${errors[0].group}.${errors[0].code}`, 'actor.not_found');
      await missing.dispose();
    });
  });
}

test('create makes a handle by id; what actorlog does not serve answers feature.not_implemented', async () => {
  const client = createClient({ endpoint: srv.url, encoding: 'json' });
  try {
    // create (POST /actors, then the id gateway); a second create of the
    // same key once it has history is refused.
    const key = uniqueKey('create');
    const created = await client.counter.create([key]);
    assert.deepEqual(await created.increment(), { count: 1 });
    assert.equal(await created.resolve(), await client.counter.get([key]).resolve());
    await rejectsWith(client.counter.create([key]), 'actor', 'duplicate_key');

    const h = client.counter.getOrCreate([uniqueKey('unserved')]);
    // Queues.
    await rejectsWith(h.send('jobs', { a: 1 }), 'feature', 'not_implemented');
    // Raw onRequest: the response is the server's, 501 with the error body.
    const res = await h.fetch('/hello');
    assert.equal(res.status, 501);
    assert.equal((await res.json()).code, 'not_implemented');
    // Raw onWebSocket: closed with the reason group.code.
    const ws = await h.webSocket('/x');
    const closed = await new Promise((resolve) => ws.addEventListener('close', (e) => resolve(e)));
    assert.equal(closed.reason, 'feature.not_implemented');
  } finally {
    await client.dispose();
  }
});

test("the client's token is the server's --token; a wrong one is auth.unauthorized", async () => {
  const guarded = await startServer({ token: 's3cret' });
  try {
    for (const enc of encodings) {
      const client = createClient({ endpoint: guarded.url, token: 's3cret', ...enc.opts });
      const h = client.counter.getOrCreate([uniqueKey(`tok-${enc.name}`)]);
      assert.deepEqual(await h.increment(), { count: 1 });
      const conn = h.connect();
      assert.deepEqual(await conn.increment(), { count: 2 });
      await conn.dispose();
      await client.dispose();

      // The client retries GET /metadata forever, whatever the error;
      // without that lookup, the refusal reaches the call.
      const wrong = createClient({ endpoint: guarded.url, token: 'wrong', disableMetadataLookup: true, ...enc.opts });
      const w = wrong.counter.getOrCreate([uniqueKey(`tok-${enc.name}`)]);
      await rejectsWith(w.increment(), 'auth', 'unauthorized');
      const wc = w.connect();
      await rejectsWith(wc.increment(), 'auth', 'unauthorized');
      wc.dispose().catch(() => {});
      await wrong.dispose();
    }
  } finally {
    await guarded.stop();
  }
});
