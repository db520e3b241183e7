/**
 * A run's detail: its status, timings, source, error and log tails.
 */
import type { MeshModel } from '../model';
import {
  formatBytes,
  formatDuration,
  formatTargets,
  formatTime,
  runElapsed,
  runLabel
} from '../format';
import { h, pill } from './dom';
import { badges } from './runs';
import { renderItems } from './items';

export function renderDetail(model: MeshModel): HTMLElement | null {
  const runId = model.selectedRunId;
  if (!runId) {
    return null;
  }
  const run = model.detail;
  const close = h(
    'button',
    { class: 'jp-Button jp-mod-minimal jp-MeshPanel-close', title: 'Close', on: { click: () => void model.selectRun(null) } },
    '×'
  );
  if (!run) {
    return h('div', { class: 'jp-MeshPanel-detail', data: { runId } }, close, h('p', { class: 'jp-MeshPanel-empty' }, `Loading run ${runId}…`));
  }
  const facts: Array<[string, string]> = [
    ['run', run.id],
    ['mesh', run.mesh],
    ['on', formatTargets(run.targets)],
    ['submitted', formatTime(run.submitted)],
    ['started', formatTime(run.started)],
    ['finished', formatTime(run.finished)],
    ['took', formatDuration(runElapsed(run))]
  ];
  const cachedFrom = typeof run.cached_from === 'string' && run.cached_from ? run.cached_from : null;
  return h(
    'div',
    { class: 'jp-MeshPanel-detail', data: { runId: run.id, status: String(run.status) } },
    h('div', { class: 'jp-MeshPanel-runHead' }, pill(run.status), h('strong', { class: 'jp-MeshPanel-runLabel' }, runLabel(run)), ...badges(run), close),
    h(
      'dl',
      { class: 'jp-MeshPanel-facts' },
      ...facts.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v)]),
      ...(cachedFrom
        ? [
            h('dt', null, 'cached from'),
            h(
              'dd',
              null,
              h(
                'a',
                {
                  class: 'jp-MeshPanel-cachedFrom',
                  href: '#',
                  title: 'Show the run whose result this one replays',
                  data: { runId: cachedFrom },
                  on: {
                    click: (event: Event) => {
                      event.preventDefault();
                      void model.selectRun(cachedFrom);
                    }
                  }
                },
                cachedFrom
              )
            )
          ]
        : [])
    ),
    renderItems(run.summary),
    section('Source', run.source, 'source'),
    run.error ? section('Error', run.error, 'error') : null,
    section('stdout (tail)', run.stdout_tail, 'stdout'),
    section('stderr (tail)', run.stderr_tail, 'stderr'),
    renderSummary(run.summary)
  );
}

/** Which log sections the user opened or closed, kept across re-renders. */
const openSections = new Map<string, boolean>();

function renderSummary(summary: unknown): HTMLElement | null {
  if (!summary) {
    return null;
  }
  if (typeof summary !== 'object') {
    return section('Summary', String(summary), 'summary');
  }
  const rows = Object.entries(summary as Record<string, unknown>).filter(
    ([key, value]) => value !== null && value !== undefined && key !== 'items' // a batch's items have their own table
  );
  return collapsible(
    'Summary',
    'summary',
    true,
    h('dl', { class: 'jp-MeshPanel-facts' }, ...rows.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, summaryValue(k, v))]))
  );
}

function summaryValue(key: string, value: unknown): string {
  if (typeof value === 'number') {
    if (/memory|bytes|spilled|transferred/.test(key)) {
      return formatBytes(value);
    }
    if (/duration|seconds/.test(key)) {
      return formatDuration(value);
    }
    return String(value);
  }
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

function section(title: string, text: string | null | undefined, kind: string): HTMLElement {
  return collapsible(title, kind, kind !== 'source' && !!text, h('pre', null, text ? text : '(empty)'));
}

function collapsible(title: string, kind: string, openByDefault: boolean, body: HTMLElement): HTMLElement {
  const details = h(
    'details',
    { class: `jp-MeshPanel-log jp-mod-${kind}`, open: openSections.get(kind) ?? openByDefault },
    h('summary', null, title),
    body
  );
  details.addEventListener('toggle', () => openSections.set(kind, details.open));
  return details;
}
