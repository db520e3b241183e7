import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { batchCounts, batchItems, runBadges } from '../src/format';
import { itemsInOrder } from '../src/widgets/items';
import { run } from './helpers';

describe('run badges', () => {
  it('marks a batch with its finished items of all, counting every status in the title', () => {
    const batch = run('b1', 'failed', {
      summary: { batch: { items: 10, queued: 0, running: 0, finished: 7, failed: 2, cancelled: 1, lost: 0 } }
    });
    const [badge, ...rest] = runBadges(batch);
    assert.deepEqual(rest, []);
    assert.equal(badge.kind, 'batch');
    assert.equal(badge.text, 'batch 7/10');
    assert.equal(badge.title, 'Batch of 10 items: 7 finished, 2 failed, 1 cancelled');
    assert.deepEqual(batchCounts(batch), { items: 10, queued: 0, running: 0, finished: 7, failed: 2, cancelled: 1, lost: 0 });
  });

  it('marks a batch that has only started (no counts yet) as 0 of its items', () => {
    const [badge] = runBadges(run('b2', 'running', { summary: { batch: { items: 1 } } }));
    assert.equal(badge.text, 'batch 0/1');
    assert.equal(badge.title, 'Batch of 1 item');
  });

  it('marks a result-cache hit with the run it replays', () => {
    const badges = runBadges(run('c2', 'finished', { cached_from: 'c1', summary: { cache: { from: 'c1' } } }));
    assert.deepEqual(
      badges.map(b => b.kind),
      ['cached']
    );
    assert.match(badges[0].title, /replays run c1/);
  });

  it('gives a plain run, or one with odd summaries, no badge', () => {
    assert.deepEqual(runBadges(run('r1', 'finished')), []);
    assert.deepEqual(runBadges(run('r2', 'finished', { summary: 'text', cached_from: '' })), []);
    assert.deepEqual(runBadges(run('r3', 'finished', { summary: { batch: { finished: 3 } } })), []);
    assert.deepEqual(runBadges(run('r4', 'finished', { summary: { batch: 'x' } })), []);
  });
});

describe('batch items', () => {
  const summary = {
    batch: { items: 4 },
    items: [
      { index: 2, status: 'failed', attempts: 2, worker: 'w-0', error: 'ValueError: 2', duration: 0.5 },
      { index: 0, status: 'finished', attempts: 1, worker: 'w-1', error: null, duration: 0.1 },
      { index: 3, status: 'cancelled', attempts: 0, worker: null, error: null, duration: null },
      { index: 1, status: 'finished', attempts: 1, worker: 'w-0', error: null, duration: 0.2 },
      { status: 'finished' },
      'junk'
    ]
  };

  it('reads the items of a detail in item order, skipping malformed rows', () => {
    const items = batchItems(summary);
    assert.deepEqual(
      items.map(i => i.index),
      [0, 1, 2, 3]
    );
    assert.deepEqual(items[2], { index: 2, status: 'failed', attempts: 2, worker: 'w-0', duration: 0.5, error: 'ValueError: 2' });
    assert.equal(items[3].worker, null);
    assert.deepEqual(batchItems({ batch: { items: 4 } }), []);
    assert.deepEqual(batchItems(null), []);
  });

  it('lists failed and cancelled items before finished ones', () => {
    assert.deepEqual(
      itemsInOrder(batchItems(summary)).map(i => `${i.index}:${i.status}`),
      ['2:failed', '3:cancelled', '0:finished', '1:finished']
    );
  });
});
