// NetworkPolicy: API objects -> compact records -> compiled map contents -> pinned maps.
export type * from './types.js';
export { compilePolicy, EP_F_EGRESS_ISOLATED, EP_F_INGRESS_ISOLATED, POL_SLOTS, SET_HOST } from './compile.js';
export { parsePolicy, podRecord, namespaceRecord } from './parse.js';
export { PolicyWriter, type ApplyStats } from './writer.js';
export { writePolicyModel, readPolicyModel, POLICY_MODEL_FILE, type PolicyModel, type PolicyModelExtra } from './model.js';
export { LivePolicy } from './live.js';
export { PolicyEvaluator, SLOT_DENY, SLOT_HOST } from './evaluate.js';
export { policyNames, policyNamesFromStateDir } from './names.js';
export { PodStore, PodOverlay, localPodsOf, type PodSource } from './pod-store.js';
