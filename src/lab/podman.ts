// Driving a real runtime (podman with its CNI backend) inside a lab namespace, with private
// storage and config so nothing touches the machine's own podman state: the facts from
// shared/recipes/real-runtimes.md in one place, for the tests and anyone poking at a lab.
import { chmod, copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../exec/run.js';

export const BUSYBOX_APPLETS = ['sh', 'ping', 'nc', 'sleep', 'cat', 'echo', 'ip', 'true', 'ifconfig'];

/** A registry-free image: busybox-static plus applet links, as a rootfs tar for `podman import`. */
export async function busyboxRootfsTar(dir: string): Promise<string> {
  const rootfs = join(dir, 'rootfs');
  await mkdir(join(rootfs, 'bin'), { recursive: true });
  await copyFile('/bin/busybox', join(rootfs, 'bin/busybox'));
  await chmod(join(rootfs, 'bin/busybox'), 0o755);
  for (const a of BUSYBOX_APPLETS) await symlink('busybox', join(rootfs, 'bin', a));
  const tar = join(dir, 'rootfs.tar');
  await run('tar', ['-C', rootfs, '-cf', tar, '.']);
  return tar;
}

export interface PrivatePodman {
  run(args: string[], opts?: { reject?: boolean }): ReturnType<typeof run>;
}

/**
 * podman confined to `dir` (storage, run root, tmp, containers.conf) and run inside `netnsPath`
 * (the node's host namespace: CNI plugins it execs create host veths there). crun fails on this
 * VM's cgroup layout, hence runc + cgroupfs; the ulimits are needed without CAP_SYS_RESOURCE.
 */
export async function privatePodman(opts: { dir: string; netnsPath: string; confDir: string; pluginDirs: string[]; timeoutMs?: number }): Promise<PrivatePodman> {
  await mkdir(opts.dir, { recursive: true });
  const conf = join(opts.dir, 'containers.conf');
  await writeFile(conf, [
    '[containers]',
    'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]',
    '[network]',
    'network_backend = "cni"',
    `network_config_dir = "${opts.confDir}"`,
    `cni_plugin_dirs = [${opts.pluginDirs.map((d) => JSON.stringify(d)).join(', ')}]`,
    '[engine]',
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    'runtime = "runc"',
    '',
  ].join('\n'));
  const storage = ['--root', join(opts.dir, 'root'), '--runroot', join(opts.dir, 'runroot'), '--storage-driver', 'vfs', '--tmpdir', join(opts.dir, 'tmp')];
  return {
    run: (args, o = {}) =>
      run('env', [`CONTAINERS_CONF=${conf}`, 'podman', ...storage, ...args], { netns: opts.netnsPath, timeoutMs: opts.timeoutMs ?? 90_000, reject: o.reject }),
  };
}
