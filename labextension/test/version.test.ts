import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { VERSION } from '../src/version';

// build-test/test/ → labextension/
const ROOT = join(__dirname, '..', '..');

describe('version', () => {
  it('matches package.json', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf-8'));
    assert.equal(VERSION, pkg.version);
  });

  it('matches the Python package (mesh_magics/_version.py)', () => {
    const text = readFileSync(join(ROOT, '..', 'mesh_magics', '_version.py'), 'utf-8');
    const match = /__version__\s*=\s*["']([^"']+)["']/.exec(text);
    assert.ok(match, '__version__ not found');
    assert.equal(VERSION, match[1]);
  });
});
