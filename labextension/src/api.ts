/**
 * Typed client of the mesh-magics server extension (`<base_url>mesh/api/`).
 *
 * Every request goes through `ServerConnection.makeRequest`, which adds the
 * token and XSRF headers, and carries `X-Mesh-Frontend-Version` so the
 * server can refuse a frontend it does not speak to (409).
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import {
  API_VERSION,
  ICancelReply,
  IMesh,
  IMeshClient,
  INodes,
  IRunDetail,
  IRunPage,
  IRunQuery,
  IVersionInfo,
  MeshApiError
} from './types';
import { IPlot, parsePlots } from './plots';
import { VERSION } from './version';

/** Path of the API under the server's base URL. */
export const API_PATH = 'mesh/api';

/** Header that tells the server which frontend is calling. */
export const VERSION_HEADER = 'X-Mesh-Frontend-Version';

/** Its value: the package version and the API this frontend speaks. */
export const FRONTEND_VERSION = `${VERSION}; api=${API_VERSION}`;

export class MeshApi implements IMeshClient {
  constructor(
    readonly serverSettings: ServerConnection.ISettings = ServerConnection.makeSettings()
  ) {}

  version(): Promise<IVersionInfo> {
    return this._request<IVersionInfo>('version');
  }

  async meshes(): Promise<IMesh[]> {
    const reply = await this._request<{ meshes: IMesh[] }>('meshes');
    return reply.meshes;
  }

  nodes(meshId: string): Promise<INodes> {
    return this._request<INodes>(`meshes/${encodeURIComponent(meshId)}/nodes`);
  }

  runs(query: IRunQuery = {}): Promise<IRunPage> {
    const params: Record<string, string> = {};
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== '') {
        params[key] = String(value);
      }
    }
    return this._request<IRunPage>('runs' + URLExt.objectToQueryString(params));
  }

  run(runId: string): Promise<IRunDetail> {
    return this._request<IRunDetail>(`runs/${encodeURIComponent(runId)}`);
  }

  cancel(runId: string): Promise<ICancelReply> {
    return this._request<ICancelReply>(`runs/${encodeURIComponent(runId)}/cancel`, {
      method: 'POST',
      body: '{}'
    });
  }

  /** The single plots of a mesh's dashboard (through the proxy), favourites first. */
  async plots(meshId: string): Promise<IPlot[]> {
    const reply = await this._request<unknown>(
      `meshes/${encodeURIComponent(meshId)}/dashboard/individual-plots.json`
    );
    return parsePlots(reply);
  }

  /** The URL of the `events` websocket (token appended when Lab does so). */
  eventsUrl(): string {
    const settings = this.serverSettings;
    const query: Record<string, string> = { frontend_version: FRONTEND_VERSION };
    if (settings.token && settings.appendToken) {
      query.token = settings.token;
    }
    return (
      URLExt.join(settings.wsUrl, API_PATH, 'events') + URLExt.objectToQueryString(query)
    );
  }

  private async _request<T>(endpoint: string, init: RequestInit = {}): Promise<T> {
    const url = URLExt.join(this.serverSettings.baseUrl, API_PATH, endpoint);
    const headers = new Headers(init.headers);
    headers.set(VERSION_HEADER, FRONTEND_VERSION);
    if (init.body !== undefined) {
      headers.set('Content-Type', 'application/json');
    }
    let response: Response;
    try {
      // 'no-cache' (always revalidate) rather than Lab's default 'no-store',
      // which appends a bare timestamp parameter the server would have to
      // tell apart from a mistyped filter.
      response = await ServerConnection.makeRequest(
        url,
        { cache: 'no-cache', ...init, headers },
        this.serverSettings
      );
    } catch (error) {
      throw new MeshApiError(0, `cannot reach the Jupyter server: ${String(error)}`);
    }
    const text = await response.text();
    let data: unknown = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!response.ok) {
      throw new MeshApiError(response.status, errorReason(response, data));
    }
    return data as T;
  }
}

/** The `reason` of an error reply, or a readable fallback. */
function errorReason(response: Response, data: unknown): string {
  const error = (data as { error?: { reason?: unknown } } | null)?.error;
  if (error && typeof error.reason === 'string' && error.reason) {
    return error.reason;
  }
  if (response.status === 404) {
    return 'not found (is the mesh_magics server extension enabled?)';
  }
  return `${response.status} ${response.statusText || 'error'}`;
}
