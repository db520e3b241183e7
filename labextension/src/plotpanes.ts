/**
 * The panes of single dashboard plots (see `plots.ts`): a command that opens
 * one plot of one mesh beside the notebook, the panel's "Plots" menu, and a
 * palette entry for the selected mesh.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { ICommandPalette, IFrame, InputDialog, MainAreaWidget } from '@jupyterlab/apputils';
import { Menu } from '@lumino/widgets';

import type { MeshApi } from './api';
import { meshIcon } from './icons';
import type { MeshModel } from './model';
import { IPlot, plotUrl, plotWidgetId } from './plots';
import type { IMesh } from './types';

export namespace PlotCommandIDs {
  /** args: `mesh` (id), `path` (on the dashboard), `name` (pane title). */
  export const openPlot = 'mesh-magics:open-plot';
  /** Pick a plot of the selected mesh. */
  export const pickPlot = 'mesh-magics:pick-plot';
}

/** The CSS class of a plot pane (tests and themes find them by it). */
export const PLOT_CLASS = 'jp-MeshPlot';

export interface IPlotPanes {
  /** Show the plots of `mesh` in a menu at `anchor`. */
  openMenu(mesh: IMesh, anchor: HTMLElement): void;
}

export function addPlotPanes(
  app: JupyterFrontEnd,
  options: { api: MeshApi; model: MeshModel; palette: ICommandPalette | null; baseUrl: string }
): IPlotPanes {
  const { commands, shell } = app;
  const { api, model } = options;

  const openPane = (meshId: string, path: string, name: string) => {
    const id = plotWidgetId(meshId, path);
    for (const widget of shell.widgets('main')) {
      if (widget.id === id) {
        shell.activateById(id);
        return widget;
      }
    }
    const frame = new IFrame({
      // the Bokeh page needs its scripts, and its websocket on the server's origin
      sandbox: ['allow-scripts', 'allow-same-origin']
    });
    frame.url = plotUrl(options.baseUrl, meshId, path);
    const pane = new MainAreaWidget({ content: frame });
    pane.id = id;
    pane.addClass(PLOT_CLASS);
    pane.node.dataset.meshId = meshId;
    pane.node.dataset.plot = path;
    const mesh = model.meshes.find(m => m.id === meshId);
    pane.title.label = name;
    pane.title.caption = `${name}: Dask plot of ${mesh?.scheduler_address ?? meshId}`;
    pane.title.icon = meshIcon;
    pane.title.closable = true;
    shell.add(pane, 'main', { mode: 'split-right' });
    shell.activateById(id);
    return pane;
  };

  commands.addCommand(PlotCommandIDs.openPlot, {
    label: args => (args.name ? `Open ${String(args.name)}` : 'Open a Dask plot'),
    caption: 'Open one plot of a mesh’s Dask dashboard as a pane',
    icon: meshIcon,
    execute: args => {
      const meshId = String(args.mesh ?? model.selectedMesh?.id ?? '');
      const path = String(args.path ?? '');
      if (!meshId || !path) {
        throw new Error(`${PlotCommandIDs.openPlot} needs a mesh and a plot path`);
      }
      return openPane(meshId, path, String(args.name ?? path));
    }
  });

  const plotsOf = async (mesh: IMesh): Promise<IPlot[]> => {
    try {
      return await api.plots(mesh.id);
    } catch (error) {
      model.notify('error', `Dask plots of ${mesh.scheduler_address}: ${String(error)}`);
      return [];
    }
  };

  commands.addCommand(PlotCommandIDs.pickPlot, {
    label: 'Open a Dask plot of the selected mesh',
    icon: meshIcon,
    isEnabled: () => !!model.selectedMesh?.dashboard_link,
    execute: async () => {
      const mesh = model.selectedMesh;
      if (!mesh) {
        return;
      }
      const plots = await plotsOf(mesh);
      if (!plots.length) {
        return;
      }
      const picked = await InputDialog.getItem({
        title: `Dask plot of ${mesh.scheduler_address}`,
        items: plots.map(p => p.name)
      });
      const plot = plots.find(p => p.name === picked.value);
      if (picked.button.accept && plot) {
        openPane(mesh.id, plot.path, plot.name);
      }
    }
  });
  options.palette?.addItem({ command: PlotCommandIDs.pickPlot, category: 'Mesh' });

  return {
    openMenu: (mesh, anchor) => {
      void plotsOf(mesh).then(plots => {
        if (!plots.length) {
          return;
        }
        const menu = new Menu({ commands });
        menu.addClass('jp-MeshPlotMenu');
        for (const plot of plots) {
          menu.addItem({
            command: PlotCommandIDs.openPlot,
            args: { mesh: mesh.id, path: plot.path, name: plot.name }
          });
        }
        const box = anchor.getBoundingClientRect();
        menu.open(box.left, box.bottom);
        menu.aboutToClose.connect(() => setTimeout(() => menu.dispose(), 0));
      });
    }
  };
}

