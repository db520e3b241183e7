/**
 * Small formatters shared by the panel's views (plain TypeScript, unit-tested).
 */
import { toMillis } from './model';
import type { IRun } from './types';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** `1536` → `1.5 KiB`. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) {
    return '–';
  }
  let value = Math.max(0, bytes);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

/** A fraction in [0, 1] of `used` over `total`, or null when unknown. */
export function fraction(
  used: number | null | undefined,
  total: number | null | undefined
): number | null {
  if (!used && used !== 0) {
    return null;
  }
  if (!total || total <= 0) {
    return null;
  }
  return Math.min(1, Math.max(0, used / total));
}

/** `65` → `1m 05s`; `3.2` → `3.2s`. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) {
    return '–';
  }
  const s = Math.max(0, seconds);
  if (s < 10) {
    return `${s.toFixed(1)}s`;
  }
  if (s < 60) {
    return `${Math.round(s)}s`;
  }
  const minutes = Math.floor(s / 60);
  const rest = Math.round(s % 60);
  if (minutes < 60) {
    return `${minutes}m ${String(rest).padStart(2, '0')}s`;
  }
  const hours = Math.floor(minutes / 60);
  return `${hours}h ${String(minutes % 60).padStart(2, '0')}m`;
}

/** Seconds a run has taken so far (running) or took (ended). */
export function runElapsed(run: IRun, now: number = Date.now()): number | null {
  const start = toMillis(run.started) ?? toMillis(run.submitted);
  if (start === null) {
    return null;
  }
  const end = toMillis(run.finished) ?? now;
  return Math.max(0, (end - start) / 1000);
}

/** `2026-01-01T12:00:00Z` → `12:00:00` today, else `2026-01-01 12:00`. */
export function formatTime(
  value: number | string | null | undefined,
  now: number = Date.now()
): string {
  const ms = toMillis(value);
  if (ms === null) {
    return '–';
  }
  const date = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  const clock = `${pad(date.getHours())}:${pad(date.getMinutes())}`;
  const today = new Date(now);
  if (date.toDateString() === today.toDateString()) {
    return `${clock}:${pad(date.getSeconds())}`;
  }
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${clock}`;
}

/** A run's label: its name, else the first non-magic line of its source. */
export function runLabel(run: IRun): string {
  if (run.name) {
    return run.name;
  }
  const line = (run.source ?? '')
    .split('\n')
    .map(l => l.trim())
    .find(l => l && !l.startsWith('%%'));
  if (!line) {
    return run.id;
  }
  return line.length > 60 ? `${line.slice(0, 57)}…` : line;
}

/** Targets as shown: a list, or the JSON text the history stores. */
export function formatTargets(targets: IRun['targets']): string {
  let list: unknown = targets;
  if (typeof targets === 'string') {
    try {
      list = JSON.parse(targets);
    } catch {
      return targets;
    }
  }
  if (Array.isArray(list)) {
    return list.length ? list.map(String).join(', ') : 'any worker';
  }
  return '–';
}

/** A mark beside a run's label: what the run was beyond a plain cell. */
export interface IRunBadge {
  kind: 'batch' | 'cached';
  text: string;
  title: string;
}

/** The item counts of a batch run (`summary.batch`), or null for any other run. */
export function batchCounts(run: IRun): Record<string, number> | null {
  const summary = run.summary;
  const batch = summary && typeof summary === 'object' ? (summary as Record<string, unknown>).batch : null;
  if (!batch || typeof batch !== 'object') {
    return null;
  }
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(batch as Record<string, unknown>)) {
    if (typeof value === 'number' && Number.isFinite(value)) {
      out[key] = value;
    }
  }
  return typeof out.items === 'number' ? out : null;
}

/**
 * The badges of a run: `batch 7/10` for a `%%mesh map` batch (items finished of all;
 * the title counts every status), `cached` for a run served from the result cache.
 */
export function runBadges(run: IRun): IRunBadge[] {
  const badges: IRunBadge[] = [];
  const counts = batchCounts(run);
  if (counts) {
    const parts = Object.entries(counts)
      .filter(([key, n]) => key !== 'items' && n > 0)
      .map(([key, n]) => `${n} ${key}`);
    badges.push({
      kind: 'batch',
      text: `batch ${counts.finished ?? 0}/${counts.items}`,
      title: `Batch of ${counts.items} item${counts.items === 1 ? '' : 's'}${parts.length ? `: ${parts.join(', ')}` : ''}`
    });
  }
  if (typeof run.cached_from === 'string' && run.cached_from) {
    badges.push({
      kind: 'cached',
      text: 'cached',
      title: `Served from the result cache: replays run ${run.cached_from} (nothing ran on the mesh)`
    });
  }
  return badges;
}

/** One item of a batch as its detail lists it (`summary.items`). */
export interface IBatchItem {
  index: number;
  status: string;
  attempts: number | null;
  worker: string | null;
  duration: number | null;
  error: string | null;
}

/** A batch run's per-item outcomes from its detail, in item order; [] for any other run. */
export function batchItems(summary: unknown): IBatchItem[] {
  const items = summary && typeof summary === 'object' ? (summary as Record<string, unknown>).items : null;
  if (!Array.isArray(items)) {
    return [];
  }
  const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const str = (v: unknown): string | null => (typeof v === 'string' && v ? v : null);
  return items
    .filter((it): it is Record<string, unknown> => !!it && typeof it === 'object' && num((it as Record<string, unknown>).index) !== null)
    .map(it => ({
      index: num(it.index) as number,
      status: str(it.status) ?? 'unknown',
      attempts: num(it.attempts),
      worker: str(it.worker),
      duration: num(it.duration),
      error: str(it.error)
    }))
    .sort((a, b) => a.index - b.index);
}
