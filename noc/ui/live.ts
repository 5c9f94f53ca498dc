// Live updates from GET /api/live (server-sent events). One EventSource for the whole page;
// views subscribe to the event types they show. The browser reconnects by itself, sending the
// last event id: the server then sends the ticket changes missed meanwhile (from any NOC node,
// noc/live.ts). Device, health and command events are not replayed, so after a reconnect views
// are told to refetch.
import type { LiveEvent } from '../api.js';

export type LiveState = 'connecting' | 'connected' | 'lost';
type Handler = (e: LiveEvent) => void;

const TYPES: ReadonlyArray<LiveEvent['type']> = ['device', 'health', 'ticket', 'command'];
let source: EventSource | null = null;
let state: LiveState = 'connecting';
let everConnected = false;
const handlers = new Set<Handler>();
const resyncs = new Set<() => void>();
const stateListeners = new Set<(s: LiveState) => void>();

function setState(s: LiveState): void {
  state = s;
  for (const f of stateListeners) f(s);
}

export function startLive(): void {
  if (source) return;
  setState('connecting');
  source = new EventSource('/api/live');
  source.onopen = () => {
    const reconnected = everConnected;
    everConnected = true;
    setState('connected');
    if (reconnected) for (const f of resyncs) f();
  };
  source.onerror = () => setState(source?.readyState === EventSource.CLOSED ? 'lost' : 'connecting');
  for (const type of TYPES) {
    source.addEventListener(type, (ev) => {
      let event: LiveEvent;
      try {
        event = JSON.parse((ev as MessageEvent<string>).data) as LiveEvent;
      } catch {
        return;
      }
      for (const h of handlers) h(event);
    });
  }
}

export function stopLive(): void {
  source?.close();
  source = null;
  everConnected = false;
}

export function liveState(): LiveState {
  return state;
}

/** Subscribes to live events; returns the unsubscribe function. `resync` runs after a reconnect. */
export function onLive(handler: Handler, resync?: () => void): () => void {
  handlers.add(handler);
  if (resync) resyncs.add(resync);
  return () => {
    handlers.delete(handler);
    if (resync) resyncs.delete(resync);
  };
}

export function onLiveState(f: (s: LiveState) => void): () => void {
  stateListeners.add(f);
  return () => stateListeners.delete(f);
}
