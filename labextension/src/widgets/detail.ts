/**
 * A run's detail: its status, timings, source, error and log tails.
 */
import type { MeshModel } from '../model';
import { formatDuration, formatTargets, formatTime, runElapsed, runLabel } from '../format';
import { h, pill } from './dom';

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
  const summary =
    run.summary && typeof run.summary === 'object' ? JSON.stringify(run.summary, null, 1) : run.summary;
  const facts: Array<[string, string]> = [
    ['run', run.id],
    ['mesh', run.mesh],
    ['on', formatTargets(run.targets)],
    ['submitted', formatTime(run.submitted)],
    ['started', formatTime(run.started)],
    ['finished', formatTime(run.finished)],
    ['took', formatDuration(runElapsed(run))]
  ];
  return h(
    'div',
    { class: 'jp-MeshPanel-detail', data: { runId: run.id, status: String(run.status) } },
    h('div', { class: 'jp-MeshPanel-runHead' }, pill(run.status), h('strong', { class: 'jp-MeshPanel-runLabel' }, runLabel(run)), close),
    h('dl', { class: 'jp-MeshPanel-facts' }, ...facts.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v)])),
    section('Source', run.source, 'source'),
    run.error ? section('Error', run.error, 'error') : null,
    section('stdout (tail)', run.stdout_tail, 'stdout'),
    section('stderr (tail)', run.stderr_tail, 'stderr'),
    summary ? section('Summary', String(summary), 'summary') : null
  );
}

function section(title: string, text: string | null | undefined, kind: string): HTMLElement {
  return h(
    'details',
    { class: `jp-MeshPanel-log jp-mod-${kind}`, open: kind !== 'source' && !!text },
    h('summary', null, title),
    h('pre', null, text ? text : '(empty)')
  );
}
