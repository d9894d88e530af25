// TLS for the lab API server's TCP listener. It exists for one reason: client-go (kubectl)
// sends bearer tokens only over https (clientcmd reads the user's credentials only when the
// transport is TLS), so a server that requires a token must speak TLS to be usable by kubectl.
// The lab has no CA: a self-signed certificate made with openssl, and kubeconfigs that either
// embed it as certificate-authority-data or set insecure-skip-tls-verify.
import { access, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PodwireError } from '../errors/index.js';
import { run } from '../exec/run.js';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
}

/**
 * Write `apiserver.crt`/`apiserver.key` (EC P-256, 10 years, SANs for every host given and for
 * localhost/127.0.0.1) into `dir`, unless both exist already (a restarted server keeps its cert).
 */
export async function selfSignedCert(dir: string, hosts: readonly string[] = []): Promise<TlsFiles> {
  const certFile = join(dir, 'apiserver.crt');
  const keyFile = join(dir, 'apiserver.key');
  const exists = async (p: string) => access(p).then(() => true, () => false);
  if ((await exists(certFile)) && (await exists(keyFile))) return { certFile, keyFile };
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const names = new Set(['127.0.0.1', 'localhost', ...hosts]);
  const san = [...names].map((h) => (/^[0-9.]+$/.test(h) || h.includes(':') ? `IP:${h}` : `DNS:${h}`)).join(',');
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '3650',
    '-subj', '/CN=podwire-lab-apiserver', '-addext', `subjectAltName=${san}`, '-keyout', keyFile, '-out', certFile,
  ], { timeoutMs: 30_000 });
  return { certFile, keyFile };
}

export async function readTls(files: TlsFiles): Promise<TlsMaterial> {
  const read = async (flag: string, p: string): Promise<Buffer> => {
    try {
      return await readFile(p);
    } catch (e) {
      throw new PodwireError('CONFIG_INVALID', `${flag} ${JSON.stringify(p)} cannot be read (${(e as Error).message}); give a PEM file`, { cause: e });
    }
  };
  return { cert: await read('--tls-cert-file', files.certFile), key: await read('--tls-key-file', files.keyFile) };
}
