// Entry of the test CNI server process (see cni-server-proc.ts): serve until SIGTERM.
import { startCniServer } from '../../src/agent/cni-server.js';

const path = process.argv[2];
if (!path) throw new Error('usage: cni-server-main.ts SOCKET');
const server = await startCniServer({ path });
process.stdout.write(`listening ${server.path}\n`);
process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
