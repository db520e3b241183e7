import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { FAVOURITE_PLOTS, parsePlots, plotName, plotUrl, plotWidgetId } from '../src/plots';

describe('plots', () => {
  it('names plots as a user reads them', () => {
    assert.equal(plotName('Individual Task Stream'), 'Task Stream');
    assert.equal(plotName('Individual Gpu Utilization'), 'GPU Utilization');
    assert.equal(plotName('Individual Workers Cpu Timeseries'), 'Workers CPU Timeseries');
    assert.equal(plotName('Individual Rmm Memory'), 'RMM Memory');
    assert.equal(plotName('Cluster Map'), 'Cluster Map');
  });

  it('keeps favourites first, the rest by name, and drops paths the proxy would refuse', () => {
    const plots = parsePlots({
      'Individual Workers': '/individual-workers',
      'Individual Progress': '/individual-progress',
      'Individual Task Stream': '/individual-task-stream',
      'Individual Cluster Map': '/statics/individual-cluster-map.html',
      Elsewhere: 'http://evil.example/x',
      Up: '/statics/../../etc/passwd',
      Double: '//evil.example/x',
      Query: '/individual-graph?x=1',
      Number: 3
    });
    assert.deepEqual(
      plots.map(p => p.path),
      ['/individual-task-stream', '/individual-progress', '/statics/individual-cluster-map.html', '/individual-workers']
    );
    assert.equal(FAVOURITE_PLOTS[0], '/individual-task-stream');
  });

  it('reads anything that is not a mapping as no plots', () => {
    assert.deepEqual(parsePlots(null), []);
    assert.deepEqual(parsePlots(['/individual-task-stream']), []);
    assert.deepEqual(parsePlots('x'), []);
  });

  it('builds the proxied URL and a stable pane id', () => {
    assert.equal(
      plotUrl('/user/ann/', 'kernel 1/mesh', '/individual-task-stream'),
      '/user/ann/mesh/api/meshes/kernel%201%2Fmesh/dashboard/individual-task-stream'
    );
    const id = plotWidgetId('abc:1', '/individual-task-stream');
    assert.equal(id, 'mesh-magics-plot-abc-1-individual-task-stream');
    assert.equal(plotWidgetId('abc:1', '/individual-task-stream'), id);
    assert.notEqual(plotWidgetId('abc:2', '/individual-task-stream'), id);
  });
});
