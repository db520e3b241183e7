/**
 * The shapes of the mesh-magics REST API (`<base_url>mesh/api/`).
 *
 * Plain type declarations only: this module is imported by the model and its
 * unit tests, which run outside JupyterLab.
 */

/** The REST API version this frontend speaks (`GET version` → `api`). */
export const API_VERSION = 1;

/** Liveness of a mesh as seen from the Jupyter server. */
export type MeshState = 'connected' | 'unreachable' | 'gone';

/** One live (or stale) mesh, read from the kernels' registry files. */
export interface IMesh {
  id: string;
  scheduler_address: string;
  dashboard_link: string | null;
  kernel_id: string | null;
  kind: string;
  pid: number | null;
  created: string | number | null;
  host: string | null;
  stale: boolean;
  state: MeshState;
}

export interface IGpuInfo {
  name: string;
  utilization: number | null;
  memory_used: number | null;
  memory_total: number | null;
}

/** One Dask worker of a mesh, read from its scheduler. */
export interface IWorker {
  address: string;
  name: string | number;
  host: string;
  threads: number;
  /** Bytes in use. */
  memory: number;
  /** Bytes allowed (0 or null: no limit). */
  memory_limit: number | null;
  /** Percent of one core (may exceed 100 on multi-threaded workers). */
  cpu: number;
  /** Tasks processing or waiting on this worker. */
  tasks: number;
  /** Bytes spilled to disk. */
  spilled: number;
  gpu: IGpuInfo | null;
}

export interface INodes {
  mesh: string;
  workers: IWorker[];
}

export const RUN_STATUSES = [
  'queued',
  'running',
  'finished',
  'failed',
  'cancelled',
  'timeout',
  'lost'
] as const;

export type RunStatus = (typeof RUN_STATUSES)[number];

/** Statuses of a run that has not ended yet. */
export const ACTIVE_STATUSES: ReadonlySet<string> = new Set(['queued', 'running']);

/** One row of the run history. Timestamps are epoch seconds or ISO strings. */
export interface IRun {
  id: string;
  mesh: string;
  name: string | null;
  status: RunStatus | string;
  submitted: number | string | null;
  started: number | string | null;
  finished: number | string | null;
  targets: string[] | string | null;
  source: string;
  error: string | null;
  /** Optional: 0..1, when the server knows it. */
  progress?: number | null;
  /** A batch's counts in `summary.batch`; listings leave out its per-item `summary.items`. */
  summary?: string | Record<string, unknown> | null;
  /** A run served from the result cache: the run it replays. */
  cached_from?: string | null;
  [extra: string]: unknown;
}

/** A run with its log tails (`GET runs/<id>`). */
export interface IRunDetail extends IRun {
  stdout_tail: string | null;
  stderr_tail: string | null;
  summary: string | Record<string, unknown> | null;
}

export interface IRunPage {
  runs: IRun[];
  total: number;
  offset: number;
  limit: number;
  /** Everyone with runs in the histories (the user filter's choices); absent on older servers. */
  users?: string[];
}

export interface IRunQuery {
  /** One status, or several separated by commas. */
  status?: string;
  mesh?: string;
  q?: string;
  /** Only the runs this user submitted. */
  user?: string;
  offset?: number;
  limit?: number;
}

export interface IVersionInfo {
  version: string;
  api: number;
}

export interface ICancelReply {
  cancelled: boolean;
  [extra: string]: unknown;
}

/** Messages pushed on the `events` websocket. */
export type MeshEvent =
  | { type: 'meshes'; meshes: IMesh[] }
  | { type: 'runs'; changed: Array<IRun | string> };

/**
 * What the model needs from the server. `MeshApi` implements it over
 * HTTP; unit tests pass a fake.
 */
export interface IMeshClient {
  version(): Promise<IVersionInfo>;
  meshes(): Promise<IMesh[]>;
  nodes(meshId: string): Promise<INodes>;
  runs(query: IRunQuery): Promise<IRunPage>;
  run(runId: string): Promise<IRunDetail>;
  cancel(runId: string): Promise<ICancelReply>;
}

/** An error reply of the API: `{"error": {"reason", "status"}}`. */
export class MeshApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string
  ) {
    super(reason);
    this.name = 'MeshApiError';
  }
}
