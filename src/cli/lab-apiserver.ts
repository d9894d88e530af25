// `podwire lab apiserver --listen HOST:PORT [--cluster-cidr CIDR] [--service-cidr CIDR]
// [--service-node-port-range MIN-MAX] [--token-file PATH] [--tls-cert-file PATH --tls-key-file PATH
// | --tls-dir DIR]`: the lab's Kubernetes API server as a background process. It prints one JSON
// line {"url":…} (plus "caFile" when it serves TLS) once it accepts connections (so a parent can
// wait for exactly that line) and runs until SIGTERM or SIGINT.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { PodwireError } from '../errors/index.js';

function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):([0-9]{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new PodwireError('USAGE', `--listen ${JSON.stringify(text)} is not HOST:PORT; use e.g. 127.0.0.1:6443 (port 0 picks a free one)`);
  }
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

function parseIntOption(name: string) {
  return (v: string): number => {
    if (!/^[0-9]+$/.test(v)) throw new PodwireError('USAGE', `${name} ${JSON.stringify(v)} is not a whole number`);
    return Number(v);
  };
}

/** The token file holds one token (surrounding whitespace and a trailing newline are ignored). */
async function readToken(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new PodwireError('CONFIG_INVALID', `--token-file ${JSON.stringify(path)} cannot be read (${(e as Error).message}); give a file holding the bearer token`, { cause: e });
  }
  const token = text.trim();
  if (token === '' || /\s/.test(token)) {
    throw new PodwireError('CONFIG_INVALID', `--token-file ${JSON.stringify(path)} must hold exactly one token without whitespace; found ${token === '' ? 'nothing' : 'several words'}`);
  }
  return token;
}

export function registerLabApiserver(lab: Command): void {
  lab
    .command('apiserver')
    .description('run the lab\'s Kubernetes-API-compatible server (Nodes, Pods, Namespaces, Services, EndpointSlices, NetworkPolicies) until SIGTERM')
    .option('--listen <host:port>', 'address to listen on', '127.0.0.1:0')
    .option('--cluster-cidr <cidr>', 'cluster CIDR node podCIDRs are assigned from', '10.244.0.0/16')
    .option('--node-cidr-mask-size <bits>', 'prefix length of each node podCIDR', parseIntOption('--node-cidr-mask-size'), 24)
    .option('--history <events>', 'watch history kept for replay (older versions get 410)', parseIntOption('--history'), 1000)
    .option('--socket <path>', 'also serve on this Unix socket (the lab orchestrator\'s channel; faults do not apply)')
    .option('--service-cidr <cidr>', 'range Service ClusterIPs are allocated from', '10.96.0.0/12')
    .option('--service-node-port-range <min-max>', 'range Service NodePorts are allocated from', '30000-32767')
    .option('--token-file <path>', 'require "Authorization: Bearer <token>" on the TCP listener (health checks and the --socket channel excepted)')
    .option('--tls-cert-file <path>', 'serve https with this PEM certificate (kubectl sends tokens only over TLS)')
    .option('--tls-key-file <path>', 'the PEM private key of --tls-cert-file')
    .option('--tls-dir <dir>', 'serve https with a self-signed apiserver.crt/apiserver.key in DIR (made with openssl when missing, SANs for the --listen host)')
    .action(async (o: {
      listen: string; clusterCidr: string; nodeCidrMaskSize: number; history: number; socket?: string;
      serviceCidr: string; serviceNodePortRange: string; tokenFile?: string; tlsCertFile?: string; tlsKeyFile?: string; tlsDir?: string;
    }) => {
      const { startApiServer } = await import('../apiserver/index.js');
      const { host, port } = parseListen(o.listen);
      const token = o.tokenFile === undefined ? undefined : await readToken(o.tokenFile);
      if ((o.tlsCertFile === undefined) !== (o.tlsKeyFile === undefined)) {
        throw new PodwireError('USAGE', '--tls-cert-file and --tls-key-file go together; give both (e.g. from `openssl req -x509 …`) or neither');
      }
      if (o.tlsDir !== undefined && o.tlsCertFile !== undefined) {
        throw new PodwireError('USAGE', '--tls-dir and --tls-cert-file/--tls-key-file are alternatives; give one of them');
      }
      const { readTls, selfSignedCert } = await import('../apiserver/tls.js');
      const files = o.tlsCertFile && o.tlsKeyFile ? { certFile: o.tlsCertFile, keyFile: o.tlsKeyFile }
        : o.tlsDir !== undefined ? await selfSignedCert(o.tlsDir, host === '' || host === '0.0.0.0' ? [] : [host])
        : undefined;
      const tls = files ? await readTls(files) : undefined;
      if (token !== undefined && !tls) {
        process.stderr.write('podwire lab apiserver: --token-file without --tls-cert-file: kubectl will not send the token over plain http (client-go sends credentials only over TLS)\n');
      }
      const server = await startApiServer({
        host,
        port,
        clusterCIDR: o.clusterCidr,
        nodeCIDRMaskSize: o.nodeCidrMaskSize,
        historyLimit: o.history,
        socketPath: o.socket,
        serviceCIDR: o.serviceCidr,
        serviceNodePortRange: o.serviceNodePortRange,
        token,
        tls,
      });
      process.stdout.write(`${JSON.stringify({ url: server.url, ...(files ? { caFile: files.certFile } : {}) })}\n`);
      await new Promise<void>((resolve) => {
        const done = (): void => {
          process.off('SIGTERM', done);
          process.off('SIGINT', done);
          resolve();
        };
        process.on('SIGTERM', done);
        process.on('SIGINT', done);
      });
      await server.stop();
    });
}
