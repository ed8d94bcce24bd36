// useActor against the real `actorlog serve`, rendered with react-test-renderer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { createElement as h, StrictMode, useEffect } from 'react';
import TestRenderer from 'react-test-renderer';
import { createClient } from '../dist/index.js';
import { useActor, ActorlogProvider, createActorHooks } from '../dist/react.js';
import { startServer, waitFor, uniqueKey } from './helpers.mjs';

globalThis.IS_REACT_ACT_ENVIRONMENT = true;
const { act } = TestRenderer;

// react-test-renderer is deprecated in React 19 and says so once; the hook
// is what is under test, so keep the output clean.
const origError = console.error;
console.error = (...a) => {
  const m = String(a[0]);
  // Updates from the socket arrive outside act(): that is the point here.
  if (m.includes('react-test-renderer is deprecated') || m.includes('was not wrapped in act')) return;
  origError(...a);
};

let srv;
before(async () => {
  srv = await startServer();
});
after(async () => {
  await srv?.stop();
});

/** Sockets the client opened, to see that unmount closes them. */
function trackingWebSocket() {
  const all = [];
  class Tracked extends WebSocket {
    constructor(url) {
      super(url);
      all.push(this);
    }
  }
  return { Tracked, all };
}

async function settle(cond, what) {
  await waitFor(async () => {
    let ok;
    await act(async () => {
      ok = cond();
    });
    return ok;
  }, { what });
}

test('useActor: state, status, call, re-render on events, cleanup on unmount (StrictMode, provider)', async () => {
  const { Tracked, all } = trackingWebSocket();
  const client = createClient(srv.url, { WebSocket: Tracked });
  const key = uniqueKey('hook');
  let latest;
  let renders = 0;
  function Counter() {
    const counter = useActor('counter', key);
    latest = counter;
    renders++;
    return h('span', null, `${counter.status}:${counter.state?.count ?? '-'}`);
  }
  let root;
  await act(async () => {
    root = TestRenderer.create(h(StrictMode, null, h(ActorlogProvider, { client }, h(Counter))));
  });
  await settle(() => latest.status === 'open' && latest.state?.count === 0, 'open with state');
  assert.equal(root.toJSON().children[0], 'open:0');

  // A call through the hook, and writes from elsewhere: both re-render.
  await act(async () => {
    assert.deepEqual(await latest.call('increment'), { count: 1 });
  });
  await client.call('counter', key, 'add', { value: 41 });
  await settle(() => latest.state?.count === 42, 'state 42');
  assert.equal(root.toJSON().children[0], 'open:42');
  assert.equal(latest.seq, 2);
  assert.equal(latest.error, undefined);

  // A failed call rejects and shows as error until a call succeeds.
  await act(async () => {
    await assert.rejects(latest.call('add', {}), { code: 'invalid_argument', status: 422 });
  });
  assert.equal(latest.error?.code, 'invalid_argument');
  await act(async () => {
    await latest.call('reset');
  });
  assert.equal(latest.error, undefined);
  await settle(() => latest.state?.count === 0, 'reset');

  // StrictMode mounts twice: one socket left open, and none after unmount.
  await waitFor(() => all.filter((w) => w.readyState === WebSocket.OPEN).length === 1, { what: 'one open socket' });
  const before = renders;
  await act(async () => root.unmount());
  await waitFor(() => all.every((w) => w.readyState === WebSocket.CLOSED), { what: 'sockets closed after unmount' });
  await client.call('counter', key, 'increment');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(renders, before, 'no render after unmount');
  client.close();
});

test('useActor: changing the key reconnects; typed hooks, the client option, on() through the handle', async () => {
  const client = createClient(srv.url, { WebSocket });
  const { useActor: useSeedActor } = createActorHooks();
  const a = uniqueKey('room-a');
  const b = uniqueKey('room-b');
  await client.call('chatRoom', b, 'sendMessage', { username: 'bob', text: 'in b' });
  let latest;
  const seen = [];
  function Room({ room }) {
    const chat = useSeedActor('chatRoom', room, { client });
    latest = chat;
    useEffect(() => chat.handle?.on('newMessage', (m) => seen.push(`${room}:${m.text}`)), [chat.handle, room]);
    return h('ul', null, (chat.state?.messages ?? []).map((m) => h('li', { key: m.id }, m.text)));
  }
  let root;
  await act(async () => {
    root = TestRenderer.create(h(Room, { room: a }));
  });
  await settle(() => latest.status === 'open', 'room a open');
  await act(async () => {
    await latest.call('sendMessage', { username: 'ann', text: 'hello a' });
  });
  await settle(() => latest.state?.messages.length === 1, 'message in a');
  assert.deepEqual(root.toJSON().children.map((li) => li.children[0]), ['hello a']);
  await act(async () => root.update(h(Room, { room: b })));
  await settle(() => latest.status === 'open' && latest.state?.messages[0]?.text === 'in b', 'room b');
  await client.call('chatRoom', b, 'sendMessage', { username: 'bob', text: 'live b' });
  await settle(() => latest.state?.messages.length === 2, 'live message in b');
  assert.deepEqual(seen, [`${a}:hello a`, `${b}:live b`]);
  await act(async () => root.unmount());
  client.close();
});

test('useActor without a client says how to give one', async () => {
  function Bare() {
    useActor('counter', 'x');
    return null;
  }
  const errors = [];
  console.error = () => {};
  try {
    await act(async () => {
      try {
        TestRenderer.create(h(Bare));
      } catch (e) {
        errors.push(e);
      }
    });
  } catch (e) {
    errors.push(e);
  } finally {
    console.error = origError;
  }
  assert.match(String(errors[0]), /useActor needs a client/);
});
