// Smoke-runs the benchmark suite's quick mode on a cheap subset (the same-node topologies and
// the per-packet program cost) so `npm run bench` cannot rot: the bundle runs, every selected
// topology produces every primary metric with a ratio to its limit row, and all four output
// files have the documented shape. It asserts shape, never speed (numbers are not test data).
import { execa } from 'execa';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/assets/index.js';

const bundle = join(packageRoot(), 'build', 'bench', 'index.js');

describe('npm run bench --quick (same-node + prog-cost)', () => {
  let out: string;
  let run: { exitCode?: number; stdout: string; stderr: string };

  beforeAll(async () => {
    if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run \`npm run build\` first`);
    out = await mkdtemp(join(tmpdir(), 'pwbench-'));
    // --no-secondary and 1-second runs keep this well under two minutes
    const r = await execa('node', [bundle, '--quick', '--only', 'same-node,prog-cost', '--no-secondary', '--quiet', '--out', out], {
      reject: false,
      timeout: 150_000,
    });
    run = { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
  }, 170_000);

  afterAll(async () => {
    if (out) await rm(out, { recursive: true, force: true });
  });

  it('exits 0 and prints the table', () => {
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/TOPOLOGY\s+METRIC\s+MEDIAN/);
    expect(run.stdout).toContain('podwire-same-node');
  });

  it('latest.json has {machine, startedAt, rows} with ratios to the limit rows', () => {
    const j = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as {
      machine: { cpuModel: string; kernel: string; node: string };
      startedAt: string;
      rows: Array<{ topology: string; metric: string; unit: string; median: number; min: number; max: number; samples: number; ratio: number | null; ratioTo: string | null }>;
    };
    expect(j.machine.kernel).toBeTruthy();
    expect(Number.isNaN(Date.parse(j.startedAt))).toBe(false);
    for (const r of j.rows) {
      expect(Object.keys(r).sort()).toEqual(['max', 'median', 'metric', 'min', 'ratio', 'ratioTo', 'samples', 'topology', 'unit'].sort());
      expect(r.min).toBeLessThanOrEqual(r.median);
      expect(r.median).toBeLessThanOrEqual(r.max);
      expect(r.samples).toBeGreaterThan(0);
    }
    for (const topology of ['direct', 'bridge', 'routed', 'podwire-same-node', 'floor-same-node']) {
      for (const metric of ['tcp1c_gbps', 'udp64_pps', 'rr_p50_us', 'rr_p99_us']) {
        const row = j.rows.find((r) => r.topology === topology && r.metric === metric);
        expect(row, `${topology} ${metric}`).toBeDefined();
        expect(row!.median).toBeGreaterThan(0);
        expect(row!.ratioTo).toBe('direct');
        expect(row!.ratio).toBeGreaterThan(0);
      }
    }
    for (const path of ['empty', 'from_pod:hit', 'from_pod:miss', 'from_pod:route-native', 'from_pod:route-vxlan', 'from_pod:drop-spoofed', 'from_uplink:hit', 'to_uplink:idle']) {
      const row = j.rows.find((r) => r.topology === path && r.metric === 'ns_per_pkt');
      expect(row, path).toBeDefined();
      expect(row!.ratioTo).toBe('empty');
    }
  });

  it('latest.raw.json keeps every sample and the machine facts', () => {
    const raw = JSON.parse(readFileSync(join(out, 'latest.raw.json'), 'utf8')) as { machine: Record<string, unknown>; samples: Array<{ topology: string; rep: number; value: number }>; errors: unknown[] };
    expect(raw.machine).toHaveProperty('cpuModel');
    expect(raw.machine).toHaveProperty('iperf3');
    expect(raw.samples.length).toBeGreaterThan(16);
    expect(raw.errors).toEqual([]);
  });

  it('writes the Markdown report and the SVG chart', () => {
    const md = readFileSync(join(out, 'latest.md'), 'utf8');
    expect(md).toContain('QUICK run');
    expect(md).toContain('## Targets (issue 5)');
    expect(md).toContain('same node UDP pps ≥ 0.95× direct veth');
    const svg = readFileSync(join(out, 'latest.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('podwire-same-node');
  });
});
