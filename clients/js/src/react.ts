// @actorlog/client/react: the useActor hook.

import {
  createContext,
  createElement,
  useCallback,
  useContext,
  useEffect,
  useRef,
  useState,
  useSyncExternalStore,
  type ReactNode,
} from 'react';
import type {
  ActionName,
  ActorHandle,
  ActorlogError,
  ActorOptions,
  ActorSnapshot,
  ActorStatus,
  AnyActor,
  AnySchema,
  CallParams,
  Client,
  ResultOf,
  StateOf,
} from './index.js';

const ClientContext = createContext<Client<any> | null>(null);

/** Makes client the one useActor uses below it. */
export function ActorlogProvider(props: { client: Client<any>; children?: ReactNode }) {
  return createElement(ClientContext.Provider, { value: props.client }, props.children);
}

/** The client of the nearest ActorlogProvider, or null. */
export function useActorlogClient(): Client<any> | null {
  return useContext(ClientContext);
}

export interface UseActorOptions<A = AnyActor> extends ActorOptions<A> {
  /** The client to use; default the one of the nearest ActorlogProvider. */
  client?: Client<any>;
  /** false: no connection (state stays undefined, status "closed"). Default true. */
  enabled?: boolean;
}

export interface UseActorResult<A = AnyActor> {
  /** The actor's state; undefined until the socket opens. */
  state: StateOf<A> | undefined;
  /** Calls an action (over the socket when open, HTTP otherwise). Rejects with an ActorlogError. */
  call: <K extends ActionName<A>>(action: K, ...params: CallParams<A, K>) => Promise<ResultOf<A, K>>;
  status: ActorStatus;
  /** The connection's error, else the last call's error (cleared by the next call that succeeds). */
  error: ActorlogError | undefined;
  /** The last sequence number seen, of an event or a state frame. */
  seq: number | undefined;
  /** The handle itself, for on(...) and the like; null before the first effect runs. */
  handle: ActorHandle<A> | null;
}

const CONNECTING: ActorSnapshot<any> = Object.freeze({ state: undefined, stateSeq: undefined, seq: undefined, status: 'connecting', error: undefined });
const DISABLED: ActorSnapshot<any> = Object.freeze({ state: undefined, stateSeq: undefined, seq: undefined, status: 'closed', error: undefined });
const noop = () => {};

/**
 * Connects to actor type:key while the component is mounted and re-renders
 * it on every change of state, status or error.
 *
 * ```tsx
 * const counter = useActor<CounterActor>('counter', 'default');
 * <button onClick={() => counter.call('increment')}>{counter.state?.count}</button>
 * ```
 */
export function useActor<A = AnyActor>(type: string, key: string, options: UseActorOptions<A> = {}): UseActorResult<A> {
  const fromContext = useContext(ClientContext);
  const client = (options.client ?? fromContext) as Client<any> | null;
  if (!client) {
    throw new Error('useActor needs a client: wrap your app in <ActorlogProvider client={createClient(url)}> or pass {client}');
  }
  const enabled = options.enabled ?? true;
  const params = options.params;
  const paramsKey = params ? JSON.stringify(Object.keys(params).sort().map((k) => [k, params[k]])) : '';
  const since = options.since;
  const wantState = options.state;
  const connect = options.connect;
  // The reducer may be a new function on every render: use the latest.
  const reduceRef = useRef(options.reduce);
  reduceRef.current = options.reduce;
  const hasReduce = options.reduce !== undefined;

  const [handle, setHandle] = useState<ActorHandle<A> | null>(null);
  useEffect(() => {
    if (!enabled) return;
    const h = client.actor(type, key, {
      params: paramsKey ? (JSON.parse(paramsKey) as [string, string][]).reduce<Record<string, string>>((m, [k, v]) => ((m[k] = v), m), {}) : undefined,
      since,
      state: wantState,
      connect,
      reduce: hasReduce ? (s: any, e: any) => (reduceRef.current ? reduceRef.current(s, e) : s) : undefined,
    }) as unknown as ActorHandle<A>;
    setHandle(h);
    return () => {
      h.close();
      setHandle((cur) => (cur === h ? null : cur));
    };
  }, [client, type, key, paramsKey, since, wantState, connect, hasReduce, enabled]);

  const subscribe = useCallback((onChange: () => void) => (handle ? handle.subscribe(onChange) : noop), [handle]);
  const getSnapshot = useCallback(
    () => (handle ? (handle.getSnapshot() as ActorSnapshot<A>) : enabled ? CONNECTING : DISABLED),
    [handle, enabled],
  );
  const snap = useSyncExternalStore(subscribe, getSnapshot, getSnapshot);

  const [callError, setCallError] = useState<ActorlogError | undefined>(undefined);
  useEffect(() => setCallError(undefined), [client, type, key]);
  const call = useCallback(
    (action: string, args?: unknown, callOptions?: unknown): Promise<any> => {
      const p = handle
        ? (handle.call as (a: string, x?: unknown, o?: unknown) => Promise<unknown>)(action, args, callOptions)
        : (client.call as (t: string, k: string, a: string, x?: unknown, o?: unknown) => Promise<unknown>)(type, key, action, args, callOptions);
      return p.then(
        (r) => {
          setCallError(undefined);
          return r;
        },
        (e: unknown) => {
          setCallError(e as ActorlogError);
          throw e;
        },
      );
    },
    [handle, client, type, key],
  ) as UseActorResult<A>['call'];

  return {
    state: snap.state as StateOf<A> | undefined,
    call,
    status: snap.status,
    error: snap.error ?? callError,
    seq: snap.seq,
    handle,
  };
}

/**
 * Hooks typed by a schema map, so that the actor type name picks the
 * types: `const { useActor } = createActorHooks<SeedSchema>();
 * useActor('counter', 'default').state?.count`.
 */
export function createActorHooks<S extends object = AnySchema>() {
  return {
    useActor: useActor as <T extends keyof S & string>(type: T, key: string, options?: UseActorOptions<S[T]>) => UseActorResult<S[T]>,
  };
}
