// Putting podwire on a node and taking it off: the atomic CNI binary install the DaemonSet's
// init container runs, and the uninstall that removes everything podwire left on a node.
export { installCni, tempName, CNI_BIN_NAME, CNI_FULL_BIN_NAME, type InstallCniOptions, type InstallCniResult, type InstalledFile } from './cni-bin.js';
export { uninstall, type UninstallOptions, type UninstallResult, type Removed } from './uninstall.js';
