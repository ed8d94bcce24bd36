// The README's React example, type-checked (npm run typecheck). Generated
// from README.md by hand: keep the two in step.
import { StrictMode, useState, type FormEvent } from 'react';
declare function createRoot(el: Element): { render(node: unknown): void };
import { createClient, type SeedSchema } from '../../src/index.js';
import { ActorlogProvider, createActorHooks } from '../../src/react.js';

const client = createClient<SeedSchema>('http://localhost:3001');
const { useActor } = createActorHooks<SeedSchema>();

function Counter() {
  const counter = useActor('counter', 'default');
  return (
    <section>
      <h2>Counter ({counter.status})</h2>
      <p style={{ fontSize: 48 }}>{counter.state?.count ?? '…'}</p>
      <button onClick={() => counter.call('decrement')}>−</button>
      <button onClick={() => counter.call('increment')}>+</button>
      <button onClick={() => counter.call('add', { value: 10 })}>+10</button>
      <button onClick={() => counter.call('reset')}>reset</button>
      {counter.error && <p role="alert">{counter.error.message}</p>}
    </section>
  );
}

function Chat({ room }: { room: string }) {
  const chat = useActor('chatRoom', room);
  const [name, setName] = useState('');
  const [me, setMe] = useState<string | null>(null);
  const [text, setText] = useState('');

  async function join(e: FormEvent) {
    e.preventDefault();
    await chat.call('join', { username: name });
    setMe(name);
  }
  async function send(e: FormEvent) {
    e.preventDefault();
    if (!me) return;
    await chat.call('sendMessage', { username: me, text });
    setText('');
  }

  return (
    <section>
      <h2>#{room} ({chat.status})</h2>
      <p>here: {chat.state?.participants.join(', ') || 'nobody'}</p>
      <ul>
        {chat.state?.messages.map((m) => (
          <li key={m.id}>
            <b>{m.username}</b> {m.text}
          </li>
        ))}
      </ul>
      {me ? (
        <form onSubmit={send}>
          <input value={text} onChange={(e) => setText(e.target.value)} placeholder={`message as ${me}`} />
          <button disabled={!text.trim()}>send</button>
        </form>
      ) : (
        <form onSubmit={join}>
          <input value={name} onChange={(e) => setName(e.target.value)} placeholder="your name" />
          <button disabled={!name.trim()}>join</button>
        </form>
      )}
      {chat.error && <p role="alert">{chat.error.message}</p>}
    </section>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <ActorlogProvider client={client}>
      <Counter />
      <Chat room="lobby" />
    </ActorlogProvider>
  </StrictMode>,
);
