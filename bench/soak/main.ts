// `npm run soak -- --minutes N [--nodes N] [--restart-every S] [--out DIR]`: runs the soak
// (run.ts) and writes DIR/soak-<timestamp>.json and .txt (default bench/results/soak); prints the
// text report. Exit 1 when it found a leak, lost a ping or a churn step failed.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../../src/assets/index.js';
import { runSoak } from './run.js';
import { renderSoak } from './text.js';

function num(flag: string, v: string | undefined, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) {
    process.stderr.write(`--${flag}: expected a number ≥ ${min}, got "${v}"\n`);
    process.exit(2);
  }
  return n;
}

const { values } = parseArgs({
  options: { minutes: { type: 'string' }, nodes: { type: 'string' }, 'restart-every': { type: 'string' }, out: { type: 'string' } },
  strict: true,
});
const minutes = num('minutes', values.minutes, 10, 0.1);
const report = await runSoak({
  minutes,
  nodes: num('nodes', values.nodes, 2, 1),
  restartEveryS: num('restart-every', values['restart-every'], 60, 0),
  log: (l) => process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${l}\n`),
});
const out = values.out ?? join(packageRoot(), 'bench', 'results', 'soak');
await mkdir(out, { recursive: true });
const stamp = report.startedAt.replace(/[:.]/g, '-');
const text = renderSoak(report);
await writeFile(join(out, `soak-${stamp}.json`), `${JSON.stringify(report, null, 2)}\n`);
await writeFile(join(out, `soak-${stamp}.txt`), text);
process.stdout.write(text);
process.stdout.write(`report: ${join(out, `soak-${stamp}.json`)} and .txt\n`);
process.exitCode = report.ok ? 0 : 1;
