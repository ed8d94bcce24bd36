// @actorlog/client: a client for actorlog's RPC and WebSocket API.
//
// No runtime dependencies: it uses the platform's fetch and WebSocket (or
// the ones given in ClientOptions), so it runs in browsers and in Node 20+.

// ---------------------------------------------------------------------------
// Types an application uses to describe its actors.

/** One action: its arguments and its result. Leave `args` out for none. */
export interface ActionSpec<Args = unknown, Result = unknown> {
  args: Args;
  result: Result;
}

/**
 * The shape of one actor type: its state, its actions (name → {args,
 * result}), its persisted events (name → fields) and its ephemeral
 * broadcasts (name → fields; they carry no sequence number).
 *
 * ```ts
 * type Counter = {
 *   state: { count: number; lastUpdated: number };
 *   actions: {
 *     increment: { result: { count: number } };
 *     add: { args: { value: number }; result: { count: number } };
 *   };
 *   events: { countUpdated: { count: number; lastUpdated: number } };
 * };
 * ```
 */
export interface ActorSchema {
  state?: unknown;
  actions?: object;
  events?: object;
  broadcasts?: object;
}

/** An actor about which nothing is known: any action, any event. */
export interface AnyActor {
  state: any;
  actions: Record<string, { args: any; result: any }>;
  events: Record<string, Record<string, any>>;
  broadcasts: Record<string, Record<string, any>>;
}

/** A map of actor type name → ActorSchema, for createClient<Schema>(). */
export type Schema = { [actorType: string]: ActorSchema };

/** The default schema: every actor type is AnyActor. */
export type AnySchema = Record<string, AnyActor>;

type IsAny<T> = 0 extends 1 & T ? true : false;

/** The state type of actor A. */
export type StateOf<A> = A extends { state: infer S } ? S : unknown;
type ActionsOf<A> = A extends { actions: infer X } ? X : {};
type EventsOf<A> = A extends { events: infer X } ? X : {};
type BroadcastsOf<A> = A extends { broadcasts: infer X } ? X : {};

/** The action names of actor A. */
export type ActionName<A> = keyof ActionsOf<A> & string;
/** The arguments of action K of actor A. */
export type ArgsOf<A, K extends ActionName<A>> = ActionsOf<A>[K] extends { args: infer X } ? X : undefined;
/** The result of action K of actor A. */
export type ResultOf<A, K extends ActionName<A>> = ActionsOf<A>[K] extends { result: infer R } ? R : unknown;

/** The parameters after the action name: args (optional when there are none) and options. */
export type CallParams<A, K extends ActionName<A>> =
  ActionsOf<A>[K] extends { args: infer X }
    ? IsAny<X> extends true
      ? [args?: any, options?: CallOptions]
      : [X] extends [void | undefined]
        ? [args?: undefined, options?: CallOptions]
        : undefined extends X
          ? [args?: X, options?: CallOptions]
          : [args: X, options?: CallOptions]
    : [args?: undefined, options?: CallOptions];

/** A persisted event as a subscriber sees it: its fields, its type and its sequence number. */
export type EventFrame<Name extends string = string, Data = Record<string, unknown>> = Data & {
  type: Name;
  seq: number;
};
/** An ephemeral broadcast as a subscriber sees it: no sequence number. */
export type BroadcastFrame<Name extends string = string, Data = Record<string, unknown>> = Data & {
  type: Name;
  seq?: undefined;
};

/** The names on() accepts for actor A: its events and broadcasts. */
export type EventName<A> = (keyof EventsOf<A> | keyof BroadcastsOf<A>) & string;
/** What a handler of event K of actor A receives. */
export type FrameOf<A, K extends string> = K extends keyof EventsOf<A>
  ? EventFrame<K, EventsOf<A>[K]>
  : K extends keyof BroadcastsOf<A>
    ? BroadcastFrame<K, BroadcastsOf<A>[K]>
    : never;
/** Any event or broadcast of actor A (what on('*') handlers receive). */
export type AnyFrameOf<A> = [EventName<A>] extends [never]
  ? EventFrame | BroadcastFrame
  : { [K in EventName<A>]: FrameOf<A, K> }[EventName<A>];

// ---------------------------------------------------------------------------
// The seed actors of actorlog serve (actors/seed), typed: seed.ts is
// generated from their Go types by `actorlog gen ts --name SeedSchema`
// (npm run gen; CI fails if it is stale). Type-only: nothing of it is in
// the compiled client.

export type * from './seed.js';
// The names these types had when they were written by hand.
export type { Message as ChatMessage, ChatState as ChatRoomState, MembershipResult as Membership } from './seed.js';

// ---------------------------------------------------------------------------
// Errors.

const statusOfCode: Record<string, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  too_large: 413,
  invalid_argument: 422,
  internal: 500,
  unavailable: 503,
};

const codeOfStatus: Record<number, string> = Object.fromEntries(
  Object.entries(statusOfCode).map(([code, status]) => [status, code]),
);

/**
 * An error from actorlog, or from reaching it. For errors from the server,
 * code and message are those of its JSON error body and status is the HTTP
 * status (for errors over the socket, the status the same error has over
 * HTTP). Errors of the client itself have status 0 and one of the codes
 * "network" (the server could not be reached), "connection_lost" (the
 * socket closed before a call's reply: the call may or may not have run),
 * "timeout", "aborted" and "closed" (the handle was closed).
 */
export class ActorlogError extends Error {
  readonly code: string;
  readonly status: number;

  constructor(code: string, message: string, status?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ActorlogError';
    this.code = code;
    this.status = status ?? statusOfCode[code] ?? 0;
  }
}

/** Builds the ActorlogError of an HTTP error response. */
export function errorFromResponse(status: number, body: string): ActorlogError {
  try {
    const v = JSON.parse(body) as { error?: { code?: unknown; message?: unknown } };
    if (v && typeof v === 'object' && v.error && typeof v.error.code === 'string') {
      return new ActorlogError(v.error.code, String(v.error.message ?? v.error.code), status);
    }
  } catch {
    // not JSON: a proxy's page, say
  }
  const code = codeOfStatus[status] ?? (status >= 500 ? 'internal' : 'bad_request');
  const text = body.trim().slice(0, 200);
  return new ActorlogError(code, `HTTP ${status}${text ? ': ' + text : ''}`, status);
}

/**
 * The ActorlogError of a socket the server refused, from its close code
 * and reason: actorlog accepts a handshake it refuses and closes it at
 * once with 4000 + the HTTP status of the error (4401 unauthorized, 4404
 * not_found, ...), the error's message as the reason. undefined for any
 * other close code.
 */
export function errorFromClose(code: number, reason: string): ActorlogError | undefined {
  const status = code - 4000;
  if (status < 400 || status > 599) return undefined;
  const name = codeOfStatus[status] ?? (status >= 500 ? 'internal' : 'bad_request');
  return new ActorlogError(name, reason || `the server refused the socket (${code})`, status);
}

// ---------------------------------------------------------------------------
// Options.

/** The part of the WebSocket API the client uses (browsers' WebSocket and the ws package both fit). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: any }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface ReconnectOptions {
  /** First delay after a drop, ms. Default 250. */
  initialDelayMs?: number;
  /** Longest delay, ms. Default 10000. */
  maxDelayMs?: number;
  /** Growth per failed attempt. Default 2. */
  factor?: number;
  /** Fraction of each delay that is random, 0..1. Default 0.5. */
  jitter?: number;
}

export interface ClientOptions {
  /** The server's bearer token: sent as Authorization on HTTP and ?token= on sockets. */
  token?: string;
  /** A WebSocket implementation; default globalThis.WebSocket (in Node 20, pass the ws package's). */
  WebSocket?: WebSocketConstructor | (new (url: string) => unknown);
  /** A fetch implementation; default globalThis.fetch. */
  fetch?: typeof fetch;
  /** Extra headers on every HTTP request. */
  headers?: Record<string, string>;
  /** Backoff between reconnection attempts. */
  reconnect?: ReconnectOptions;
  /** How often an open socket sends {"type":"ping"}, ms; 0 never. Default 25000. */
  heartbeatMs?: number;
  /** How long to wait for any frame after a ping before the socket is taken for dead, ms. Default 10000. */
  heartbeatTimeoutMs?: number;
}

export interface CallOptions {
  /**
   * Makes the call safe to retry: the server runs it once per key. A call
   * with a key whose socket closes before the reply is retried over HTTP.
   */
  idempotencyKey?: string;
  /** Rejects with code "timeout" after this many ms (the call may still run). */
  timeoutMs?: number;
  /** Rejects with code "aborted" when aborted (the call may still run). */
  signal?: AbortSignal;
}

export interface ActorOptions<A = AnyActor> {
  /** Connection parameters, given to the actor's OnBeforeConnect hook. */
  params?: Record<string, string>;
  /**
   * Replay the events after this sequence number on the first connection
   * (0: the whole history still in the log). Default: only events after
   * the state the connection opens with.
   */
  since?: number;
  /** Open a socket (default true). false: calls go over HTTP, and there are no events nor state. */
  connect?: boolean;
  /** Ask for state frames (default true): state is then the server's, after each lull. */
  state?: boolean;
  /**
   * Folds an event into the state between state frames, for a state that
   * follows every event under load. The server's state frames replace it.
   */
  reduce?: (state: StateOf<A>, event: AnyFrameOf<A>) => StateOf<A>;
}

export type ActorStatus = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** What a handle looks like at one moment; a new object on every change. */
export interface ActorSnapshot<A = AnyActor> {
  readonly state: StateOf<A> | undefined;
  /** The sequence number the state reflects. */
  readonly stateSeq: number | undefined;
  /** The last sequence number seen, of an event or a state frame (the resume point). */
  readonly seq: number | undefined;
  readonly status: ActorStatus;
  /** Why the socket is not open, if it is not; undefined once it opens. */
  readonly error: ActorlogError | undefined;
}

/** What the handle reports each time a socket opens. */
export interface InitInfo<A = AnyActor> {
  /** The sequence the state is at (init frame), or the one the socket resumed after (resume frame). */
  seq: number;
  /** The state: the server's (init frame), or the one the handle kept (resume frame; undefined on a first connection with since). */
  state: StateOf<A>;
  /** The socket resumed after seq: the events missed since then follow, then (with state frames) the state they lead to. */
  resumed: boolean;
  /** Events after the resume point were erased from the log: state is all there is. */
  gap: boolean;
  /** The actor's history is shorter than what this handle had seen (the data was reset): sequence numbers start again. */
  reset: boolean;
}

export interface CallResult<R> {
  result: R;
  /** The actor's sequence number after the call. */
  seq: number;
  transport: 'socket' | 'http';
  /** The result is the stored one of an earlier call with the same idempotency key. */
  replayed: boolean;
}

export type Unsubscribe = () => void;

/** A live view of one actor: calls, events, state and connection status. */
export interface ActorHandle<A = AnyActor> {
  readonly type: string;
  readonly key: string;
  /** The actor's state: from the init frame, then state frames (and `reduce`, if given). */
  readonly state: StateOf<A> | undefined;
  /** The last sequence number seen, of an event or a state frame. */
  readonly seq: number | undefined;
  readonly status: ActorStatus;
  readonly error: ActorlogError | undefined;
  /** Event frames dropped as already seen (a safety net: stays 0 against a correct server). */
  readonly duplicatesDropped: number;

  /** Calls an action: over the socket when it is open, over HTTP otherwise. */
  call<K extends ActionName<A>>(action: K, ...params: CallParams<A, K>): Promise<ResultOf<A, K>>;
  /** Like call, with the sequence number and the transport used. */
  callWithMeta<K extends ActionName<A>>(action: K, ...params: CallParams<A, K>): Promise<CallResult<ResultOf<A, K>>>;

  /** Subscribes to one event or broadcast by name, or to all with "*"; the server sends the handle only the events its handlers listen to. */
  on(event: '*', handler: (event: AnyFrameOf<A>) => void): Unsubscribe;
  on<K extends EventName<A>>(event: K, handler: (event: FrameOf<A, K>) => void): Unsubscribe;
  /** Called on each status change. */
  onStatus(handler: (status: ActorStatus, error: ActorlogError | undefined) => void): Unsubscribe;
  /** Called each time a socket opens (init frame). */
  onInit(handler: (info: InitInfo<A>) => void): Unsubscribe;
  /** Called on any change of state, seq, status or error (for useSyncExternalStore and the like). */
  subscribe(listener: () => void): Unsubscribe;
  getSnapshot(): ActorSnapshot<A>;
  /** Resolves when the socket is open with the actor's state; rejects if the handle closes first. */
  ready(): Promise<void>;
  /** Closes the socket for good; calls in flight on it are rejected with code "closed". */
  close(): void;
}

export interface Client<S extends object = AnySchema> {
  /** The server's base URL (http or https). */
  readonly url: string;
  /** A handle on actor type:key; it connects at once unless options.connect is false. */
  actor<T extends keyof S & string>(type: T, key: string, options?: ActorOptions<S[T]>): ActorHandle<S[T]>;
  /** Calls an action over HTTP, without a handle. */
  call<T extends keyof S & string, K extends ActionName<S[T]>>(
    type: T,
    key: string,
    action: K,
    ...params: CallParams<S[T], K>
  ): Promise<ResultOf<S[T], K>>;
  /** Like call, with the sequence number. */
  callWithMeta<T extends keyof S & string, K extends ActionName<S[T]>>(
    type: T,
    key: string,
    action: K,
    ...params: CallParams<S[T], K>
  ): Promise<CallResult<ResultOf<S[T], K>>>;
  /** Closes every handle this client made. */
  close(): void;
}

// ---------------------------------------------------------------------------
// The client.

const OPEN = 1;

function report(err: unknown): void {
  // A subscriber's exception must not break the stream for the others.
  const g = globalThis as { reportError?: (e: unknown) => void };
  if (typeof g.reportError === 'function') g.reportError(err);
  else console.error('actorlog: a subscriber threw:', err);
}

function randomId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  return Math.random().toString(36).slice(2) + Date.now().toString(36);
}

/**
 * Creates a client for the actorlog server at url (http://, https://, ws://
 * or wss://; relative URLs are resolved against the page's location).
 */
export function createClient<S extends object = AnySchema>(url?: string, options: ClientOptions = {}): Client<S> {
  return new ClientImpl(url, options) as unknown as Client<S>;
}

class ClientImpl {
  readonly url: string;
  readonly wsURL: string;
  readonly opts: ClientOptions;
  private readonly handles = new Set<HandleImpl>();

  constructor(url: string | undefined, opts: ClientOptions) {
    const loc = (globalThis as { location?: { href: string } }).location;
    let u: URL;
    try {
      u = loc ? new URL(url ?? '', loc.href) : new URL(url ?? '');
    } catch {
      throw new TypeError(`actorlog: ${JSON.stringify(url)} is not a URL; pass the server's address, e.g. http://localhost:3001`);
    }
    if (u.protocol === 'ws:') u.protocol = 'http:';
    else if (u.protocol === 'wss:') u.protocol = 'https:';
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new TypeError(`actorlog: unsupported URL scheme ${u.protocol}`);
    }
    u.search = '';
    u.hash = '';
    const base = u.href.replace(/\/+$/, '');
    this.url = base;
    this.wsURL = base.replace(/^http/, 'ws');
    this.opts = opts;
  }

  actor(type: string, key: string, options: ActorOptions<any> = {}): HandleImpl {
    const h = new HandleImpl(this, type, key, options);
    this.handles.add(h);
    return h;
  }

  forget(h: HandleImpl): void {
    this.handles.delete(h);
  }

  close(): void {
    for (const h of [...this.handles]) h.close();
  }

  call(type: string, key: string, action: string, args?: unknown, options?: CallOptions): Promise<unknown> {
    return this.rpc(type, key, action, args, options).then((r) => r.result);
  }

  callWithMeta(type: string, key: string, action: string, args?: unknown, options?: CallOptions): Promise<CallResult<unknown>> {
    return this.rpc(type, key, action, args, options);
  }

  actorPath(type: string, key: string): string {
    return `${encodeURIComponent(type)}/${encodeURIComponent(key)}`;
  }

  headers(extra?: Record<string, string>): Record<string, string> {
    const h: Record<string, string> = { Accept: 'application/json', ...this.opts.headers, ...extra };
    if (this.opts.token) h['Authorization'] = `Bearer ${this.opts.token}`;
    return h;
  }

  private fetchFn(): typeof fetch {
    const f = this.opts.fetch ?? (globalThis as { fetch?: typeof fetch }).fetch;
    if (!f) throw new ActorlogError('network', 'actorlog: no fetch: pass one in createClient(url, {fetch})', 0);
    return f;
  }

  /** One HTTP request; the body parsed as JSON. */
  async request(method: 'GET' | 'POST', path: string, init: { body?: string; headers?: Record<string, string>; timeoutMs?: number; signal?: AbortSignal }): Promise<{ body: unknown; res: Response }> {
    const url = this.url + path;
    const ctl = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let timedOut = false;
    if (init.timeoutMs && init.timeoutMs > 0) {
      timer = setTimeout(() => { timedOut = true; ctl.abort(); }, init.timeoutMs);
    }
    const onAbort = () => ctl.abort();
    if (init.signal) {
      if (init.signal.aborted) ctl.abort();
      else init.signal.addEventListener('abort', onAbort, { once: true });
    }
    try {
      let res: Response;
      let text: string;
      try {
        res = await this.fetchFn()(url, {
          method,
          headers: this.headers(init.headers),
          body: init.body,
          signal: ctl.signal,
        });
        text = await res.text();
      } catch (e) {
        if (e instanceof ActorlogError) throw e;
        if (timedOut) throw new ActorlogError('timeout', `${method} ${path} timed out after ${init.timeoutMs} ms`, 0, { cause: e });
        if (ctl.signal.aborted) throw new ActorlogError('aborted', `${method} ${path} was aborted`, 0, { cause: e });
        throw new ActorlogError('network', `cannot reach ${this.url}: ${(e as Error)?.message ?? String(e)}`, 0, { cause: e });
      }
      if (!res.ok) throw errorFromResponse(res.status, text);
      let body: unknown = undefined;
      if (text.trim() !== '') {
        try {
          body = JSON.parse(text);
        } catch (e) {
          throw new ActorlogError('internal', `the reply to ${method} ${path} is not JSON`, res.status, { cause: e });
        }
      }
      return { body, res };
    } finally {
      if (timer) clearTimeout(timer);
      init.signal?.removeEventListener('abort', onAbort);
    }
  }

  async rpc(type: string, key: string, action: string, args: unknown, options: CallOptions = {}): Promise<CallResult<unknown>> {
    const path = `/rpc/${encodeURIComponent(type)}:${encodeURIComponent(key)}/${encodeURIComponent(action)}`;
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (options.idempotencyKey) headers['Idempotency-Key'] = options.idempotencyKey;
    const { body, res } = await this.request('POST', path, {
      body: args === undefined ? undefined : JSON.stringify(args),
      headers,
      timeoutMs: options.timeoutMs,
      signal: options.signal,
    });
    const seq = Number(res.headers.get('Actorlog-Seq') ?? NaN);
    return { result: body, seq, transport: 'http', replayed: res.headers.get('Idempotent-Replayed') === 'true' };
  }

  socketURL(type: string, key: string, q: Record<string, string>): string {
    const params = new URLSearchParams(q);
    if (this.opts.token) params.set('token', this.opts.token);
    const qs = params.toString();
    return `${this.wsURL}/ws/${this.actorPath(type, key)}${qs ? '?' + qs : ''}`;
  }

  webSocket(): WebSocketConstructor {
    const W = (this.opts.WebSocket ?? (globalThis as { WebSocket?: unknown }).WebSocket) as WebSocketConstructor | undefined;
    if (!W) {
      throw new ActorlogError(
        'network',
        'actorlog: no WebSocket implementation: pass one in createClient(url, {WebSocket}) (in Node 20, the ws package\'s, or run node with --experimental-websocket)',
        0,
      );
    }
    return W;
  }
}

interface Pending {
  action: string;
  args: unknown;
  options: CallOptions;
  resolve: (r: CallResult<unknown>) => void;
  reject: (e: unknown) => void;
  cleanup: () => void;
}

type Frame = { type?: unknown; [k: string]: unknown };

class HandleImpl {
  readonly type: string;
  readonly key: string;
  private readonly client: ClientImpl;
  private readonly opts: ActorOptions<any>;

  private ws: WebSocketLike | null = null;
  private gen = 0; // bumps on every new socket and on close: stale callbacks are ignored
  private gotInit = false;
  private snap: ActorSnapshot<any> = { state: undefined, stateSeq: undefined, seq: undefined, status: 'connecting', error: undefined };
  /** Where to resume from: the last sequence of an event delivered to subscribers, or of a state frame. */
  private cursor: number | undefined;
  private resetPending = false;
  /** The events the open socket receives, as the handle asked: null for all. */
  private socketEvents: string[] | null = null;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private lastFrameAt = 0;
  private pingSentAt = 0;
  private nextCallId = 0;
  private readonly pending = new Map<string, Pending>();
  private readonly listeners = new Map<string, Set<(e: any) => void>>();
  private readonly statusListeners = new Set<(s: ActorStatus, e: ActorlogError | undefined) => void>();
  private readonly initListeners = new Set<(i: InitInfo<any>) => void>();
  private readonly changeListeners = new Set<() => void>();
  private waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private readonly onOnline = () => this.retryNow();

  /** Frames dropped as duplicates (seq at or below the resume point); a safety net that should stay 0. */
  duplicatesDropped = 0;

  constructor(client: ClientImpl, type: string, key: string, opts: ActorOptions<any>) {
    this.client = client;
    this.type = type;
    this.key = key;
    this.opts = opts;
    this.cursor = opts.since;
    if (opts.connect === false) {
      this.snap = { ...this.snap, status: 'closed' };
      return;
    }
    try {
      this.client.webSocket();
    } catch (e) {
      this.snap = { ...this.snap, status: 'closed', error: e as ActorlogError };
      return;
    }
    const g = globalThis as { addEventListener?: (t: string, f: () => void) => void };
    if (typeof g.addEventListener === 'function' && typeof (globalThis as { window?: unknown }).window !== 'undefined') {
      g.addEventListener('online', this.onOnline);
    }
    // Once the code that made the handle has run: the handlers it adds at
    // once choose the events of the first socket (?events=).
    queueMicrotask(() => this.connect());
  }

  get state() { return this.snap.state; }
  get seq() { return this.snap.seq; }
  get status() { return this.snap.status; }
  get error() { return this.snap.error; }
  getSnapshot() { return this.snap; }

  // --- subscriptions

  on(event: string, handler: (e: any) => void): Unsubscribe {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    const fn = (e: any) => handler(e); // the same handler may subscribe twice
    set.add(fn);
    this.syncEvents();
    return () => {
      set!.delete(fn);
      this.syncEvents();
    };
  }

  /**
   * The events and broadcasts the handle needs, by name: those its
   * handlers listen to; null for all (a '*' handler, or a reducer).
   */
  private wantedEvents(): string[] | null {
    if (this.opts.reduce || (this.listeners.get('*')?.size ?? 0) > 0) return null;
    return [...this.listeners].filter(([, set]) => set.size > 0).map(([name]) => name).sort();
  }

  /** Tells an open socket of a change in the events the handle needs. */
  private syncEvents(): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN) return; // connect() and onopen see to it
    const want = this.wantedEvents();
    const have = this.socketEvents;
    const frames: { type: 'subscribe' | 'unsubscribe'; events: string[] }[] = [];
    if (want === null) {
      if (have !== null) frames.push({ type: 'subscribe', events: ['*'] });
    } else {
      if (have === null) frames.push({ type: 'unsubscribe', events: ['*'] });
      const added = want.filter((n) => have === null || !have.includes(n));
      const removed = have === null ? [] : have.filter((n) => !want.includes(n));
      if (added.length) frames.push({ type: 'subscribe', events: added });
      if (removed.length) frames.push({ type: 'unsubscribe', events: removed });
    }
    try {
      for (const f of frames) ws.send(JSON.stringify(f));
      this.socketEvents = want;
    } catch {
      // closing: the next socket asks for them
    }
  }

  onStatus(handler: (s: ActorStatus, e: ActorlogError | undefined) => void): Unsubscribe {
    const fn = (s: ActorStatus, e: ActorlogError | undefined) => handler(s, e);
    this.statusListeners.add(fn);
    return () => { this.statusListeners.delete(fn); };
  }

  onInit(handler: (i: InitInfo<any>) => void): Unsubscribe {
    const fn = (i: InitInfo<any>) => handler(i);
    this.initListeners.add(fn);
    return () => { this.initListeners.delete(fn); };
  }

  subscribe(listener: () => void): Unsubscribe {
    const fn = () => listener();
    this.changeListeners.add(fn);
    return () => { this.changeListeners.delete(fn); };
  }

  ready(): Promise<void> {
    if (this.snap.status === 'open') return Promise.resolve();
    if (this.snap.status === 'closed') {
      return Promise.reject(this.snap.error ?? new ActorlogError('closed', `${this.type}:${this.key} is closed`, 0));
    }
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private update(patch: Partial<ActorSnapshot<any>>): void {
    const prev = this.snap;
    const next = { ...prev, ...patch };
    this.snap = next;
    if (next.status === 'open' && prev.status !== 'open') {
      const w = this.waiters;
      this.waiters = [];
      for (const x of w) x.resolve();
    }
    if (next.status === 'closed' && prev.status !== 'closed') {
      const w = this.waiters;
      this.waiters = [];
      const err = next.error ?? new ActorlogError('closed', `${this.type}:${this.key} is closed`, 0);
      for (const x of w) x.reject(err);
    }
    if (next.status !== prev.status || next.error !== prev.error) {
      for (const fn of [...this.statusListeners]) {
        try { fn(next.status, next.error); } catch (e) { report(e); }
      }
    }
    for (const fn of [...this.changeListeners]) {
      try { fn(); } catch (e) { report(e); }
    }
  }

  private emit(name: string, frame: unknown): void {
    for (const key of [name, '*']) {
      const set = this.listeners.get(key);
      if (!set) continue;
      for (const fn of [...set]) {
        try { fn(frame); } catch (e) { report(e); }
      }
    }
  }

  // --- calls

  call(action: string, args?: unknown, options?: CallOptions): Promise<unknown> {
    return this.callWithMeta(action, args, options).then((r) => r.result);
  }

  callWithMeta(action: string, args?: unknown, options: CallOptions = {}): Promise<CallResult<unknown>> {
    const ws = this.ws;
    if (!ws || this.snap.status !== 'open' || ws.readyState !== OPEN) {
      return this.client.rpc(this.type, this.key, action, args, options);
    }
    if (options.signal?.aborted) {
      return Promise.reject(new ActorlogError('aborted', `${action} was aborted`, 0));
    }
    const id = 'c' + ++this.nextCallId;
    const frame: Record<string, unknown> = { type: 'call', id, action };
    if (args !== undefined) frame['args'] = args;
    if (options.idempotencyKey) frame['idempotencyKey'] = options.idempotencyKey;
    return new Promise<CallResult<unknown>>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const onAbort = () => {
        this.pending.get(id)?.cleanup();
        reject(new ActorlogError('aborted', `${action} was aborted; it may still run`, 0));
      };
      const p: Pending = {
        action,
        args,
        options,
        resolve,
        reject,
        cleanup: () => {
          this.pending.delete(id);
          if (timer) clearTimeout(timer);
          options.signal?.removeEventListener('abort', onAbort);
        },
      };
      if (options.timeoutMs && options.timeoutMs > 0) {
        timer = setTimeout(() => {
          p.cleanup();
          reject(new ActorlogError('timeout', `no reply to ${action} after ${options.timeoutMs} ms; it may still run`, 0));
        }, options.timeoutMs);
      }
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, p);
      try {
        ws.send(JSON.stringify(frame));
      } catch (e) {
        // The socket is closing: HTTP instead (nothing was sent).
        p.cleanup();
        this.client.rpc(this.type, this.key, action, args, options).then(resolve, reject);
      }
    });
  }

  /** Settles the calls in flight on a socket that closed. */
  private failPending(why: 'lost' | 'closed'): void {
    const calls = [...this.pending.values()];
    for (const p of calls) {
      p.cleanup();
      if (why === 'lost' && p.options.idempotencyKey) {
        // Safe to run again: the server answers a known key with the stored result.
        this.client.rpc(this.type, this.key, p.action, p.args, p.options).then(p.resolve, p.reject);
      } else if (why === 'lost') {
        p.reject(new ActorlogError('connection_lost', `the connection closed before the reply to ${p.action}; it may or may not have run (give an idempotencyKey to have it retried safely)`, 0));
      } else {
        p.reject(new ActorlogError('closed', `${this.type}:${this.key} was closed before the reply to ${p.action}`, 0));
      }
    }
  }

  // --- the socket

  private connect(): void {
    this.retryTimer = undefined;
    if (this.snap.status === 'closed') return;
    const gen = ++this.gen;
    this.gotInit = false;
    const q: Record<string, string> = { ...this.opts.params };
    if (this.opts.state !== false) q['state'] = '1';
    if (this.cursor !== undefined) q['since'] = String(this.cursor);
    this.sentSince = this.cursor;
    // The events the handlers need (a name with a comma goes by a
    // subscribe frame once the socket is open).
    const want = this.wantedEvents()?.filter((n) => !n.includes(',')) ?? null;
    if (want !== null) q['events'] = want.join(',');
    this.socketEvents = want;
    let ws: WebSocketLike;
    try {
      const W = this.client.webSocket();
      ws = new W(this.client.socketURL(this.type, this.key, q));
    } catch (e) {
      const err = e instanceof ActorlogError ? e : new ActorlogError('network', `cannot open a socket: ${(e as Error)?.message ?? e}`, 0, { cause: e });
      if (err.message.includes('no WebSocket implementation')) {
        this.update({ status: 'closed', error: err });
        return;
      }
      this.update({ error: err });
      this.scheduleRetry(0);
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (gen !== this.gen) return;
      this.startHeartbeat(ws, gen);
      this.syncEvents();
    };
    ws.onmessage = (ev) => {
      if (gen !== this.gen) return;
      this.lastFrameAt = Date.now();
      this.onFrame(ev.data);
    };
    ws.onerror = () => {
      // a close event follows
    };
    ws.onclose = (ev) => {
      if (gen !== this.gen) return;
      this.onDrop(ev.code, ev.reason);
    };
  }

  private startHeartbeat(ws: WebSocketLike, gen: number): void {
    const every = this.client.opts.heartbeatMs ?? 25000;
    const timeout = this.client.opts.heartbeatTimeoutMs ?? 10000;
    this.stopHeartbeat();
    this.lastFrameAt = Date.now();
    if (every <= 0) return;
    this.heartbeat = setInterval(() => {
      if (gen !== this.gen) return;
      const now = Date.now();
      if (this.pingSentAt > this.lastFrameAt && now - this.pingSentAt > timeout) {
        // Nothing came back: the connection is dead without having said so.
        this.gen++;
        try { ws.close(4000, 'heartbeat timeout'); } catch { /* already closing */ }
        this.onDrop(1006, 'heartbeat timeout');
        return;
      }
      if (now - this.lastFrameAt >= every && this.pingSentAt <= this.lastFrameAt) {
        this.pingSentAt = now;
        try { ws.send('{"type":"ping"}'); } catch { /* onclose follows */ }
      }
    }, Math.max(50, Math.min(every, timeout) / 2));
    const t = this.heartbeat as { unref?: () => void };
    t.unref?.(); // in Node, a heartbeat alone does not keep the process alive
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    this.pingSentAt = 0;
  }

  private onFrame(data: unknown): void {
    if (typeof data !== 'string') {
      if (data instanceof ArrayBuffer) data = new TextDecoder().decode(data);
      else if (ArrayBuffer.isView(data)) data = new TextDecoder().decode(data as Uint8Array);
      else return;
    }
    let f: Frame;
    try {
      f = JSON.parse(data as string) as Frame;
    } catch {
      return;
    }
    if (!f || typeof f !== 'object' || typeof f.type !== 'string') return;
    const seq = typeof f.seq === 'number' ? f.seq : undefined;
    switch (f.type) {
      case 'init':
        if (typeof f['actor'] === 'string' && seq !== undefined) return this.onInitFrame(f, seq);
        break;
      case 'resume':
        if (typeof f['actor'] === 'string' && seq !== undefined) return this.onResumeFrame(seq);
        break;
      case 'reply':
        if (f['id'] !== undefined) return this.onReply(f, seq);
        break;
      case 'error':
        if (seq === undefined && f['error'] && typeof f['error'] === 'object') return this.onErrorFrame(f);
        break;
      case 'pong':
        if (seq === undefined) return;
        break;
      case 'state':
        if (seq !== undefined && 'state' in f) {
          if (this.snap.stateSeq === undefined || seq >= this.snap.stateSeq) {
            // Every event up to seq that the socket receives came before
            // it: resume after it, whichever events the handle chose.
            if (this.cursor === undefined || seq > this.cursor) this.cursor = seq;
            this.update({ state: f['state'], stateSeq: seq, seq: this.cursor });
          }
          return;
        }
        break;
    }
    this.onEvent(f, f.type, seq);
  }

  private onInitFrame(f: Frame, seq: number): void {
    const resumed = this.sentSince !== undefined;
    const gap = f['gap'] === true;
    let reset = this.resetPending;
    this.resetPending = false;
    if (this.cursor !== undefined && seq < this.cursor) reset = true; // the log is shorter than what we saw
    // The state is at seq: the events up to it are in it, and the live
    // ones after it follow (a resumed socket gets a resume frame instead,
    // unless events it missed were erased: a gap).
    this.cursor = seq;
    this.opened({ state: f['state'], stateSeq: seq }, { seq, state: f['state'], resumed, gap, reset });
  }

  /**
   * The socket resumed after seq: the handle keeps its state, and the
   * events after seq follow (then, with state frames, the state they lead
   * to).
   */
  private onResumeFrame(seq: number): void {
    if (this.cursor === undefined) this.cursor = seq;
    this.opened({}, { seq, state: this.snap.state, resumed: true, gap: false, reset: false });
  }

  /** A socket opened: status open, and the init listeners told. */
  private opened(patch: Partial<ActorSnapshot<any>>, info: InitInfo<any>): void {
    this.gotInit = true;
    this.gotInitOnce = true;
    this.attempt = 0;
    this.update({ ...patch, seq: this.cursor, status: 'open', error: undefined });
    for (const fn of [...this.initListeners]) {
      try { fn(info); } catch (e) { report(e); }
    }
  }
  private gotInitOnce = false;
  private sentSince: number | undefined;

  private onReply(f: Frame, seq: number | undefined): void {
    const p = this.pending.get(String(f['id']));
    if (!p) return;
    p.cleanup();
    p.resolve({ result: f['result'], seq: seq ?? NaN, transport: 'socket', replayed: false });
  }

  private onErrorFrame(f: Frame): void {
    const body = f['error'] as { code?: unknown; message?: unknown };
    const err = new ActorlogError(String(body.code ?? 'internal'), String(body.message ?? body.code ?? 'error'));
    const id = f['id'];
    const p = id !== undefined ? this.pending.get(String(id)) : undefined;
    if (p) {
      p.cleanup();
      p.reject(err);
      return;
    }
    this.update({ error: err });
  }

  private onEvent(f: Frame, type: string, seq: number | undefined): void {
    if (seq !== undefined) {
      if (this.cursor !== undefined && seq <= this.cursor) {
        this.duplicatesDropped++;
        return;
      }
      this.cursor = seq;
      const patch: { -readonly [K in keyof ActorSnapshot<any>]?: ActorSnapshot<any>[K] } = { seq };
      const reduce = this.opts.reduce;
      // Nothing to fold onto before the first state (a first connection
      // with since: the state frame after the missed events brings it).
      if (reduce && this.snap.stateSeq !== undefined && seq > this.snap.stateSeq) {
        try {
          patch.state = reduce(this.snap.state, f as any);
          patch.stateSeq = seq;
        } catch (e) {
          report(e);
        }
      }
      this.update(patch);
    }
    this.emit(type, f);
  }

  private onDrop(code: number, reason: string): void {
    this.ws = null;
    this.stopHeartbeat();
    this.failPending('lost');
    if (this.snap.status === 'closed') return;
    const refused = errorFromClose(code, reason);
    if (refused) {
      this.onRefused(refused);
      return;
    }
    if (!this.gotInit) {
      // No socket, and no word from the server: it cannot be reached (or
      // something between refused the handshake).
      const err = new ActorlogError('network', `the socket to ${this.type}:${this.key} did not open (${code}${reason ? ': ' + reason : ''})`, 0);
      this.update({ status: this.gotInitOnce ? 'reconnecting' : 'connecting', error: err });
      this.scheduleRetry();
      return;
    }
    const err = new ActorlogError('unavailable', `connection closed (${code}${reason ? ': ' + reason : ''})`, 0);
    this.update({ status: 'reconnecting', error: err });
    // Too slow (4008) and actor restarted (1012): come straight back.
    this.scheduleRetry(this.attempt === 0 && (code === 4008 || code === 1012) ? 0 : undefined);
  }

  /** The server refused the socket, saying why in its close code and reason. */
  private onRefused(err: ActorlogError): void {
    if (err.code === 'conflict' && this.sentSince !== undefined) {
      // since is past the actor's head: its history is shorter than what
      // we saw (its data was reset). Start again from its state, and say so.
      this.cursor = undefined;
      this.resetPending = true;
      this.update({ status: this.gotInitOnce ? 'reconnecting' : 'connecting', error: err });
      this.scheduleRetry(0);
      return;
    }
    if ([400, 401, 403, 404].includes(err.status)) {
      // Retrying cannot help: a wrong token, a refused origin or
      // connection, an unknown actor type, a bad key.
      this.shutdown(err);
      return;
    }
    this.update({ status: this.gotInitOnce ? 'reconnecting' : 'connecting', error: err });
    this.scheduleRetry();
  }

  private scheduleRetry(delay?: number): void {
    if (this.retryTimer || this.snap.status === 'closed') return;
    if (delay === undefined) {
      const r = this.client.opts.reconnect ?? {};
      const initial = r.initialDelayMs ?? 250;
      const max = r.maxDelayMs ?? 10000;
      const factor = r.factor ?? 2;
      const jitter = Math.min(1, Math.max(0, r.jitter ?? 0.5));
      const d = Math.min(max, initial * Math.pow(factor, this.attempt));
      delay = d * (1 - jitter) + Math.random() * d * jitter;
    }
    this.attempt++;
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  private retryNow(): void {
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      this.connect();
    }
  }

  private shutdown(err: ActorlogError | undefined): void {
    this.gen++;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.stopHeartbeat();
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      try { ws.close(1000, 'client closed'); } catch { /* already closed */ }
    }
    this.failPending('closed');
    const g = globalThis as { removeEventListener?: (t: string, f: () => void) => void };
    g.removeEventListener?.('online', this.onOnline);
    this.client.forget(this);
    this.update({ status: 'closed', error: err });
  }

  close(): void {
    if (this.snap.status === 'closed') return;
    this.shutdown(undefined);
  }
}
