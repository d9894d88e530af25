// The facts a reader needs to judge the numbers: CPU, cores, kernel, tool versions, and the
// settings that move forwarding figures by tens of percent (mitigations, frequency governor).
import { readFileSync } from 'node:fs';
import { cpus, totalmem, hostname } from 'node:os';
import { run } from '../src/exec/run.js';

export interface Machine {
  hostname: string;
  cpuModel: string;
  cpus: number;
  memoryMB: number;
  kernel: string;
  os: string;
  node: string;
  iperf3: string;
  sockperf: string;
  clang: string;
  bpftool: string;
  mitigations: string;
  bpfJit: string;
}

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

async function firstLine(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args, { reject: false }).catch(() => undefined);
  return (r ? `${r.stdout}\n${r.stderr}` : '').trim().split('\n')[0]?.trim() || 'unknown';
}

export async function machineFacts(): Promise<Machine> {
  const osRelease = read('/etc/os-release');
  const pretty = /PRETTY_NAME="?([^"\n]+)"?/.exec(osRelease)?.[1] ?? 'unknown';
  const vulns = (() => {
    try {
      const dir = '/sys/devices/system/cpu/vulnerabilities';
      return ['spectre_v2', 'meltdown', 'retbleed'].map((n) => `${n}: ${read(`${dir}/${n}`)}`).join('; ');
    } catch {
      return 'unknown';
    }
  })();
  return {
    hostname: hostname(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cpus: cpus().length,
    memoryMB: Math.round(totalmem() / 2 ** 20),
    kernel: read('/proc/sys/kernel/osrelease'),
    os: pretty,
    node: process.version,
    iperf3: await firstLine('iperf3', ['--version']),
    sockperf: (await firstLine('sockperf', ['--version'])).replace(/\u001b\[[0-9;]*m/g, ''),
    clang: await firstLine('clang-16', ['--version']),
    bpftool: await firstLine('bpftool', ['version']),
    mitigations: vulns,
    bpfJit: read('/proc/sys/net/core/bpf_jit_enable'),
  };
}
