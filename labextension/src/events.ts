/**
 * The `events` websocket: the server pushes mesh and run changes, so the
 * panel does not poll.
 *
 * Reconnects with bounded exponential backoff. After `failuresBeforeFallback`
 * attempts in a row without a message, `status` turns to `'fallback'`: the
 * model then refreshes slowly on a timer until the socket is back.
 *
 * Plain TypeScript with an injectable socket factory, so it is unit-tested
 * without a server.
 */
import { MeshEvent } from './types';

export type EventStatus = 'connecting' | 'live' | 'fallback' | 'closed';

/** The part of the DOM `WebSocket` this module uses. */
export interface ISocket {
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: unknown) => void) | null;
  onerror: ((event: unknown) => void) | null;
  close(): void;
}

export interface IEventStreamOptions {
  url: string | (() => string);
  onEvent: (event: MeshEvent) => void;
  onStatus?: (status: EventStatus) => void;
  /** Defaults to the global `WebSocket`. */
  createSocket?: (url: string) => ISocket;
  /** First reconnect delay in ms (doubles up to `maxDelay`). */
  initialDelay?: number;
  maxDelay?: number;
  failuresBeforeFallback?: number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

export class EventStream {
  constructor(private readonly _options: IEventStreamOptions) {}

  get status(): EventStatus {
    return this._status;
  }

  /** Open the socket (idempotent). */
  start(): void {
    if (this._disposed || this._started) {
      return;
    }
    this._started = true;
    this._connect();
  }

  /** Close the socket for good. */
  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    if (this._timer !== null) {
      (this._options.clearTimer ?? clearTimeout)(this._timer as number);
      this._timer = null;
    }
    const socket = this._socket;
    this._socket = null;
    if (socket) {
      socket.onclose = null;
      socket.close();
    }
    this._setStatus('closed');
  }

  private _connect(): void {
    const { url, createSocket } = this._options;
    const target = typeof url === 'function' ? url() : url;
    let socket: ISocket;
    try {
      socket = createSocket
        ? createSocket(target)
        : (new WebSocket(target) as unknown as ISocket);
    } catch {
      this._scheduleReconnect();
      return;
    }
    this._socket = socket;
    socket.onmessage = message => {
      this._failures = 0;
      this._setStatus('live');
      const event = parseEvent(message.data);
      if (event) {
        this._options.onEvent(event);
      }
    };
    socket.onopen = () => {
      this._failures = 0;
      this._setStatus('live');
    };
    socket.onerror = () => {
      // `onclose` follows and reconnects.
    };
    socket.onclose = () => {
      this._socket = null;
      if (!this._disposed) {
        this._scheduleReconnect();
      }
    };
  }

  private _scheduleReconnect(): void {
    this._failures += 1;
    const limit = this._options.failuresBeforeFallback ?? 3;
    this._setStatus(this._failures >= limit ? 'fallback' : 'connecting');
    const initial = this._options.initialDelay ?? 1000;
    const max = this._options.maxDelay ?? 60000;
    const delay = Math.min(max, initial * 2 ** Math.min(this._failures - 1, 16));
    this._timer = (this._options.setTimer ?? setTimeout)(() => {
      this._timer = null;
      if (!this._disposed) {
        this._connect();
      }
    }, delay);
  }

  private _setStatus(status: EventStatus): void {
    if (status !== this._status) {
      this._status = status;
      this._options.onStatus?.(status);
    }
  }

  private _socket: ISocket | null = null;
  private _status: EventStatus = 'connecting';
  private _failures = 0;
  private _timer: unknown = null;
  private _disposed = false;
  private _started = false;
}

/** A `MeshEvent` from a socket message, or null for anything else. */
export function parseEvent(data: unknown): MeshEvent | null {
  if (typeof data !== 'string') {
    return null;
  }
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  if (!value || typeof value !== 'object') {
    return null;
  }
  const event = value as { type?: unknown; meshes?: unknown; changed?: unknown };
  if (event.type === 'meshes' && Array.isArray(event.meshes)) {
    return { type: 'meshes', meshes: event.meshes };
  }
  if (event.type === 'runs' && Array.isArray(event.changed)) {
    return { type: 'runs', changed: event.changed };
  }
  return null;
}
