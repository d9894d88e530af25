// Plain-text tables for the inspection commands: left-aligned text, right-aligned numbers,
// two spaces between columns, upper-case headers (kubectl style).
import { PodwireError } from '../errors/index.js';

export type Cell = string | number | bigint | null | undefined;

export function renderTable(headers: string[], rows: Cell[][]): string {
  const text = rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number' || typeof r[i] === 'bigint' || r[i] === null));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...text.map(line)].join('\n');
}

/** JSON with bigints as numbers (counter values stay far below 2^53 in practice). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v), 2);
}

export type OutputFormat = 'text' | 'json';

export function outputFormat(o: string | undefined): OutputFormat {
  if (o === undefined || o === 'text' || o === 'table' || o === 'wide') return 'text';
  if (o === 'json') return 'json';
  throw new PodwireError('USAGE', `-o ${o}: use text or json`);
}
