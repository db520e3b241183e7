/**
 * Runs: those in flight (with a Cancel button that goes through the server,
 * so it works while the kernel is busy in that very run) and the history
 * (search, status and mesh filters, pages).
 */
import type { MeshModel } from '../model';
import { RUN_STATUSES, type IRun } from '../types';
import { formatDuration, formatTargets, formatTime, runBadges, runElapsed, runLabel } from '../format';
import { bar, h, pill } from './dom';

export function renderActive(model: MeshModel, now: number): HTMLElement {
  const runs = model.active;
  if (!runs.length) {
    return h('p', { class: 'jp-MeshPanel-empty' }, 'No run in flight.');
  }
  return h(
    'ul',
    { class: 'jp-MeshPanel-runs jp-MeshPanel-active' },
    ...runs.map(run => {
      const cancelling = model.isCancelling(run.id);
      const progress = typeof run.progress === 'number' ? run.progress : null;
      return h(
        'li',
        rowAttrs(model, run),
        h(
          'div',
          { class: 'jp-MeshPanel-runHead' },
          pill(run.status),
          h('span', { class: 'jp-MeshPanel-runLabel' }, runLabel(run)),
          ...badges(run),
          h('span', { class: 'jp-MeshPanel-runTime' }, formatDuration(runElapsed(run, now))),
          h(
            'button',
            {
              class: 'jp-Button jp-mod-styled jp-mod-warn jp-MeshPanel-cancel',
              title: 'Cancel this run on the mesh (works while the kernel is busy)',
              disabled: cancelling,
              data: { runId: run.id },
              on: {
                click: (event: Event) => {
                  event.stopPropagation();
                  void model.cancel(run.id);
                }
              }
            },
            cancelling ? 'Cancelling…' : 'Cancel'
          )
        ),
        progress !== null
          ? bar(progress, 'progress', `${Math.round(progress * 100)}%`)
          : h('div', { class: 'jp-MeshPanel-bar jp-mod-indeterminate', title: 'in progress' }, h('span', { class: 'jp-MeshPanel-barFill jp-mod-progress' })),
        h('div', { class: 'jp-MeshPanel-runMeta' }, `${run.id} · on ${formatTargets(run.targets)}`)
      );
    })
  );
}

/** Whether `select` offers exactly `values`, in order (an empty select differs from `['']`). */
function sameValues(select: HTMLSelectElement, values: readonly string[]): boolean {
  const have = [...select.options].map(o => o.value);
  return have.length === values.length && have.every((v, i) => v === values[i]);
}

/** The persistent filter bar of the history (kept across re-renders for focus). */
export class HistoryFilters {
  readonly node: HTMLElement;

  constructor(private readonly _model: MeshModel) {
    this._search = h('input', {
      class: 'jp-MeshPanel-search jp-mod-styled',
      type: 'search',
      placeholder: 'Search name, code, error…',
      'aria-label': 'Search runs'
    });
    this._search.addEventListener('input', () => {
      window.clearTimeout(this._timer);
      this._timer = window.setTimeout(() => {
        void this._model.setFilters({ q: this._search.value.trim() });
      }, 300);
    });
    this._status = h(
      'select',
      { class: 'jp-MeshPanel-statusFilter jp-mod-styled', 'aria-label': 'Filter by status' },
      h('option', { value: '' }, 'all statuses'),
      ...RUN_STATUSES.map(s => h('option', { value: s }, s))
    );
    this._status.addEventListener('change', () => {
      void this._model.setFilters({ status: this._status.value });
    });
    this._mesh = h('select', { class: 'jp-MeshPanel-meshFilter jp-mod-styled', 'aria-label': 'Filter by mesh' });
    this._mesh.addEventListener('change', () => {
      void this._model.setFilters({ mesh: this._mesh.value });
    });
    this._user = h('select', { class: 'jp-MeshPanel-userFilter jp-mod-styled', 'aria-label': 'Filter by user' });
    this._user.addEventListener('change', () => {
      void this._model.setFilters({ user: this._user.value });
    });
    this.node = h(
      'div',
      { class: 'jp-MeshPanel-filters' },
      this._search,
      this._status,
      this._mesh,
      this._user
    );
  }

  /** Keep the mesh choices in step with the model. */
  update(): void {
    const wanted = ['', ...this._model.meshes.map(m => m.id)];
    const current = this._model.filters.mesh;
    if (current && !wanted.includes(current)) {
      wanted.push(current);
    }
    if (!sameValues(this._mesh, wanted)) {
      this._mesh.textContent = '';
      for (const id of wanted) {
        this._mesh.append(h('option', { value: id }, id ? `mesh ${id.slice(0, 8)}` : 'all meshes'));
      }
    }
    this._mesh.value = current;
    this._status.value = this._model.filters.status;
    const user = this._model.filters.user;
    const users = ['', ...this._model.users];
    if (user && !users.includes(user)) {
      users.push(user);
    }
    if (!sameValues(this._user, users)) {
      this._user.textContent = '';
      for (const u of users) {
        this._user.append(h('option', { value: u }, u ? `user ${u}` : 'all users'));
      }
    }
    this._user.value = user;
  }

  dispose(): void {
    window.clearTimeout(this._timer);
  }

  private _search: HTMLInputElement;
  private _status: HTMLSelectElement;
  private _mesh: HTMLSelectElement;
  private _user: HTMLSelectElement;
  private _timer = 0;
}

export function renderHistory(model: MeshModel): HTMLElement {
  const runs = model.history;
  const list = runs.length
    ? h(
        'ul',
        { class: 'jp-MeshPanel-runs jp-MeshPanel-history' },
        ...runs.map(run =>
          h(
            'li',
            rowAttrs(model, run),
            h(
              'div',
              { class: 'jp-MeshPanel-runHead' },
              pill(run.status),
              h('span', { class: 'jp-MeshPanel-runLabel' }, runLabel(run)),
              ...badges(run),
              h('span', { class: 'jp-MeshPanel-runTime', title: 'submitted' }, formatTime(run.submitted))
            ),
            run.error ? h('div', { class: 'jp-MeshPanel-runError' }, firstLine(run.error)) : null
          )
        )
      )
    : h('p', { class: 'jp-MeshPanel-empty' }, 'No run matches.');
  const size = model.settings.historyPageSize;
  const offset = model.historyOffset;
  const total = model.historyTotal;
  const pager = h(
    'div',
    { class: 'jp-MeshPanel-pager' },
    h(
      'button',
      { class: 'jp-Button jp-mod-minimal', disabled: offset <= 0, title: 'Newer runs', on: { click: () => void model.page(-1) } },
      '‹'
    ),
    h('span', null, total ? `${offset + 1}–${Math.min(total, offset + size)} of ${total}` : '0 runs'),
    h(
      'button',
      { class: 'jp-Button jp-mod-minimal', disabled: offset + size >= total, title: 'Older runs', on: { click: () => void model.page(1) } },
      '›'
    )
  );
  return h('div', null, list, pager);
}

function rowAttrs(model: MeshModel, run: IRun) {
  return {
    class: `jp-MeshPanel-run${run.id === model.selectedRunId ? ' jp-mod-selected' : ''}`,
    data: { runId: run.id, status: String(run.status) },
    title: 'Show this run’s detail and logs',
    on: { click: () => void model.selectRun(run.id === model.selectedRunId ? null : run.id) }
  };
}

/** A batch's `batch 7/10` and a cache hit's `cached` marks. */
export function badges(run: IRun): HTMLElement[] {
  return runBadges(run).map(b =>
    h('span', { class: `jp-MeshPanel-badge jp-mod-${b.kind}`, title: b.title, data: { badge: b.kind } }, b.text)
  );
}

export function firstLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1].slice(0, 160);
}
