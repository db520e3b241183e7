import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  formatBytes,
  formatDuration,
  formatTargets,
  fraction,
  runElapsed,
  runLabel
} from '../src/format';
import { meshUpLine, meshUpSource } from '../src/meshup';
import { run } from './helpers';

describe('format', () => {
  it('formats bytes in binary units', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(1536), '1.50 KiB');
    assert.equal(formatBytes(5 * 1024 ** 3), '5.00 GiB');
    assert.equal(formatBytes(300 * 1024 ** 2), '300 MiB');
    assert.equal(formatBytes(null), '–');
  });

  it('formats durations', () => {
    assert.equal(formatDuration(3.24), '3.2s');
    assert.equal(formatDuration(42), '42s');
    assert.equal(formatDuration(65), '1m 05s');
    assert.equal(formatDuration(7260), '2h 01m');
    assert.equal(formatDuration(null), '–');
  });

  it('computes fractions only when the total is known', () => {
    assert.equal(fraction(50, 200), 0.25);
    assert.equal(fraction(500, 200), 1);
    assert.equal(fraction(50, 0), null);
    assert.equal(fraction(50, null), null);
  });

  it('labels runs by name, else their first line of code', () => {
    assert.equal(runLabel(run('r1', 'running', { name: 'etl' })), 'etl');
    assert.equal(runLabel(run('r1', 'running', { source: '%%mesh --on all\n\nimport time' })), 'import time');
    assert.equal(runLabel(run('r1', 'running', { source: '%%mesh\n' })), 'r1');
  });

  it('reads targets as a list or as the JSON text of the history', () => {
    assert.equal(formatTargets(['tcp://a', 'tcp://b']), 'tcp://a, tcp://b');
    assert.equal(formatTargets('["tcp://a"]'), 'tcp://a');
    assert.equal(formatTargets('[]'), 'any worker');
  });

  it('measures elapsed time from start to end (or now)', () => {
    const r = run('r1', 'finished', { started: 100, finished: 103.5 });
    assert.equal(runElapsed(r), 3.5);
    assert.equal(runElapsed(run('r2', 'running', { started: 100 }), 110_000), 10);
  });
});

describe('%mesh up cell', () => {
  it('builds the line from the settings', () => {
    assert.equal(meshUpLine(), '%mesh up');
    assert.equal(
      meshUpLine({ workers: 2, threads: 1, memoryLimit: '2GiB', kind: 'cpu' }),
      '%mesh up --workers 2 --threads 1 --memory-limit 2GiB --cpu'
    );
    assert.equal(meshUpLine({ kind: 'auto', workers: null }), '%mesh up');
  });

  it('never lets a setting inject code into the cell', () => {
    assert.equal(meshUpLine({ memoryLimit: '1GB\nimport os' }), '%mesh up');
  });

  it('loads the extension first, visibly', () => {
    assert.equal(meshUpSource({ workers: 1 }), '%load_ext mesh_magics\n%mesh up --workers 1');
  });
});
