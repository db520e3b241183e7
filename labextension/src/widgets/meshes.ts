/**
 * The meshes section: every mesh the kernels registered, with its state.
 * Clicking one shows its workers in the node map.
 */
import { toMillis, type MeshModel } from '../model';
import type { IMesh } from '../types';
import { formatTime } from '../format';
import { h, pill } from './dom';

const STATE_LABELS: Record<string, string> = {
  connected: 'connected',
  unreachable: 'reconnecting',
  gone: 'gone'
};

export interface IMeshesActions {
  openDashboard(mesh: IMesh): void;
  openPlots(mesh: IMesh, anchor: HTMLElement): void;
}

export function renderMeshes(model: MeshModel, actions: IMeshesActions): HTMLElement {
  const meshes = model.meshes;
  if (!meshes.length) {
    return h(
      'p',
      { class: 'jp-MeshPanel-empty' },
      'No mesh yet. Run ',
      h('code', null, '%load_ext mesh_magics'),
      ' and ',
      h('code', null, '%mesh up'),
      ' in a notebook (or use “Start a mesh in this kernel”).'
    );
  }
  const selected = model.selectedMesh?.id;
  return h(
    'ul',
    { class: 'jp-MeshPanel-meshes' },
    ...sortMeshes(meshes).map(mesh => {
      const state = meshState(mesh);
      const item = h(
        'li',
        {
          class: `jp-MeshPanel-mesh${mesh.id === selected ? ' jp-mod-selected' : ''}`,
          data: { meshId: mesh.id, state },
          title: `scheduler ${mesh.scheduler_address}\nkernel ${mesh.kernel_id ?? '–'}\npid ${mesh.pid ?? '–'}`,
          on: { click: () => void model.selectMesh(mesh.id) }
        },
        pill(state, STATE_LABELS[state] ?? state),
        h('span', { class: 'jp-MeshPanel-meshName' }, mesh.kind || 'mesh'),
        h(
          'span',
          { class: 'jp-MeshPanel-meshMeta' },
          `${mesh.host ?? ''} · ${mesh.scheduler_address} · since ${formatTime(mesh.created)}`
        )
      );
      if (mesh.dashboard_link && state !== 'gone') {
        item.append(
          h(
            'button',
            {
              class: 'jp-Button jp-mod-minimal jp-MeshPanel-dashboard',
              title: 'Open the Dask dashboard of this mesh',
              on: {
                click: (event: Event) => {
                  event.stopPropagation();
                  actions.openDashboard(mesh);
                }
              }
            },
            'Dashboard'
          ),
          h(
            'button',
            {
              class: 'jp-Button jp-mod-minimal jp-MeshPanel-plots',
              title: 'Open single dashboard plots (task stream, progress, memory, GPU) as panes',
              on: {
                click: (event: Event) => {
                  event.stopPropagation();
                  actions.openPlots(mesh, event.currentTarget as HTMLElement);
                }
              }
            },
            'Plots ▾'
          )
        );
      }
      return item;
    })
  );
}

const STATE_ORDER: Record<string, number> = { connected: 0, unreachable: 1, gone: 2 };

function meshState(mesh: IMesh): string {
  return mesh.stale ? 'gone' : mesh.state;
}

/** Live meshes first, then unreachable, then gone; newest first within each. */
export function sortMeshes(meshes: readonly IMesh[]): IMesh[] {
  return [...meshes].sort(
    (a, b) =>
      (STATE_ORDER[meshState(a)] ?? 3) - (STATE_ORDER[meshState(b)] ?? 3) ||
      (toMillis(b.created) ?? 0) - (toMillis(a.created) ?? 0)
  );
}
