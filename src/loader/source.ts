// Where the datapath's C sources live at run time. The agent compiles at start (node-specific
// -D constants), so the sources ship next to the code; src/assets decides where that is (the
// repo today, embedded assets in a self-contained binary later).
export { packageRoot, bpfSourceDir as datapathSourceDir } from '../assets/index.js';
