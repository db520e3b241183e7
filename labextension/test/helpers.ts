/**
 * Test doubles: an in-memory mesh server (`FakeClient`) and manual timers.
 */
import type { ITimers } from '../src/model';
import {
  ICancelReply,
  IMesh,
  IMeshClient,
  INodes,
  IRun,
  IRunDetail,
  IRunPage,
  IRunQuery,
  IVersionInfo,
  MeshApiError
} from '../src/types';
import { VERSION } from '../src/version';

export function mesh(id: string, extra: Partial<IMesh> = {}): IMesh {
  return {
    id,
    scheduler_address: `tcp://127.0.0.1:${8700 + id.length}`,
    dashboard_link: 'http://127.0.0.1:8787/status',
    kernel_id: `k-${id}`,
    kind: 'local-cpu',
    pid: 42,
    created: '2026-11-22T01:00:00+00:00',
    host: 'box',
    stale: false,
    state: 'connected',
    ...extra
  };
}

export function run(id: string, status: string, extra: Partial<IRun> = {}): IRun {
  return {
    id,
    mesh: 'm1',
    name: null,
    status,
    submitted: 1_700_000_000 + Number(id.replace(/\D/g, '') || 0),
    started: null,
    finished: null,
    targets: '[]',
    source: `%%mesh\nprint(${JSON.stringify(id)})`,
    error: null,
    ...extra
  };
}

/** Answers like the server would from its state; records every call. */
export class FakeClient implements IMeshClient {
  versionInfo: IVersionInfo = { version: VERSION, api: 1 };
  meshList: IMesh[] = [mesh('m1'), mesh('m2', { state: 'gone', stale: true })];
  runRows: IRun[] = [];
  calls: string[] = [];
  /** endpoint name → error to throw once. */
  failures = new Map<string, MeshApiError>();

  async version(): Promise<IVersionInfo> {
    this._call('version');
    return this.versionInfo;
  }

  async meshes(): Promise<IMesh[]> {
    this._call('meshes');
    return this.meshList;
  }

  async nodes(meshId: string): Promise<INodes> {
    this._call(`nodes:${meshId}`);
    return {
      mesh: meshId,
      workers: [
        {
          address: 'tcp://127.0.0.1:9001',
          name: 0,
          host: '127.0.0.1',
          threads: 1,
          memory: 100,
          memory_limit: 1000,
          cpu: 12,
          tasks: 0,
          spilled: 0,
          gpu: null
        }
      ]
    };
  }

  async runs(query: IRunQuery): Promise<IRunPage> {
    this._call(`runs:${JSON.stringify(query)}`);
    let rows = [...this.runRows].reverse();
    if (query.status) {
      const wanted = query.status.split(',');
      rows = rows.filter(r => wanted.includes(r.status));
    }
    if (query.mesh) {
      rows = rows.filter(r => r.mesh === query.mesh);
    }
    if (query.q) {
      rows = rows.filter(r => r.source.includes(query.q!));
    }
    const users = [...new Set(this.runRows.map(r => r.user).filter((u): u is string => typeof u === 'string'))].sort();
    if (query.user) {
      rows = rows.filter(r => r.user === query.user);
    }
    const offset = query.offset ?? 0;
    const limit = query.limit ?? 50;
    return { runs: rows.slice(offset, offset + limit), total: rows.length, offset, limit, users };
  }

  async run(runId: string): Promise<IRunDetail> {
    this._call(`run:${runId}`);
    const row = this.runRows.find(r => r.id === runId);
    if (!row) {
      throw new MeshApiError(404, `no run ${runId}`);
    }
    return { ...row, stdout_tail: 'out', stderr_tail: '', summary: null };
  }

  async cancel(runId: string): Promise<ICancelReply> {
    this._call(`cancel:${runId}`);
    const row = this.runRows.find(r => r.id === runId);
    if (!row) {
      throw new MeshApiError(404, `no run ${runId}`);
    }
    if (!['queued', 'running'].includes(row.status)) {
      throw new MeshApiError(409, `run ${runId} has ended (${row.status})`);
    }
    return { cancelled: true };
  }

  count(prefix: string): number {
    return this.calls.filter(c => c.startsWith(prefix)).length;
  }

  private _call(name: string): void {
    this.calls.push(name);
    const endpoint = name.split(':')[0];
    const failure = this.failures.get(endpoint);
    if (failure) {
      this.failures.delete(endpoint);
      throw failure;
    }
  }
}

/** Timers that fire only when the test says so. */
export class ManualTimers implements ITimers {
  timeouts = new Map<number, () => void>();
  intervals = new Map<number, { fn: () => void; ms: number }>();

  setTimeout(fn: () => void): unknown {
    const id = this._next++;
    this.timeouts.set(id, fn);
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timeouts.delete(handle as number);
  }
  setInterval(fn: () => void, ms: number): unknown {
    const id = this._next++;
    this.intervals.set(id, { fn, ms });
    return id;
  }
  clearInterval(handle: unknown): void {
    this.intervals.delete(handle as number);
  }

  /** Fire every pending timeout once. */
  runTimeouts(): void {
    const pending = [...this.timeouts.values()];
    this.timeouts.clear();
    pending.forEach(fn => fn());
  }

  /** Fire every interval once. */
  tick(): void {
    [...this.intervals.values()].forEach(({ fn }) => fn());
  }

  private _next = 1;
}

/** Let pending promise chains settle. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) {
    await new Promise(resolve => setImmediate(resolve));
  }
}
