// myapp's actors called through @actorlog/client with the types that
// `myapp gen ts` wrote (schema.ts): this file must compile (tsc -p
// client), and each @ts-expect-error line must be an error, or tsc fails
// with "Unused '@ts-expect-error' directive". main_test.go's
// TestTypeScript runs it, and checks that without the schema every one of
// those lines would compile.
import { createClient } from '@actorlog/client';
import type { Schema } from './schema.js';

const client = createClient<Schema>('http://localhost:3001');

export async function myActor(): Promise<number> {
  const my = client.actor('myActor', 'default');
  const ok: boolean | undefined = (await my.call('updateValue', { value: 5 })).success;
  void ok;
  const { value } = await my.call('getValue');
  my.on('valueUpdated', (e) => console.log(e.seq, e.value));
  my.on('stateUpdated', (e) => console.log(e.value));
  // @ts-expect-error a misspelled action
  await my.call('updateValu', { value: 5 });
  // @ts-expect-error value is a number
  await my.call('updateValue', { value: '5' });
  // @ts-expect-error valu is not a field of updateValue's arguments
  await my.call('updateValue', { valu: 5 });
  // @ts-expect-error updateValue needs its arguments
  await my.call('updateValue');
  // @ts-expect-error getValue takes none
  await my.call('getValue', { value: 1 });
  // @ts-expect-error no such event or broadcast
  my.on('stateChanged', () => {});
  return value;
}

export async function reminders(): Promise<string> {
  const rem = client.actor('reminders', 'me');
  const r = await rem.call('remind', { text: 'stretch', inMs: 5000 });
  const due: number = r.due;
  void due;
  const { reminders } = await rem.call('list');
  rem.on('reminderFired', (e) => console.log(e.id, e.seq));
  // @ts-expect-error inMs is a number
  await rem.call('remind', { text: 'stretch', inMs: '5000' });
  // @ts-expect-error text is required
  await rem.call('remind', { inMs: 5000 });
  // @ts-expect-error no such actor type
  client.actor('reminder', 'me');
  const texts: string[] = [];
  for (const x of reminders) texts.push(x.text);
  return texts.join(', ');
}
