// Compile-time checks of the generated seed types (src/seed.ts, written by
// `actorlog gen ts --name SeedSchema`): `npm run typecheck` (tsc
// --noEmit). Each @ts-expect-error line must be an error, and every other
// line must compile: a typed call with a wrong argument, a field the Go
// type does not have or a misspelled action does not compile.
import { createClient, type SeedSchema as Exported, type ChatMessage, type Membership } from '../../src/index.js';
import type { SeedSchema, Message, MembershipResult, TimeUpdate } from '../../src/seed.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(_: T) {}

// The package exports the generated types, under their old names too.
expectType<Equal<Exported, SeedSchema>>(true);
expectType<Equal<ChatMessage, Message>>(true);
expectType<Equal<Membership, MembershipResult>>(true);

const client = createClient<SeedSchema>('http://localhost:3001');

export async function counter() {
  const c = client.actor('counter', 'default');
  const r = await c.call('add', { value: 5 });
  expectType<Equal<typeof r.count, number>>(true);
  await c.call('increment');
  const s = await c.call('getCount');
  expectType<Equal<typeof s.lastUpdated, number>>(true);
  // @ts-expect-error misspelled action
  await c.call('ad', { value: 5 });
  // @ts-expect-error value is an integer, not a string
  await c.call('add', { value: '5' });
  // @ts-expect-error valu is not a field of add's arguments
  await c.call('add', { valu: 5 });
  // @ts-expect-error value is required
  await c.call('add', {});
  // @ts-expect-error add has arguments
  await c.call('add');
  // @ts-expect-error getCount takes none
  await c.call('getCount', { value: 1 });
  // @ts-expect-error no such event
  c.on('countChanged', () => {});
}

export async function chatRoom() {
  const room = client.actor('chatRoom', 'lobby');
  await room.call('getMessages');
  const { messages } = await room.call('getMessages', { limit: 10 });
  expectType<Equal<typeof messages, Message[]>>(true);
  await room.call('join', { username: 'ann' });
  const p = await room.call('getParticipants');
  expectType<Equal<typeof p.participants, string[]>>(true);
  // @ts-expect-error limit is a number
  await room.call('getMessages', { limit: '10' });
  // @ts-expect-error text is required
  await room.call('sendMessage', { username: 'ann' });
  // @ts-expect-error join needs a username
  await room.call('join', {});
  // @ts-expect-error username, not user
  await room.call('leave', { user: 'ann' });
  room.on('userJoined', (e) => {
    expectType<Equal<typeof e.connected, boolean | undefined>>(true);
    expectType<Equal<typeof e.seq, number>>(true);
  });
}

export async function serverTime() {
  const clock = client.actor('serverTime', 'global');
  await clock.call('setTimezone', { timezone: 'Europe/Paris' });
  // @ts-expect-error timezone is a string
  await clock.call('setTimezone', { timezone: 1 });
  // @ts-expect-error setTimezone, not setTimeZone
  await clock.call('setTimeZone', { timezone: 'UTC' });
  clock.on('timeUpdated', (e) => {
    expectType<Equal<typeof e.currentTime, TimeUpdate['currentTime']>>(true);
    expectType<Equal<typeof e.seq, undefined>>(true);
  });
}
