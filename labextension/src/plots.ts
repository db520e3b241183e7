/**
 * Single Dask dashboard plots (task stream, progress, worker memory, GPU
 * utilisation, ...) as JupyterLab panes, for one mesh.
 *
 * The scheduler lists its plots at `individual-plots.json` (title -> path);
 * every plot is a Bokeh page that the pane loads through the server's
 * authenticated proxy (`mesh/api/meshes/<id>/dashboard/<path>`), so it works
 * wherever the Jupyter server reaches the scheduler, and only for meshes in
 * the registry. Pane ids and command ids carry the `mesh-magics` prefix, so
 * they never collide with dask-labextension's when both are installed.
 */
import { URLExt } from '@jupyterlab/coreutils';

/** One plot of a scheduler's dashboard. */
export interface IPlot {
  /** What the pane is called ("Task Stream"). */
  name: string;
  /** Its path on the dashboard ("/individual-task-stream"). */
  path: string;
}

/** Plots offered first, in this order, when the scheduler has them. */
export const FAVOURITE_PLOTS = [
  '/individual-task-stream',
  '/individual-progress',
  '/individual-workers-memory',
  '/individual-cluster-memory',
  '/individual-gpu-utilization',
  '/individual-gpu-memory',
  '/individual-nprocessing',
  '/individual-graph'
];

/** "Individual Task Stream" -> "Task Stream"; "Individual Gpu Memory" -> "GPU Memory". */
export function plotName(title: string): string {
  const name = title.replace(/^Individual\s+/i, '').trim();
  return name.replace(/\b(Gpu|Cpu|Rmm)\b/g, word => word.toUpperCase()) || title;
}

/**
 * The plots of an `individual-plots.json` reply: favourites first, then by name.
 * Entries whose path is not a plain path on the dashboard (absolute URLs,
 * `..`, `//`) are dropped: the proxy would refuse them anyway.
 */
export function parsePlots(reply: unknown): IPlot[] {
  if (!reply || typeof reply !== 'object' || Array.isArray(reply)) {
    return [];
  }
  const plots: IPlot[] = [];
  for (const [title, path] of Object.entries(reply as Record<string, unknown>)) {
    if (typeof path !== 'string' || !isDashboardPath(path)) {
      continue;
    }
    plots.push({ name: plotName(title), path });
  }
  const rank = (p: IPlot) => {
    const i = FAVOURITE_PLOTS.indexOf(p.path);
    return i < 0 ? FAVOURITE_PLOTS.length : i;
  };
  return plots.sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
}

function isDashboardPath(path: string): boolean {
  return (
    path.startsWith('/') &&
    !path.startsWith('//') &&
    !/(^|\/)\.\.?(\/|$)/.test(path) &&
    /^[A-Za-z0-9/._~-]+$/.test(path)
  );
}

/** The proxied URL of a plot of mesh `meshId`, under the server's `baseUrl`. */
export function plotUrl(baseUrl: string, meshId: string, path: string): string {
  return URLExt.join(
    baseUrl,
    'mesh/api/meshes',
    encodeURIComponent(meshId),
    'dashboard',
    path.replace(/^\/+/, '')
  );
}

/** The pane id of one plot of one mesh: opening it again shows the same pane. */
export function plotWidgetId(meshId: string, path: string): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '');
  return `mesh-magics-plot-${safe(meshId)}-${safe(path)}`;
}
