/**
 * The text of the cells the commands insert (plain TypeScript, unit-tested).
 */

/** `defaultMeshOptions` in the settings schema. */
export interface IMeshUpOptions {
  workers?: number | null;
  threads?: number | null;
  memoryLimit?: string | null;
  kind?: 'auto' | 'cpu' | 'gpu';
}

/** `%mesh up` with its options, e.g. `%mesh up --workers 2 --cpu`. */
export function meshUpLine(options: IMeshUpOptions = {}): string {
  const parts = ['%mesh up'];
  if (options.workers) {
    parts.push(`--workers ${Math.floor(options.workers)}`);
  }
  if (options.threads) {
    parts.push(`--threads ${Math.floor(options.threads)}`);
  }
  if (options.memoryLimit && /^[\w.]+$/.test(options.memoryLimit)) {
    parts.push(`--memory-limit ${options.memoryLimit}`);
  }
  if (options.kind === 'cpu' || options.kind === 'gpu') {
    parts.push(`--${options.kind}`);
  }
  return parts.join(' ');
}

/**
 * The source of the `%mesh up` cell. It always loads the extension first: the
 * frontend cannot know whether the kernel restarted since, and loading twice
 * only prints a note.
 */
export function meshUpSource(options: IMeshUpOptions = {}): string {
  return `%load_ext mesh_magics\n${meshUpLine(options)}`;
}
