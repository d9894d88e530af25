// Entry of the test CNI server process (see cni-server-proc.ts): serve until SIGTERM.
import { startCniServer } from '../../src/agent/cni-server.js';

const path = process.argv[2];
if (!path) throw new Error('usage: cni-server-main.ts SOCKET');
// PODWIRE_TEST_VETH_POOL={"size":N,"pinDir":…,"mtu":…,"idleMs":…}: the warm veth pool (pool tests)
const pool = process.env['PODWIRE_TEST_VETH_POOL'];
const server = await startCniServer({ path, ...(pool ? { vethPool: JSON.parse(pool) as { size: number; pinDir: string; mtu: number; idleMs?: number } } : {}) });
process.stdout.write(`listening ${server.path}\n`);
process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
