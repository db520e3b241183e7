/**
 * A batch run's items in its detail: one row per item (status, attempts, worker,
 * time, error), failed items first so the ones to look at are on top.
 */
import { batchItems, formatDuration, type IBatchItem } from '../format';
import { firstLine } from './runs';
import { h, pill } from './dom';

/** Rows shown at most; the rest are counted (`mesh.history.items(run_id)` in the kernel lists all). */
export const MAX_ITEM_ROWS = 200;

const ORDER: Record<string, number> = { failed: 0, lost: 1, cancelled: 2, running: 3, queued: 4, finished: 5 };

/** Failed, lost and cancelled items first, then in item order. */
export function itemsInOrder(items: readonly IBatchItem[]): IBatchItem[] {
  return [...items].sort((a, b) => (ORDER[a.status] ?? 3) - (ORDER[b.status] ?? 3) || a.index - b.index);
}

export function renderItems(summary: unknown): HTMLElement | null {
  const items = batchItems(summary);
  if (!items.length) {
    return null;
  }
  const shown = itemsInOrder(items).slice(0, MAX_ITEM_ROWS);
  const rest = items.length - shown.length;
  return h(
    'details',
    { class: 'jp-MeshPanel-log jp-mod-items', open: true },
    h('summary', null, `Items (${items.length})`),
    h(
      'table',
      { class: 'jp-MeshPanel-items' },
      h('thead', null, h('tr', null, ...['item', 'status', 'tries', 'worker', 'took', 'error'].map(c => h('th', null, c)))),
      h(
        'tbody',
        null,
        ...shown.map(it =>
          h(
            'tr',
            { data: { item: String(it.index), status: it.status } },
            h('td', null, String(it.index)),
            h('td', null, pill(it.status)),
            h('td', null, it.attempts === null ? '–' : String(it.attempts)),
            h('td', { title: it.worker ?? '' }, it.worker ?? '–'),
            h('td', null, formatDuration(it.duration)),
            h('td', { class: 'jp-MeshPanel-itemError', title: it.error ?? '' }, it.error ? firstLine(it.error) : '')
          )
        )
      )
    ),
    rest > 0 ? h('p', { class: 'jp-MeshPanel-empty' }, `… ${rest} more item${rest === 1 ? '' : 's'}`) : null
  );
}
