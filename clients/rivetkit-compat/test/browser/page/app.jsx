// A counter and a chat room written as a RivetKit app would write them,
// with @rivetkit/react's useActor — nothing in it knows about actorlog
// but the endpoint, which the test passes in the page's URL
// (?endpoint=&encoding=&counter=&room=&user=).
import { useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { createRivetKit } from '@rivetkit/react';

const params = new URLSearchParams(location.search);
const encoding = params.get('encoding') || undefined; // none: the client's default, bare
const { useActor } = createRivetKit({ endpoint: params.get('endpoint'), ...(encoding ? { encoding } : {}) });

function Counter({ id }) {
  const counter = useActor({ name: 'counter', key: [id] });
  const [count, setCount] = useState(null);
  const [error, setError] = useState('');
  counter.useEvent('countUpdated', (e) => setCount(e.count));
  useEffect(() => {
    if (counter.connStatus === 'connected') counter.connection.getCount().then((s) => setCount(s.count));
  }, [counter.connection, counter.connStatus]);
  const call = (p) => p.catch((e) => setError(`${e.group}.${e.code}`));
  return (
    <section>
      <h2>counter {id}</h2>
      <p>status <b id="counter-status" data-status={counter.connStatus}>{counter.connStatus}</b></p>
      <p>count <b id="count">{count ?? '…'}</b></p>
      <button id="inc" disabled={!counter.connection} onClick={() => call(counter.connection.increment())}>+1</button>
      <button id="dec" disabled={!counter.connection} onClick={() => call(counter.connection.decrement())}>−1</button>
      <button id="bad" disabled={!counter.connection} onClick={() => call(counter.connection.add({}))}>add nothing</button>
      <button id="inc-http" disabled={!counter.handle} onClick={() => call(counter.handle.increment())}>+1 over HTTP</button>
      <p id="counter-error">{error}</p>
    </section>
  );
}

function Chat({ room, user }) {
  const chat = useActor({ name: 'chatRoom', key: [room] });
  const [messages, setMessages] = useState([]);
  const [joined, setJoined] = useState([]);
  const [text, setText] = useState('');
  chat.useEvent('newMessage', (m) => setMessages((ms) => (ms.some((x) => x.id === m.id) ? ms : [...ms, m])));
  chat.useEvent('userJoined', (p) => setJoined((j) => [...j, p.username]));
  useEffect(() => {
    if (chat.connStatus !== 'connected') return;
    chat.connection.join({ username: user });
    chat.connection.getMessages({}).then((r) => setMessages(r.messages));
  }, [chat.connection, chat.connStatus]);
  const send = (e) => {
    e.preventDefault();
    chat.connection.sendMessage({ username: user, text });
    setText('');
  };
  return (
    <section>
      <h2>chat {room} as {user}</h2>
      <p>status <b id="chat-status" data-status={chat.connStatus}>{chat.connStatus}</b></p>
      <p>joined: <span id="joined">{joined.join(', ')}</span></p>
      <ul id="messages">
        {messages.map((m) => (
          <li key={m.id}><b className="who">{m.username}</b>: <span className="text">{m.text}</span></li>
        ))}
      </ul>
      <form onSubmit={send}>
        <input id="text" value={text} onChange={(e) => setText(e.target.value)} />
        <button id="send" disabled={!chat.connection}>send</button>
      </form>
    </section>
  );
}

function App() {
  return (
    <main>
      <h1>RivetKit app on actorlog ({encoding ?? 'bare'})</h1>
      <Counter id={params.get('counter')} />
      <Chat room={params.get('room')} user={params.get('user')} />
    </main>
  );
}

createRoot(document.getElementById('root')).render(<App />);
