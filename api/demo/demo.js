// The demo page: a counter and a chat room, each a live actor handle from
// the @actorlog/client package (actorlog.js is its compiled index.js).
import { createClient } from './actorlog.js';

const $ = (id) => document.getElementById(id);
const q = new URLSearchParams(location.search);
const counterKey = q.get('counter') || 'default';
const roomKey = q.get('room') || 'lobby';

// The API is served from the same origin, one level above /demo/. A server
// started with --token needs ?token= in the page's address.
const token = q.get('token') || undefined;
const client = createClient(new URL('..', location.href).href, { token });

$('counter-id').textContent = `counter:${counterKey}`;
$('room-id').textContent = `chatRoom:${roomKey}`;

// --- errors and the event log

let errorTimer;
function showError(e) {
  const el = $('error');
  el.textContent = e && e.code ? `${e.code}: ${e.message}` : String(e);
  el.hidden = false;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => (el.hidden = true), 4000);
}

function logEvent(actor, e) {
  const li = document.createElement('li');
  const { type, seq, ...fields } = e;
  li.textContent = `${actor} #${seq} ${type} ${JSON.stringify(fields)}`;
  const list = $('events');
  list.prepend(li);
  while (list.children.length > 50) list.lastElementChild.remove();
}

function showStatus(el, status, error) {
  el.dataset.status = status;
  el.textContent = status;
  el.title = error ? `${error.code}: ${error.message}` : '';
}

// --- counter

const counter = client.actor('counter', counterKey, {
  // State frames come when the actor is idle; fold each event in between.
  reduce: (s, e) => (e.type === 'countUpdated' ? { count: e.count, lastUpdated: e.lastUpdated } : s),
});

function renderCounter() {
  const { state, status, error, seq } = counter.getSnapshot();
  showStatus($('counter-status'), status, error);
  $('count').textContent = state ? String(state.count) : '…';
  $('counter-seq').textContent = seq ?? '–';
  $('counter-updated').textContent = state && state.lastUpdated ? new Date(state.lastUpdated).toLocaleTimeString() : '–';
}
counter.subscribe(renderCounter);
counter.on('*', (e) => logEvent(`counter:${counterKey}`, e));
renderCounter();

for (const [id, action] of [['inc', 'increment'], ['dec', 'decrement'], ['reset', 'reset']]) {
  $(id).addEventListener('click', () => counter.call(action).catch(showError));
}

// --- chat room

const room = client.actor('chatRoom', roomKey, {
  reduce: (s, e) => {
    switch (e.type) {
      case 'newMessage': {
        const { type, seq, ...m } = e;
        return { ...s, messages: [...s.messages, m].slice(-100) };
      }
      case 'userJoined':
        return s.participants.includes(e.username) ? s : { ...s, participants: [...s.participants, e.username] };
      case 'userLeft':
        return { ...s, participants: s.participants.filter((u) => u !== e.username) };
    }
    return s;
  },
});

let me = sessionStorage.getItem('actorlog-demo-user') || '';
let joined = false;
$('username').value = me;

let shownMessages = null;
function renderRoom() {
  const { state, status, error } = room.getSnapshot();
  showStatus($('chat-status'), status, error);
  if (!state) return;
  $('participants').textContent = state.participants.length ? state.participants.join(', ') : 'nobody';
  if (state.messages === shownMessages) return;
  shownMessages = state.messages;
  const list = $('messages');
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 30;
  list.replaceChildren(
    ...(state.messages.length
      ? state.messages.map((m) => {
          const li = document.createElement('li');
          const who = document.createElement('span');
          who.className = 'who';
          who.textContent = m.username;
          const when = document.createElement('span');
          when.className = 'when';
          when.textContent = new Date(m.timestamp).toLocaleTimeString();
          li.append(who, document.createTextNode(m.text), when);
          return li;
        })
      : [Object.assign(document.createElement('li'), { className: 'empty', textContent: 'no messages yet' })]),
  );
  if (atBottom) list.scrollTop = list.scrollHeight;
}
room.subscribe(renderRoom);
room.on('*', (e) => logEvent(`chatRoom:${roomKey}`, e));
renderRoom();
// Joined over the socket, we leave the room when it closes: join again
// when a new one opens.
room.onInit(() => {
  if (joined && me) room.call('join', { username: me }).catch(showError);
});

$('join-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const name = $('username').value.trim();
  if (!name) return;
  try {
    if (joined && me && me !== name) await room.call('leave', { username: me });
    await room.call('join', { username: name });
    me = name;
    joined = true;
    sessionStorage.setItem('actorlog-demo-user', me);
    $('join').textContent = 'rename';
    $('text').disabled = $('send').disabled = false;
    $('text').placeholder = `message as ${me}`;
    $('text').focus();
  } catch (e) {
    showError(e);
  }
});

$('send-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const text = $('text').value;
  if (!text.trim() || !joined) return;
  $('text').value = '';
  try {
    await room.call('sendMessage', { username: me, text });
  } catch (e) {
    $('text').value = text;
    showError(e);
  }
});

// Leave the room when the tab goes away (best effort: a keepalive request
// outlives the page).
addEventListener('pagehide', () => {
  if (!joined || !me) return;
  fetch(new URL(`../rpc/chatRoom:${encodeURIComponent(roomKey)}/leave`, location.href), {
    method: 'POST',
    keepalive: true,
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ username: me }),
  }).catch(() => {});
});

// For tests and the console.
window.actorlogDemo = { client, counter, room };
