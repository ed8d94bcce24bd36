// Compile-time checks of the client's types: `npm run typecheck` (tsc
// --noEmit). Each @ts-expect-error line must be an error.
import { createClient, ActorlogError, type CounterActor, type SeedSchema, type ActorHandle, type ActorSchema } from '../../src/index.js';
import { useActor, createActorHooks, ActorlogProvider } from '../../src/react.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(_: T) {}

const client = createClient<SeedSchema>('http://localhost:3001', { token: 't' });

export async function seed() {
  const counter = client.actor('counter', 'default');
  const r = await counter.call('increment');
  expectType<Equal<typeof r, { count: number }>>(true);
  await counter.call('add', { value: 5 });
  // @ts-expect-error add needs {value}
  await counter.call('add');
  // @ts-expect-error value is a number
  await counter.call('add', { value: '5' });
  // @ts-expect-error no such action
  await counter.call('incremnt');
  // @ts-expect-error increment takes no arguments
  await counter.call('increment', { value: 1 });
  await counter.call('increment', undefined, { idempotencyKey: 'k', timeoutMs: 1000 });

  const count: number | undefined = counter.state?.count;
  void count;
  counter.on('countUpdated', (e) => {
    expectType<Equal<typeof e.count, number>>(true);
    expectType<Equal<typeof e.seq, number>>(true);
    expectType<Equal<typeof e.type, 'countUpdated'>>(true);
  });
  // @ts-expect-error no such event
  counter.on('countChanged', () => {});
  counter.on('*', (e) => {
    if (e.type === 'countUpdated') expectType<Equal<typeof e.count, number>>(true);
  });

  const room = client.actor('chatRoom', 'lobby');
  const { message } = await room.call('sendMessage', { username: 'a', text: 'b' });
  expectType<Equal<typeof message.text, string>>(true);
  await room.call('getMessages');
  await room.call('getMessages', { limit: 10 });
  room.on('userJoined', (e) => expectType<Equal<typeof e.participantCount, number>>(true));

  const clock = client.actor('serverTime', 'global');
  clock.on('timeUpdated', (e) => {
    expectType<Equal<typeof e.seq, undefined>>(true);
    expectType<Equal<typeof e.currentTime, number>>(true);
  });

  // @ts-expect-error no such actor type in the schema
  client.actor('stopwatch', 'x');
  await client.call('counter', 'x', 'add', { value: 1 });
  // @ts-expect-error
  await client.call('counter', 'x', 'add', { value: true });

  try {
    await counter.call('add', { value: 1 });
  } catch (e) {
    if (e instanceof ActorlogError) {
      const s: number = e.status;
      const c: string = e.code;
      void s, c;
    }
  }
}

// An application's own actor, with an untyped client.
type Stopwatch = {
  state: { laps: number[] };
  actions: { lap: { result: { laps: number } }; reset: { args: { keep?: number } | undefined; result: null } };
  events: { lapped: { at: number } };
};
export async function own() {
  const any = createClient('http://localhost:3001');
  const h = any.actor('whatever', 'k');
  await h.call('anything', { a: 1 });
  h.on('anyEvent', (e) => void e.seq);
  const sw = any.actor('stopwatch', 'mine') as unknown as ActorHandle<Stopwatch>;
  const laps = await sw.call('lap');
  expectType<Equal<typeof laps, { laps: number }>>(true);
  await sw.call('reset');
  await sw.call('reset', { keep: 2 });
  sw.on('lapped', (e) => expectType<Equal<typeof e.at, number>>(true));
  const schemaOk: ActorSchema = {} as Stopwatch;
  void schemaOk;
}

// React.
export function CounterView() {
  const counter = useActor<CounterActor>('counter', 'default');
  const n: number | undefined = counter.state?.count;
  // @ts-expect-error add needs {value}
  void counter.call('add');
  void counter.call('add', { value: 2 });
  const status: 'connecting' | 'open' | 'reconnecting' | 'closed' = counter.status;
  return (
    <button onClick={() => counter.call('increment')} disabled={status !== 'open'}>
      {n ?? '…'} {counter.error?.message}
    </button>
  );
}
const hooks = createActorHooks<SeedSchema>();
export function Room() {
  const room = hooks.useActor('chatRoom', 'lobby');
  return <ul>{room.state?.messages.map((m) => <li key={m.id}>{m.text}</li>)}</ul>;
}
export const App = () => (
  <ActorlogProvider client={client}>
    <CounterView />
    <Room />
  </ActorlogProvider>
);
