import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { EventStatus, EventStream, ISocket, parseEvent } from '../src/events';
import { MeshEvent } from '../src/types';
import { ManualTimers } from './helpers';

class FakeSocket implements ISocket {
  onopen: ISocket['onopen'] = null;
  onmessage: ISocket['onmessage'] = null;
  onclose: ISocket['onclose'] = null;
  onerror: ISocket['onerror'] = null;
  closed = false;
  constructor(readonly url: string) {}
  close(): void {
    this.closed = true;
  }
}

function setup() {
  const sockets: FakeSocket[] = [];
  const events: MeshEvent[] = [];
  const statuses: EventStatus[] = [];
  const timers = new ManualTimers();
  const delays: number[] = [];
  const stream = new EventStream({
    url: () => 'ws://host/mesh/api/events',
    onEvent: e => events.push(e),
    onStatus: s => statuses.push(s),
    createSocket: url => {
      const socket = new FakeSocket(url);
      sockets.push(socket);
      return socket;
    },
    initialDelay: 100,
    maxDelay: 1000,
    failuresBeforeFallback: 3,
    setTimer: (fn, ms) => {
      delays.push(ms);
      return timers.setTimeout(fn);
    },
    clearTimer: handle => timers.clearTimeout(handle)
  });
  return { stream, sockets, events, statuses, timers, delays };
}

describe('EventStream', () => {
  it('delivers parsed events and reports live', () => {
    const { stream, sockets, events, statuses } = setup();
    stream.start();
    stream.start();
    assert.equal(sockets.length, 1, 'start is idempotent');
    sockets[0].onopen!({});
    sockets[0].onmessage!({ data: JSON.stringify({ type: 'runs', changed: ['r1'] }) });
    sockets[0].onmessage!({ data: 'not json' });
    assert.deepEqual(events, [{ type: 'runs', changed: ['r1'] }]);
    assert.deepEqual(statuses, ['live']);
  });

  it('reconnects with exponential backoff and falls back after repeated failures', () => {
    const { stream, sockets, statuses, timers, delays } = setup();
    stream.start();
    for (let i = 0; i < 5; i++) {
      sockets[sockets.length - 1].onclose!({});
      timers.runTimeouts();
    }
    assert.deepEqual(delays, [100, 200, 400, 800, 1000], 'doubling, capped');
    assert.equal(sockets.length, 6);
    assert.equal(stream.status, 'fallback');
    sockets[5].onopen!({});
    assert.equal(stream.status, 'live');
    assert.deepEqual(statuses, ['fallback', 'live']);
  });

  it('does not open a second socket when started again while waiting to reconnect', () => {
    const { stream, sockets, timers } = setup();
    stream.start();
    sockets[0].onclose!({});
    stream.start();
    timers.runTimeouts();
    assert.equal(sockets.length, 2);
  });

  it('stops reconnecting once disposed', () => {
    const { stream, sockets, timers } = setup();
    stream.start();
    sockets[0].onclose!({});
    stream.dispose();
    timers.runTimeouts();
    assert.equal(sockets.length, 1);
    assert.equal(stream.status, 'closed');
  });

  it('closes its socket on dispose', () => {
    const { stream, sockets } = setup();
    stream.start();
    stream.dispose();
    assert.equal(sockets[0].closed, true);
  });
});

describe('parseEvent', () => {
  it('accepts the two message types and nothing else', () => {
    assert.deepEqual(parseEvent('{"type":"meshes","meshes":[]}'), { type: 'meshes', meshes: [] });
    assert.equal(parseEvent('{"type":"meshes"}'), null);
    assert.equal(parseEvent('{"type":"other","changed":[]}'), null);
    assert.equal(parseEvent('[]'), null);
    assert.equal(parseEvent(42), null);
  });
});
