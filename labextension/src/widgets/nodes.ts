/**
 * The node map: the selected mesh's workers as tiles grouped by host, each
 * with CPU, memory, GPU and task counts (the in-cell dashboard's language).
 */
import { isReachable, type MeshModel } from '../model';
import type { IWorker } from '../types';
import { formatBytes, fraction } from '../format';
import { bar, h } from './dom';

export function renderNodes(model: MeshModel): HTMLElement {
  const mesh = model.selectedMesh;
  if (!mesh) {
    return h('p', { class: 'jp-MeshPanel-empty' }, 'Select a mesh to see its workers.');
  }
  if (!isReachable(mesh)) {
    return h(
      'p',
      { class: 'jp-MeshPanel-empty' },
      mesh.state === 'unreachable'
        ? 'The scheduler does not answer right now; its workers show again when it does.'
        : 'This mesh is gone (its kernel or scheduler has ended).'
    );
  }
  if (model.nodesError) {
    return h('p', { class: 'jp-MeshPanel-error' }, `Workers unavailable: ${model.nodesError}`);
  }
  const workers = model.workers;
  if (workers === null) {
    return h('p', { class: 'jp-MeshPanel-empty' }, 'Loading workers…');
  }
  if (!workers.length) {
    return h('p', { class: 'jp-MeshPanel-empty' }, 'This mesh has no workers right now.');
  }
  const hosts = new Map<string, IWorker[]>();
  for (const worker of workers) {
    const list = hosts.get(worker.host) ?? [];
    list.push(worker);
    hosts.set(worker.host, list);
  }
  return h(
    'div',
    { class: 'jp-MeshPanel-nodes' },
    ...[...hosts.entries()].map(([host, list]) =>
      h(
        'div',
        { class: 'jp-MeshPanel-host' },
        h('div', { class: 'jp-MeshPanel-hostLabel' }, `${host} · ${list.length} worker${list.length === 1 ? '' : 's'}`),
        h('div', { class: 'jp-MeshPanel-tiles' }, ...list.map(renderTile))
      )
    )
  );
}

function renderTile(worker: IWorker): HTMLElement {
  const busy = worker.tasks > 0;
  const memory = fraction(worker.memory, worker.memory_limit);
  const cpu = Math.min(1, Math.max(0, (worker.cpu ?? 0) / (100 * Math.max(1, worker.threads || 1))));
  const tile = h(
    'div',
    {
      class: `jp-MeshPanel-tile${busy ? ' jp-mod-busy' : ''}`,
      data: { address: worker.address },
      title: worker.address
    },
    h(
      'div',
      { class: 'jp-MeshPanel-tileHead' },
      h('span', { class: 'jp-MeshPanel-tileName' }, String(worker.name)),
      h('span', { class: 'jp-MeshPanel-tileTasks', title: 'tasks on this worker' }, `${worker.tasks} task${worker.tasks === 1 ? '' : 's'}`)
    ),
    h('div', { class: 'jp-MeshPanel-metric' }, `CPU ${Math.round(worker.cpu ?? 0)}% · ${worker.threads} thr`),
    bar(cpu, 'cpu', `CPU ${Math.round(worker.cpu ?? 0)}%`),
    h(
      'div',
      { class: 'jp-MeshPanel-metric' },
      `mem ${formatBytes(worker.memory)}${worker.memory_limit ? ` / ${formatBytes(worker.memory_limit)}` : ''}`,
      worker.spilled ? ` · spilled ${formatBytes(worker.spilled)}` : ''
    ),
    bar(memory, memory !== null && memory > 0.8 ? 'memHigh' : 'mem', 'memory')
  );
  if (worker.gpu) {
    const gpu = worker.gpu;
    const util = gpu.utilization === null ? null : Math.min(1, Math.max(0, gpu.utilization / 100));
    tile.append(
      h('div', { class: 'jp-MeshPanel-metric', title: gpu.name }, `GPU ${gpu.utilization ?? '–'}% · ${formatBytes(gpu.memory_used)} / ${formatBytes(gpu.memory_total)}`),
      bar(util, 'gpu', `${gpu.name} utilization`),
      bar(fraction(gpu.memory_used, gpu.memory_total), 'gpuMem', `${gpu.name} memory`)
    );
  }
  return tile;
}
