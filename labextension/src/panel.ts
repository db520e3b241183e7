/**
 * The left-sidebar "Mesh" panel: meshes, the node map, runs in flight,
 * history and a run's detail, rendered from a `MeshModel`.
 */
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import type { MeshModel } from './model';
import type { IMesh } from './types';
import { h, replaceChildren } from './widgets/dom';
import { renderDetail } from './widgets/detail';
import { renderMeshes } from './widgets/meshes';
import { renderNodes } from './widgets/nodes';
import { HistoryFilters, renderActive, renderHistory } from './widgets/runs';

export const PANEL_ID = 'mesh-magics-panel';

export interface IMeshPanelOptions {
  model: MeshModel;
  openDashboard(mesh: IMesh): void;
  /** Offer the mesh's single dashboard plots as panes (a menu at `anchor`). */
  openPlots(mesh: IMesh, anchor: HTMLElement): void;
}

const CONNECTION_TEXT: Record<string, string> = {
  connecting: 'connecting…',
  live: 'live',
  fallback: 'reconnecting (refreshing slowly)',
  closed: 'closed'
};

export class MeshPanel extends Widget {
  constructor(options: IMeshPanelOptions) {
    super();
    this.id = PANEL_ID;
    this.addClass('jp-MeshPanel');
    this.title.caption = 'Mesh: meshes, workers and runs';
    this._model = options.model;
    this._openDashboard = options.openDashboard;
    this._openPlots = options.openPlots;
    this._filters = new HistoryFilters(this._model);

    this._status = h('span', { class: 'jp-MeshPanel-connection' });
    const refresh = h(
      'button',
      {
        class: 'jp-Button jp-mod-minimal jp-MeshPanel-refresh',
        title: 'Reload meshes, workers and runs',
        on: { click: () => void this._model.reload() }
      },
      '⟳'
    );
    this._banner = h('div', { class: 'jp-MeshPanel-banner', role: 'alert' });
    this._notice = h('div', { class: 'jp-MeshPanel-notice', role: 'status' });
    this._meshes = h('div', { class: 'jp-MeshPanel-body' });
    this._nodes = h('div', { class: 'jp-MeshPanel-body' });
    this._active = h('div', { class: 'jp-MeshPanel-body' });
    this._history = h('div', { class: 'jp-MeshPanel-body' });
    this._detail = h('div', { class: 'jp-MeshPanel-detailHost' });

    replaceChildren(
      this.node,
      h('header', { class: 'jp-MeshPanel-header' }, h('h2', null, 'Mesh'), this._status, refresh),
      this._banner,
      this._notice,
      section('Meshes', 'meshes', this._meshes),
      section('Workers', 'nodes', this._nodes),
      section('In flight', 'active', this._active),
      this._detail,
      section('History', 'history', this._filters.node, this._history)
    );
    this._disconnect = this._model.onChange(() => this._scheduleRender());
    this._render();
  }

  get model(): MeshModel {
    return this._model;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._disconnect();
    this._filters.dispose();
    this._stopTicker();
    cancelAnimationFrame(this._frame);
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._model.setVisible(true);
    this._render();
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this._model.setVisible(false);
    this._stopTicker();
  }

  private _scheduleRender(): void {
    if (this._frame) {
      return;
    }
    this._frame = requestAnimationFrame(() => {
      this._frame = 0;
      this._render();
    });
  }

  private _render(): void {
    const model = this._model;
    this._status.textContent = CONNECTION_TEXT[model.connection] ?? model.connection;
    this._status.dataset.state = model.connection;

    const compat = model.compat;
    this._banner.hidden = compat.state !== 'error' && compat.state !== 'warning';
    this._banner.className = `jp-MeshPanel-banner jp-mod-${compat.state}`;
    this._banner.textContent = compat.message;

    const notice = model.notice;
    this._notice.hidden = !notice;
    if (notice) {
      replaceChildren(
        this._notice,
        h('span', null, notice.text),
        h(
          'button',
          { class: 'jp-Button jp-mod-minimal', title: 'Dismiss', on: { click: () => model.dismissNotice() } },
          '×'
        )
      );
      this._notice.className = `jp-MeshPanel-notice jp-mod-${notice.kind}`;
    }

    replaceChildren(this._meshes, renderMeshes(model, { openDashboard: this._openDashboard, openPlots: this._openPlots }));
    replaceChildren(this._nodes, renderNodes(model));
    this._renderActive();
    this._filters.update();
    replaceChildren(this._history, renderHistory(model));
    replaceChildren(this._detail, renderDetail(model));

    if (model.active.length && this.isVisible) {
      this._startTicker();
    } else {
      this._stopTicker();
    }
  }

  private _renderActive(): void {
    replaceChildren(this._active, renderActive(this._model, Date.now()));
  }

  /** Elapsed times of runs in flight tick locally; nothing is fetched. */
  private _startTicker(): void {
    if (this._ticker === 0) {
      this._ticker = window.setInterval(() => this._renderActive(), 1000);
    }
  }

  private _stopTicker(): void {
    window.clearInterval(this._ticker);
    this._ticker = 0;
  }

  private readonly _model: MeshModel;
  private readonly _openDashboard: (mesh: IMesh) => void;
  private readonly _openPlots: (mesh: IMesh, anchor: HTMLElement) => void;
  private readonly _filters: HistoryFilters;
  private readonly _disconnect: () => void;
  private readonly _status: HTMLElement;
  private readonly _banner: HTMLElement;
  private readonly _notice: HTMLElement;
  private readonly _meshes: HTMLElement;
  private readonly _nodes: HTMLElement;
  private readonly _active: HTMLElement;
  private readonly _history: HTMLElement;
  private readonly _detail: HTMLElement;
  private _frame = 0;
  private _ticker = 0;
}

function section(title: string, name: string, ...body: HTMLElement[]): HTMLElement {
  return h(
    'section',
    { class: `jp-MeshPanel-section jp-MeshPanel-${name}Section`, data: { section: name } },
    h('h3', { class: 'jp-MeshPanel-sectionTitle' }, title),
    ...body
  );
}
