/**
 * mesh-magics JupyterLab extension: the "Mesh" side panel and its commands.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { MeshApi } from './api';
import { addCommands } from './commands';
import { EventStream } from './events';
import { meshIcon } from './icons';
import type { IMeshUpOptions } from './meshup';
import { DEFAULT_SETTINGS, IModelSettings, MeshModel } from './model';
import { MeshPanel } from './panel';
import { addPlotPanes, IPlotPanes } from './plotpanes';
import type { IMesh } from './types';

const PLUGIN_ID = 'mesh-magics:plugin';

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'A side panel with every Dask mesh, worker and run, and commands for %%mesh cells.',
  autoStart: true,
  optional: [ICommandPalette, INotebookTracker, ILayoutRestorer, ISettingRegistry],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    tracker: INotebookTracker | null,
    restorer: ILayoutRestorer | null,
    settingRegistry: ISettingRegistry | null
  ) => {
    const api = new MeshApi();
    const model = new MeshModel({ client: api });
    let meshUpOptions: IMeshUpOptions = {};

    let plots: IPlotPanes | null = null;
    const panel = new MeshPanel({
      model,
      openDashboard,
      openPlots: (mesh, anchor) => plots?.openMenu(mesh, anchor)
    });
    panel.title.icon = meshIcon;
    app.shell.add(panel, 'left', { rank: 650, type: 'Mesh' });
    restorer?.add(panel, panel.id);

    const events = new EventStream({
      url: () => api.eventsUrl(),
      onEvent: event => model.handleEvent(event),
      onStatus: status => model.setConnection(status)
    });

    addCommands(app, {
      panel,
      tracker,
      palette,
      meshUpOptions: () => meshUpOptions,
      refresh: () => void model.reload()
    });
    plots = addPlotPanes(app, { api, model, palette, baseUrl: PageConfig.getBaseUrl() });

    if (settingRegistry) {
      settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          const apply = () => {
            model.configure(readModelSettings(settings.composite));
            meshUpOptions = (settings.composite.defaultMeshOptions ?? {}) as IMeshUpOptions;
          };
          apply();
          settings.changed.connect(apply);
        })
        .catch(reason => {
          console.warn('mesh-magics: cannot load settings, using defaults.', reason);
        });
    }

    // The socket opens once the handshake succeeded (at start, or after a
    // refresh once the server extension is fixed).
    model.onChange(() => {
      if (model.compat.state === 'ok' || model.compat.state === 'warning') {
        events.start();
      }
    });
    void app.restored.then(() => model.start());
  }
};

/**
 * Open a mesh's Dask dashboard in a new tab, through the server's proxy
 * (`mesh/api/meshes/<id>/dashboard/status`): it works when the scheduler is only
 * reachable from the Jupyter server (JupyterHub, SSH, Kubernetes), and the server
 * only ever contacts dashboards listed in the registry.
 */
export function dashboardUrl(mesh: IMesh, baseUrl: string = PageConfig.getBaseUrl()): string | null {
  if (!mesh.dashboard_link) {
    return null;
  }
  const base = new URL(baseUrl, window.location.href);
  return new URL(`mesh/api/meshes/${encodeURIComponent(mesh.id)}/dashboard/status`, base).href;
}

function openDashboard(mesh: IMesh): void {
  const url = dashboardUrl(mesh);
  if (url) {
    window.open(url, '_blank', 'noopener');
  }
}

function readModelSettings(composite: Record<string, unknown>): Partial<IModelSettings> {
  const number = (key: keyof IModelSettings): number => {
    const value = composite[key];
    return typeof value === 'number' && Number.isFinite(value) ? value : DEFAULT_SETTINGS[key];
  };
  return {
    refreshInterval: number('refreshInterval'),
    nodeRefreshInterval: number('nodeRefreshInterval'),
    historyPageSize: Math.max(5, Math.floor(number('historyPageSize')))
  };
}

export default plugin;
