import { LabIcon } from '@jupyterlab/ui-components';

/** Four nodes in a mesh: the sidebar tab and the toolbar buttons. */
const MESH_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161" stroke="#616161">
    <path fill="none" stroke-width="1.6" d="M5 5 L19 5 L19 19 L5 19 Z M5 5 L19 19"/>
    <circle cx="5" cy="5" r="3" stroke="none"/><circle cx="19" cy="5" r="3" stroke="none"/>
    <circle cx="5" cy="19" r="3" stroke="none"/><circle cx="19" cy="19" r="3" stroke="none"/>
  </g>
</svg>`;

const MESH_CELL_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M3 4h12v2H3zM3 9h8v2H3zM3 14h8v2H3z"/>
    <circle cx="16" cy="15" r="2.2"/><circle cx="21" cy="11" r="2.2"/><circle cx="21" cy="19" r="2.2"/>
    <path d="M16 15 21 11M16 15 21 19M21 11v8" stroke="#616161" stroke-width="1.4" fill="none"/>
  </g>
</svg>`;

export const meshIcon = new LabIcon({ name: 'mesh-magics:mesh', svgstr: MESH_SVG });
export const meshCellIcon = new LabIcon({ name: 'mesh-magics:mesh-cell', svgstr: MESH_CELL_SVG });
