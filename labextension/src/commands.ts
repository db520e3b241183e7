/**
 * Commands: insert a `%%mesh` cell, start a mesh in the current kernel, open
 * the panel. `%mesh up` goes through a visible cell the user can read and
 * re-run (a normal execute request), never through hidden kernel code.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { Widget } from '@lumino/widgets';

import { meshCellIcon, meshIcon } from './icons';
import { IMeshUpOptions, meshUpSource } from './meshup';

export namespace CommandIDs {
  export const openPanel = 'mesh-magics:open-panel';
  export const insertCell = 'mesh-magics:insert-cell';
  export const meshUp = 'mesh-magics:mesh-up';
  export const refresh = 'mesh-magics:refresh';
}

export interface ICommandsOptions {
  panel: Widget;
  tracker: INotebookTracker | null;
  palette: ICommandPalette | null;
  meshUpOptions(): IMeshUpOptions;
  refresh(): void;
}

export function addCommands(app: JupyterFrontEnd, options: ICommandsOptions): void {
  const { commands, shell } = app;
  const { tracker, panel } = options;
  const category = 'Mesh';

  const current = (): NotebookPanel | null => tracker?.currentWidget ?? null;
  const hasNotebook = () => current() !== null;

  commands.addCommand(CommandIDs.openPanel, {
    label: 'Open the Mesh Panel',
    caption: 'Show every mesh, worker and run',
    icon: meshIcon,
    execute: () => {
      shell.activateById(panel.id);
    }
  });

  commands.addCommand(CommandIDs.refresh, {
    label: 'Refresh the Mesh Panel',
    execute: () => options.refresh()
  });

  commands.addCommand(CommandIDs.insertCell, {
    label: 'Insert a %%mesh Cell',
    caption: 'Insert a cell that runs on the mesh (%%mesh)',
    icon: args => (args.toolbar ? meshCellIcon : undefined),
    isEnabled: hasNotebook,
    execute: () => {
      const notebook = current();
      if (!notebook) {
        return;
      }
      const content = notebook.content;
      NotebookActions.insertBelow(content);
      NotebookActions.changeCellType(content, 'code');
      const cell = content.activeCell;
      if (cell) {
        cell.model.sharedModel.setSource('%%mesh\n');
        content.mode = 'edit';
        cell.editor?.setCursorPosition({ line: 1, column: 0 });
      }
    }
  });

  commands.addCommand(CommandIDs.meshUp, {
    label: 'Start a Mesh in This Kernel (%mesh up)',
    caption: 'Insert and run a visible “%mesh up” cell in the current notebook',
    icon: args => (args.toolbar ? meshIcon : undefined),
    isEnabled: hasNotebook,
    execute: async args => {
      const notebook = current();
      if (!notebook) {
        return;
      }
      await notebook.sessionContext.ready;
      const content = notebook.content;
      const settings = { ...options.meshUpOptions() };
      if (typeof args.workers === 'number') {
        settings.workers = args.workers;
      }
      NotebookActions.insertBelow(content);
      NotebookActions.changeCellType(content, 'code');
      content.activeCell?.model.sharedModel.setSource(meshUpSource(settings));
      await NotebookActions.run(content, notebook.sessionContext);
      shell.activateById(panel.id);
    }
  });

  if (options.palette) {
    for (const command of [
      CommandIDs.openPanel,
      CommandIDs.insertCell,
      CommandIDs.meshUp,
      CommandIDs.refresh
    ]) {
      options.palette.addItem({ command, category });
    }
  }
}
