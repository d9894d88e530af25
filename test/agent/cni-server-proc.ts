// A CNI server in its own process, inside a node namespace (Node cannot setns, and ADD creates
// the host veth in the namespace of the process that serves it): the agent's CNI endpoint
// without the rest of the agent. Started by the CNI server and shim tests; stopped by PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { packageRoot } from '../../src/assets/index.js';

export interface ServerProc {
  child: ChildProcess;
  socket: string;
  stop(): Promise<void>;
}

export interface Reply {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Send one raw request and read the whole reply (the protocol the shim speaks). */
export function rawRequest(socket: string, body: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(socket);
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    s.on('error', reject);
    s.end(body);
  });
}

export async function request(socket: string, env: Record<string, string | undefined>, stdin: string): Promise<Reply> {
  return JSON.parse(await rawRequest(socket, JSON.stringify({ env, stdin }))) as Reply;
}

/** Start the server at `socket` inside the namespace `netnsPath`; resolves once it answers. */
export async function startServerProc(netnsPath: string, socket: string, env: Record<string, string> = {}): Promise<ServerProc> {
  const root = packageRoot();
  const child = spawn('nsenter', [`--net=${netnsPath}`, '--', join(root, 'node_modules/.bin/vite-node'), join(root, 'test/agent/cni-server-main.ts'), socket], {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: root,
    env: { ...process.env, ...env },
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(child.pid, 'SIGTERM');
    // A server whose event loop is frozen never runs its SIGTERM handler: kill it after a bound.
    const t = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
    }, 15_000);
    await exited;
    clearTimeout(t);
  };
  // bounded: 200 attempts (vite-node compiles the modules first)
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`CNI server process exited (${child.exitCode}):\n${output}`);
    const ok = await request(socket, { CNI_COMMAND: 'VERSION' }, '').then(() => true, () => false);
    if (ok) return { child, socket, stop };
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error(`CNI server at ${socket} did not answer:\n${output}`);
}
