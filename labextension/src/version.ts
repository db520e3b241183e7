/**
 * The version of this frontend, sent to the server on every request.
 *
 * Kept equal to `package.json` and `mesh_magics/_version.py` by a unit test
 * (`test/version.test.ts`).
 */
export const VERSION = '0.1.0';
