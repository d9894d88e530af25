// The terminal table: one line per row with the median, min–max, sample count and the ratio
// to its limit row.
import type { Row } from '../results.js';
import { fmt } from './targets.js';

export function renderTable(rows: Row[]): string {
  const head = ['TOPOLOGY', 'METRIC', 'MEDIAN', 'MIN–MAX', 'N', 'RATIO'];
  const body = rows.map((r) => [
    r.topology,
    r.metric,
    `${fmt(r.median)} ${r.unit}`,
    `${fmt(r.min)}–${fmt(r.max)}`,
    String(r.samples),
    r.ratio === null ? '' : `${r.ratio.toFixed(3)}× ${r.ratioTo}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 2 && i <= 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const out = [line(head), widths.map((w) => '─'.repeat(w)).join('  ')];
  for (let i = 0; i < rows.length; i++) {
    if (i > 0 && rows[i - 1]!.topology !== rows[i]!.topology) out.push('');
    out.push(line(body[i]!));
  }
  return out.join('\n');
}
