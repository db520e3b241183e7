/**
 * State of the Mesh panel: meshes, the selected mesh's workers, runs in
 * flight, the history page with its filters, and the open run's detail.
 *
 * Plain TypeScript over an `IMeshClient` (no JupyterLab imports), so the
 * unit tests drive it with a fake client and fake timers.
 *
 * Data arrives through `handleEvent` (the `events` websocket). The model
 * refreshes on a timer only in two cases: the slow fallback refresh while the
 * socket is down (`setConnection('fallback')`), and the node map's live
 * metrics while the panel is visible (`nodeRefreshInterval`, 0 turns it off).
 */
import type { EventStatus } from './events';
import {
  ACTIVE_STATUSES,
  API_VERSION,
  IMesh,
  IMeshClient,
  IRun,
  IRunDetail,
  IRunQuery,
  IWorker,
  MeshApiError,
  MeshEvent
} from './types';
import { VERSION } from './version';

export interface IHistoryFilters {
  /** One of `RUN_STATUSES`, or '' for all. */
  status: string;
  /** A mesh id, or '' for all. */
  mesh: string;
  /** Free text (name, source, error). */
  q: string;
  /** Who submitted the run, or '' for everyone. */
  user: string;
}

export interface IModelSettings {
  /** Seconds between refreshes while the event socket is down. */
  refreshInterval: number;
  /** Seconds between node-map refreshes while the panel is visible (0: off). */
  nodeRefreshInterval: number;
  /** Rows per history page. */
  historyPageSize: number;
}

export const DEFAULT_SETTINGS: IModelSettings = {
  refreshInterval: 30,
  nodeRefreshInterval: 5,
  historyPageSize: 25
};

/** Frontend/server compatibility, from the `GET version` handshake. */
export interface ICompat {
  state: 'unknown' | 'ok' | 'warning' | 'error';
  message: string;
}

export interface INotice {
  kind: 'error' | 'info';
  text: string;
}

export interface ITimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

const GLOBAL_TIMERS: ITimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: handle => clearTimeout(handle as number),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: handle => clearInterval(handle as number)
};

export interface IModelOptions {
  client: IMeshClient;
  settings?: Partial<IModelSettings>;
  timers?: ITimers;
  /** Delay that batches bursts of run events into one refresh (ms). */
  debounce?: number;
}

export class MeshModel {
  constructor(options: IModelOptions) {
    this._client = options.client;
    this._settings = { ...DEFAULT_SETTINGS, ...options.settings };
    this._timers = options.timers ?? GLOBAL_TIMERS;
    this._debounce = options.debounce ?? 250;
  }

  // ---- state (read-only views) -------------------------------------------

  get compat(): ICompat {
    return this._compat;
  }
  get connection(): EventStatus {
    return this._connection;
  }
  get settings(): Readonly<IModelSettings> {
    return this._settings;
  }
  get meshes(): readonly IMesh[] {
    return this._meshes;
  }
  get selectedMesh(): IMesh | null {
    return this._meshes.find(m => m.id === this._selectedMeshId) ?? null;
  }
  get workers(): readonly IWorker[] | null {
    return this._workers;
  }
  get nodesError(): string | null {
    return this._nodesError;
  }
  /** Queued and running runs, oldest first. */
  get active(): readonly IRun[] {
    return this._active;
  }
  get history(): readonly IRun[] {
    return this._history;
  }
  get historyTotal(): number {
    return this._historyTotal;
  }
  get historyOffset(): number {
    return this._historyOffset;
  }
  get filters(): Readonly<IHistoryFilters> {
    return this._filters;
  }
  /** Everyone with runs in the histories, for the user filter. */
  get users(): readonly string[] {
    return this._users;
  }
  get selectedRunId(): string | null {
    return this._selectedRunId;
  }
  get detail(): IRunDetail | null {
    return this._detail;
  }
  get notice(): INotice | null {
    return this._notice;
  }
  get isDisposed(): boolean {
    return this._disposed;
  }
  isCancelling(runId: string): boolean {
    return this._cancelling.has(runId);
  }

  /** Call `fn` after every state change; returns a function that disconnects it. */
  onChange(fn: () => void): () => void {
    this._listeners.add(fn);
    return () => this._listeners.delete(fn);
  }

  // ---- lifecycle ---------------------------------------------------------

  /** Handshake with the server, then load everything once. */
  async start(): Promise<void> {
    await this.checkVersion();
    if (this._compat.state !== 'error') {
      await this.refreshAll();
    }
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._stopFallback();
    this._stopNodeTimer();
    if (this._runsTimer !== null) {
      this._timers.clearTimeout(this._runsTimer);
      this._runsTimer = null;
    }
    this._listeners.clear();
  }

  configure(settings: Partial<IModelSettings>): void {
    const before = this._settings;
    this._settings = { ...before, ...settings };
    if (this._settings.historyPageSize !== before.historyPageSize) {
      this._historyOffset = 0;
      void this.refreshRuns();
    }
    if (this._fallbackTimer !== null) {
      this._stopFallback();
      this._startFallback();
    }
    this._syncNodeTimer();
    this._emit();
  }

  /** The panel is shown or hidden: the node map refreshes only while shown. */
  setVisible(visible: boolean): void {
    this._visible = visible;
    this._syncNodeTimer();
    if (visible && this._selectedMeshId) {
      void this.refreshNodes();
    }
  }

  /** The event socket's status; refresh on a slow timer only while it is down. */
  setConnection(status: EventStatus): void {
    const was = this._connection;
    this._connection = status;
    if (status === 'fallback') {
      this._startFallback();
    } else {
      this._stopFallback();
    }
    if (status === 'live' && was !== 'live' && was !== 'connecting') {
      // Back after an outage: catch up with what the socket missed.
      void this.refreshAll();
    }
    this._emit();
  }

  // ---- loading -----------------------------------------------------------

  async checkVersion(): Promise<void> {
    try {
      const info = await this._client.version();
      if (info.api !== API_VERSION) {
        this._compat = {
          state: 'error',
          message:
            `The mesh-magics server extension speaks API v${info.api} ` +
            `(version ${info.version}); this panel speaks API v${API_VERSION} ` +
            `(version ${VERSION}). Install one mesh-magics version for both ` +
            'and restart JupyterLab.'
        };
      } else if (info.version !== VERSION) {
        this._compat = {
          state: 'warning',
          message:
            `The mesh-magics server extension is version ${info.version}; ` +
            `this panel is ${VERSION}. Restart JupyterLab after upgrading.`
        };
      } else {
        this._compat = { state: 'ok', message: '' };
      }
    } catch (error) {
      this._compat = { state: 'error', message: compatMessage(error) };
    }
    this._emit();
  }

  /** The panel's refresh button: redo the handshake if it failed, else reload everything. */
  async reload(): Promise<void> {
    this._notice = null;
    if (this._compat.state === 'error' || this._compat.state === 'unknown') {
      await this.start();
    } else {
      await Promise.all([this.refreshAll(), this.refreshNodes()]);
    }
  }

  async refreshAll(): Promise<void> {
    await Promise.all([this.refreshMeshes(), this.refreshRuns()]);
  }

  async refreshMeshes(): Promise<void> {
    try {
      this._setMeshes(await this._client.meshes());
    } catch (error) {
      this._fail(error);
    }
  }

  async refreshNodes(): Promise<void> {
    const mesh = this.selectedMesh;
    const meshId = mesh?.id ?? null;
    if (!mesh || !meshId || !isReachable(mesh)) {
      // Only a connected mesh's scheduler can be asked for its workers.
      this._workers = null;
      this._nodesError = null;
      this._emit();
      return;
    }
    try {
      const nodes = await this._client.nodes(meshId);
      if (this._selectedMeshId !== meshId) {
        return; // the user moved on meanwhile
      }
      this._workers = nodes.workers;
      this._nodesError = null;
    } catch (error) {
      if (this._selectedMeshId !== meshId) {
        return;
      }
      this._workers = null;
      this._nodesError = errorText(error);
      if (isConflict(error)) {
        void this.checkVersion();
      }
    }
    this._emit();
  }

  /** Reload the runs in flight and the current history page. */
  async refreshRuns(): Promise<void> {
    const limit = this._settings.historyPageSize;
    const query: IRunQuery = {
      status: this._filters.status,
      mesh: this._filters.mesh,
      q: this._filters.q,
      user: this._filters.user,
      offset: this._historyOffset,
      limit
    };
    const generation = ++this._runsGeneration;
    try {
      const [active, page] = await Promise.all([
        this._client.runs({ status: [...ACTIVE_STATUSES].join(','), limit: 200 }),
        this._client.runs(query)
      ]);
      if (generation !== this._runsGeneration) {
        return; // a newer refresh (filters changed) wins
      }
      this._active = sortBySubmitted(active.runs);
      this._history = page.runs;
      this._historyTotal = page.total;
      this._historyOffset = page.offset;
      this._users = page.users ?? [];
      for (const run of [...this._active, ...this._history]) {
        if (!ACTIVE_STATUSES.has(run.status)) {
          this._cancelling.delete(run.id);
        }
      }
      this._emit();
    } catch (error) {
      this._fail(error);
    }
    if (this._selectedRunId && generation === this._runsGeneration) {
      await this.refreshDetail();
    }
  }

  async refreshDetail(): Promise<void> {
    const runId = this._selectedRunId;
    if (!runId) {
      return;
    }
    try {
      const detail = await this._client.run(runId);
      if (this._selectedRunId === runId) {
        this._detail = detail;
        this._emit();
      }
    } catch (error) {
      if (this._selectedRunId === runId) {
        this._detail = null;
        this._fail(error);
      }
    }
  }

  // ---- user actions ------------------------------------------------------

  async selectMesh(meshId: string | null): Promise<void> {
    this._userSelected = meshId !== null;
    await this._select(meshId);
  }

  private async _select(meshId: string | null): Promise<void> {
    if (meshId === this._selectedMeshId) {
      return;
    }
    this._selectedMeshId = meshId;
    this._workers = null;
    this._nodesError = null;
    this._emit();
    this._syncNodeTimer();
    await this.refreshNodes();
  }

  async selectRun(runId: string | null): Promise<void> {
    this._selectedRunId = runId;
    this._detail = null;
    this._emit();
    if (runId) {
      await this.refreshDetail();
    }
  }

  async setFilters(filters: Partial<IHistoryFilters>): Promise<void> {
    this._filters = { ...this._filters, ...filters };
    this._historyOffset = 0;
    this._emit();
    await this.refreshRuns();
  }

  /** Move the history page by `pages` (clamped to the available rows). */
  async page(pages: number): Promise<void> {
    const size = this._settings.historyPageSize;
    const last = Math.max(0, Math.floor((this._historyTotal - 1) / size) * size);
    const offset = Math.min(last, Math.max(0, this._historyOffset + pages * size));
    if (offset === this._historyOffset) {
      return;
    }
    this._historyOffset = offset;
    await this.refreshRuns();
  }

  /** Ask the server to cancel a run; the run's new status arrives as an event. */
  async cancel(runId: string): Promise<void> {
    if (this._cancelling.has(runId)) {
      return;
    }
    this._cancelling.add(runId);
    this._emit();
    try {
      await this._client.cancel(runId);
      this._notice = null;
    } catch (error) {
      this._cancelling.delete(runId);
      if (error instanceof MeshApiError && error.status === 409) {
        this._notice = { kind: 'info', text: `Run ${runId} has already ended.` };
        this._emit();
        await this.refreshRuns();
        return;
      }
      this._fail(error);
      return;
    }
    this._emit();
    this._scheduleRunsRefresh();
  }

  dismissNotice(): void {
    this._notice = null;
    this._emit();
  }

  /** Show a notice in the panel (an error of an action outside the model, say). */
  notify(kind: INotice['kind'], text: string): void {
    this._notice = { kind, text };
    this._emit();
  }

  // ---- events ------------------------------------------------------------

  handleEvent(event: MeshEvent): void {
    if (this._disposed) {
      return;
    }
    if (event.type === 'meshes') {
      this._setMeshes(event.meshes);
      return;
    }
    for (const item of event.changed) {
      // Items are run rows (merged at once) or bare run ids.
      if (item && typeof item === 'object' && typeof item.id === 'string') {
        this._mergeRun(item);
      }
    }
    this._emit();
    // A debounced reload fixes order, totals and the open run's detail.
    this._scheduleRunsRefresh();
  }

  // ---- internals ---------------------------------------------------------

  private _setMeshes(meshes: IMesh[]): void {
    const before = this.selectedMesh;
    this._meshes = [...meshes];
    let selected = this._selectedMeshId;
    const current = meshes.find(m => m.id === selected);
    if (!current || (!isReachable(current) && !this._userSelected)) {
      // Follow the first live mesh until the user picks one.
      const preferred = meshes.find(isReachable) ?? current ?? meshes[0];
      selected = preferred ? preferred.id : null;
    }
    if (selected !== this._selectedMeshId) {
      void this._select(selected);
    } else if (current && before && isReachable(current) !== isReachable(before)) {
      void this.refreshNodes();
    }
    this._emit();
  }

  private _mergeRun(row: IRun): void {
    const replace = (list: IRun[]) =>
      list.map(run => (run.id === row.id ? { ...run, ...row } : run));
    this._history = replace(this._history);
    const isActive = ACTIVE_STATUSES.has(row.status);
    if (this._active.some(run => run.id === row.id)) {
      this._active = isActive
        ? replace(this._active)
        : this._active.filter(run => run.id !== row.id);
    } else if (isActive) {
      this._active = sortBySubmitted([...this._active, row]);
    }
    if (!isActive) {
      this._cancelling.delete(row.id);
    }
    if (this._detail && this._detail.id === row.id) {
      this._detail = { ...this._detail, ...row };
    }
  }

  private _scheduleRunsRefresh(): void {
    if (this._runsTimer !== null) {
      return;
    }
    this._runsTimer = this._timers.setTimeout(() => {
      this._runsTimer = null;
      // refreshRuns also reloads the open run's detail
      void this.refreshRuns();
    }, this._debounce);
  }

  private _startFallback(): void {
    if (this._fallbackTimer === null && this._settings.refreshInterval > 0) {
      this._fallbackTimer = this._timers.setInterval(() => {
        void this.refreshAll();
      }, this._settings.refreshInterval * 1000);
    }
  }

  private _stopFallback(): void {
    if (this._fallbackTimer !== null) {
      this._timers.clearInterval(this._fallbackTimer);
      this._fallbackTimer = null;
    }
  }

  private _syncNodeTimer(): void {
    const wanted =
      !this._disposed &&
      this._visible &&
      this._selectedMeshId !== null &&
      this._settings.nodeRefreshInterval > 0;
    if (!wanted) {
      this._stopNodeTimer();
      return;
    }
    if (
      this._nodeTimer !== null &&
      this._nodeTimerInterval === this._settings.nodeRefreshInterval
    ) {
      return;
    }
    this._stopNodeTimer();
    this._nodeTimerInterval = this._settings.nodeRefreshInterval;
    this._nodeTimer = this._timers.setInterval(() => {
      void this.refreshNodes();
    }, this._nodeTimerInterval * 1000);
  }

  private _stopNodeTimer(): void {
    if (this._nodeTimer !== null) {
      this._timers.clearInterval(this._nodeTimer);
      this._nodeTimer = null;
    }
  }

  private _fail(error: unknown): void {
    this._notice = { kind: 'error', text: errorText(error) };
    this._emit();
    if (isConflict(error)) {
      // 409 is also the server's answer to a frontend it does not speak to:
      // the handshake tells the two apart.
      void this.checkVersion();
    }
  }

  private _emit(): void {
    for (const fn of [...this._listeners]) {
      fn();
    }
  }

  private readonly _client: IMeshClient;
  private readonly _timers: ITimers;
  private readonly _debounce: number;
  private _settings: IModelSettings;
  private _listeners = new Set<() => void>();
  private _disposed = false;
  private _visible = false;
  private _compat: ICompat = { state: 'unknown', message: '' };
  private _connection: EventStatus = 'connecting';
  private _notice: INotice | null = null;
  private _meshes: IMesh[] = [];
  private _selectedMeshId: string | null = null;
  private _userSelected = false;
  private _workers: IWorker[] | null = null;
  private _nodesError: string | null = null;
  private _active: IRun[] = [];
  private _history: IRun[] = [];
  private _historyTotal = 0;
  private _historyOffset = 0;
  private _filters: IHistoryFilters = { status: '', mesh: '', q: '', user: '' };
  private _users: string[] = [];
  private _selectedRunId: string | null = null;
  private _detail: IRunDetail | null = null;
  private _cancelling = new Set<string>();
  private _runsGeneration = 0;
  private _runsTimer: unknown = null;
  private _fallbackTimer: unknown = null;
  private _nodeTimer: unknown = null;
  private _nodeTimerInterval = 0;
}

/** Epoch milliseconds of an API timestamp (epoch seconds or ISO string). */
export function toMillis(value: number | string | null | undefined): number | null {
  if (value === null || value === undefined || value === '') {
    return null;
  }
  if (typeof value === 'number') {
    return Number.isFinite(value) ? value * 1000 : null;
  }
  const numeric = Number(value);
  if (Number.isFinite(numeric)) {
    return numeric * 1000;
  }
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? null : parsed;
}

function sortBySubmitted(runs: IRun[]): IRun[] {
  return [...runs].sort(
    (a, b) => (toMillis(a.submitted) ?? 0) - (toMillis(b.submitted) ?? 0)
  );
}

function isConflict(error: unknown): boolean {
  return error instanceof MeshApiError && error.status === 409;
}

/** Whether the server can reach this mesh's scheduler. */
export function isReachable(mesh: IMesh): boolean {
  return mesh.state === 'connected' && !mesh.stale;
}

function compatMessage(error: unknown): string {
  if (error instanceof MeshApiError) {
    if (error.status === 409) {
      return `The mesh-magics server extension refused this panel: ${error.reason}. Install one mesh-magics version for both and restart JupyterLab.`;
    }
    if (error.status === 404) {
      return 'The mesh-magics server extension is not running: check `jupyter server extension list` shows mesh_magics enabled, then restart JupyterLab.';
    }
  }
  return `Cannot reach the mesh-magics server extension: ${errorText(error)}`;
}

export function errorText(error: unknown): string {
  if (error instanceof MeshApiError) {
    return error.status ? `${error.reason} (${error.status})` : error.reason;
  }
  return error instanceof Error ? error.message : String(error);
}
