import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { MeshModel, toMillis } from '../src/model';
import { MeshApiError } from '../src/types';
import { FakeClient, ManualTimers, mesh, run, settle } from './helpers';

function setup(settings = {}) {
  const client = new FakeClient();
  const timers = new ManualTimers();
  const model = new MeshModel({ client, timers, settings });
  let changes = 0;
  model.onChange(() => changes++);
  return { client, timers, model, changes: () => changes };
}

describe('MeshModel.start', () => {
  it('loads meshes, selects the connected one and loads its workers', async () => {
    const { client, model } = setup();
    client.runRows = [run('r1', 'finished'), run('r2', 'running'), run('r3', 'queued')];
    await model.start();
    await settle();
    assert.equal(model.compat.state, 'ok');
    assert.deepEqual(model.meshes.map(m => m.id), ['m1', 'm2']);
    assert.equal(model.selectedMesh?.id, 'm1');
    assert.equal(model.workers?.length, 1);
    assert.equal(client.count('nodes:m1'), 1);
    assert.deepEqual(model.active.map(r => r.id), ['r2', 'r3'], 'in flight, oldest first');
    assert.deepEqual(model.history.map(r => r.id), ['r3', 'r2', 'r1'], 'history, newest first');
    assert.equal(model.historyTotal, 3);
  });

  it('refuses an API version it does not speak, and loads nothing', async () => {
    const { client, model } = setup();
    client.versionInfo = { version: '9.0.0', api: 2 };
    await model.start();
    assert.equal(model.compat.state, 'error');
    assert.match(model.compat.message, /API v2/);
    assert.match(model.compat.message, /restart JupyterLab/);
    assert.equal(client.count('meshes'), 0);
  });

  it('warns when only the package versions differ', async () => {
    const { client, model } = setup();
    client.versionInfo = { version: '0.0.9', api: 1 };
    await model.start();
    assert.equal(model.compat.state, 'warning');
    assert.match(model.compat.message, /0\.0\.9/);
    assert.equal(client.count('meshes'), 1);
  });

  it('explains a missing server extension (404 on the handshake)', async () => {
    const { client, model } = setup();
    client.failures.set('version', new MeshApiError(404, 'Not Found'));
    await model.start();
    assert.equal(model.compat.state, 'error');
    assert.match(model.compat.message, /jupyter server extension list/);
  });

  it('turns a 409 into the version banner when the handshake fails too', async () => {
    const { client, model } = setup();
    await model.start();
    client.failures.set('meshes', new MeshApiError(409, 'frontend 0.0.1 is not supported'));
    client.failures.set('version', new MeshApiError(409, 'frontend 0.0.1 is not supported'));
    await model.refreshMeshes();
    await settle();
    assert.equal(model.compat.state, 'error');
    assert.match(model.compat.message, /frontend 0\.0\.1 is not supported/);
  });

  it('keeps other 409s (a mesh gone meanwhile) as a notice', async () => {
    const { client, model } = setup();
    await model.start();
    client.failures.set('meshes', new MeshApiError(409, 'mesh m1 is gone'));
    await model.refreshMeshes();
    await settle();
    assert.equal(model.compat.state, 'ok');
    assert.equal(model.notice?.text, 'mesh m1 is gone (409)');
  });

  it('redoes the handshake on reload after it failed', async () => {
    const { client, model } = setup();
    client.failures.set('version', new MeshApiError(404, 'Not Found'));
    await model.start();
    assert.equal(model.compat.state, 'error');
    await model.reload();
    assert.equal(model.compat.state, 'ok');
    assert.equal(client.count('meshes'), 1);
  });

  it('shows other errors as a dismissable notice', async () => {
    const { client, model } = setup();
    await model.start();
    client.failures.set('meshes', new MeshApiError(500, 'registry unreadable'));
    await model.refreshMeshes();
    assert.deepEqual(model.notice, { kind: 'error', text: 'registry unreadable (500)' });
    model.dismissNotice();
    assert.equal(model.notice, null);
  });
});

describe('MeshModel events', () => {
  it('never asks a gone or unreachable mesh for its workers', async () => {
    const { client, model } = setup();
    client.meshList = [mesh('m2', { state: 'gone', stale: true }), mesh('m3', { state: 'unreachable' })];
    await model.start();
    await settle();
    assert.equal(model.selectedMesh?.id, 'm2');
    await model.selectMesh('m3');
    assert.equal(client.count('nodes:'), 0);
    model.handleEvent({ type: 'meshes', meshes: [mesh('m2', { state: 'gone', stale: true }), mesh('m3')] });
    await settle();
    assert.equal(client.count('nodes:m3'), 1, 'asked once it is connected again');
  });

  it('follows the first live mesh until the user picks one', async () => {
    const { model } = setup();
    await model.start();
    await settle();
    model.handleEvent({ type: 'meshes', meshes: [mesh('m1', { state: 'gone', stale: true }), mesh('m4')] });
    await settle();
    assert.equal(model.selectedMesh?.id, 'm4');
    await model.selectMesh('m1');
    model.handleEvent({ type: 'meshes', meshes: [mesh('m1', { state: 'gone', stale: true }), mesh('m4'), mesh('m5')] });
    await settle();
    assert.equal(model.selectedMesh?.id, 'm1', "the user's choice stays");
  });

  it('replaces meshes and reselects when the selected one disappears', async () => {
    const { client, model } = setup();
    await model.start();
    await settle();
    model.handleEvent({ type: 'meshes', meshes: [mesh('m3')] });
    await settle();
    assert.equal(model.selectedMesh?.id, 'm3');
    assert.equal(client.count('nodes:m3'), 1);
  });

  it('merges changed run rows at once and reloads once per burst', async () => {
    const { client, timers, model } = setup();
    await model.start();
    const before = client.count('runs:');
    const running = run('r1', 'running');
    client.runRows = [running];
    model.handleEvent({ type: 'runs', changed: [running] });
    assert.deepEqual(model.active.map(r => r.id), ['r1'], 'shown before any reload');
    model.handleEvent({ type: 'runs', changed: ['r1'] });
    assert.equal(timers.timeouts.size, 1, 'one debounced reload for the burst');
    assert.equal(client.count('runs:'), before, 'nothing fetched yet');

    const cancelled = { ...running, status: 'cancelled', finished: 1_700_000_100 };
    client.runRows = [cancelled];
    model.handleEvent({ type: 'runs', changed: [cancelled] });
    assert.deepEqual(model.active, [], 'an ended run leaves the in-flight list at once');
    timers.runTimeouts();
    await settle();
    assert.equal(client.count('runs:'), before + 2, 'runs in flight + history page');
    assert.equal(model.history[0].status, 'cancelled');
  });

  it('reloads the open run detail after its row changed', async () => {
    const { client, timers, model } = setup();
    client.runRows = [run('r1', 'running')];
    await model.start();
    await model.selectRun('r1');
    assert.equal(model.detail?.stdout_tail, 'out');
    client.runRows = [run('r1', 'finished')];
    model.handleEvent({ type: 'runs', changed: [run('r1', 'finished')] });
    assert.equal(model.detail?.status, 'finished', 'merged at once');
    timers.runTimeouts();
    await settle();
    assert.equal(client.count('run:r1'), 2);
  });
});

describe('MeshModel.cancel', () => {
  it('asks the server and shows the run as cancelling until it ends', async () => {
    const { client, model } = setup();
    client.runRows = [run('r1', 'running')];
    await model.start();
    const pending = model.cancel('r1');
    assert.equal(model.isCancelling('r1'), true);
    await pending;
    assert.equal(client.count('cancel:r1'), 1);
    await model.cancel('r1');
    assert.equal(client.count('cancel:r1'), 1, 'a second click is ignored while cancelling');
    model.handleEvent({ type: 'runs', changed: [run('r1', 'cancelled')] });
    assert.equal(model.isCancelling('r1'), false);
  });

  it('says so when the run has already ended (409)', async () => {
    const { client, model } = setup();
    client.runRows = [run('r1', 'finished')];
    await model.start();
    await model.cancel('r1');
    assert.equal(model.notice?.kind, 'info');
    assert.match(model.notice!.text, /already ended/);
    assert.equal(model.isCancelling('r1'), false);
    assert.equal(model.compat.state, 'ok', 'a 409 from cancel is not a version clash');
  });

  it('reports an unknown run (404)', async () => {
    const { model } = setup();
    await model.start();
    await model.cancel('nope');
    assert.equal(model.notice?.kind, 'error');
    assert.match(model.notice!.text, /no run nope \(404\)/);
  });
});

describe('MeshModel history', () => {
  it('passes filters to the server and starts again at the first page', async () => {
    const { client, model } = setup({ historyPageSize: 2 });
    client.runRows = ['r1', 'r2', 'r3', 'r4', 'r5'].map(id => run(id, id === 'r5' ? 'failed' : 'finished'));
    await model.start();
    await model.page(1);
    assert.equal(model.historyOffset, 2);
    await model.setFilters({ status: 'failed', q: 'r5' });
    assert.equal(model.historyOffset, 0);
    const last = client.calls.filter(c => c.startsWith('runs:')).pop()!;
    assert.deepEqual(JSON.parse(last.slice(5)), {
      status: 'failed',
      mesh: '',
      q: 'r5',
      user: '',
      offset: 0,
      limit: 2
    });
    assert.deepEqual(model.history.map(r => r.id), ['r5']);
  });

  it('filters by user and offers the users the server knows', async () => {
    const { client, model } = setup();
    client.runRows = ['r1', 'r2', 'r3'].map((id, i) => ({ ...run(id, 'finished'), user: i === 1 ? 'bob' : 'ann' }));
    await model.start();
    assert.deepEqual([...model.users], ['ann', 'bob']);
    await model.setFilters({ user: 'bob' });
    assert.equal(model.filters.user, 'bob');
    assert.deepEqual(model.history.map(r => r.id), ['r2']);
    const last = client.calls.filter(c => c.startsWith('runs:')).pop()!;
    assert.equal(JSON.parse(last.slice(5)).user, 'bob');
    await model.setFilters({ user: '' });
    assert.deepEqual(model.history.map(r => r.id).sort(), ['r1', 'r2', 'r3']);
  });

  it('clamps paging to the rows there are', async () => {
    const { client, model } = setup({ historyPageSize: 2 });
    client.runRows = ['r1', 'r2', 'r3'].map(id => run(id, 'finished'));
    await model.start();
    await model.page(-1);
    assert.equal(model.historyOffset, 0);
    await model.page(5);
    assert.equal(model.historyOffset, 2);
    assert.deepEqual(model.history.map(r => r.id), ['r1']);
  });

  it('lets the newest filter win over a slower older reload', async () => {
    const { client, model } = setup();
    client.runRows = [run('r1', 'finished'), run('r2', 'failed')];
    await model.start();
    const first = model.setFilters({ status: 'finished' });
    const second = model.setFilters({ status: 'failed' });
    await Promise.all([first, second]);
    assert.deepEqual(model.history.map(r => r.status), ['failed']);
  });
});

describe('MeshModel timers', () => {
  it('refreshes slowly only while the event socket is down', async () => {
    const { client, timers, model } = setup({ refreshInterval: 30 });
    await model.start();
    assert.equal(timers.intervals.size, 0, 'no polling while the socket is connecting or live');
    model.setConnection('live');
    model.setConnection('fallback');
    assert.deepEqual([...timers.intervals.values()].map(i => i.ms), [30_000]);
    const before = client.count('meshes');
    timers.tick();
    await settle();
    assert.equal(client.count('meshes'), before + 1);
    model.setConnection('live');
    await settle();
    assert.equal(timers.intervals.size, 0, 'polling stops when the socket is back');
    assert.equal(client.count('meshes'), before + 2, 'and one reload catches up');
  });

  it('refreshes the node map only while the panel is visible', async () => {
    const { client, timers, model } = setup({ nodeRefreshInterval: 5 });
    await model.start();
    await settle();
    assert.equal(timers.intervals.size, 0);
    const before = client.count('nodes:');
    model.setVisible(true);
    assert.deepEqual([...timers.intervals.values()].map(i => i.ms), [5000]);
    timers.tick();
    await settle();
    assert.equal(client.count('nodes:'), before + 2, 'one on show, one on the tick');
    model.setVisible(false);
    assert.equal(timers.intervals.size, 0);
    model.configure({ nodeRefreshInterval: 0 });
    model.setVisible(true);
    assert.equal(timers.intervals.size, 0, '0 turns the node refresh off');
  });

  it('stops every timer on dispose', async () => {
    const { timers, model } = setup();
    await model.start();
    model.setVisible(true);
    model.setConnection('fallback');
    model.handleEvent({ type: 'runs', changed: ['x'] });
    model.dispose();
    assert.equal(timers.intervals.size, 0);
    assert.equal(timers.timeouts.size, 0);
    assert.equal(model.isDisposed, true);
  });
});

describe('toMillis', () => {
  it('reads epoch seconds, numeric strings and ISO strings', () => {
    assert.equal(toMillis(1.5), 1500);
    assert.equal(toMillis('2'), 2000);
    assert.equal(toMillis('2026-01-01T00:00:00Z'), Date.UTC(2026, 0, 1));
    assert.equal(toMillis(null), null);
    assert.equal(toMillis('not a date'), null);
  });
});
