// The agent's Prometheus metrics (issue 12): one registry (prom-client), families pushed by the
// subsystems through the functions below, and families read from the pinned maps at scrape time.
export {
  registry,
  PREFIX,
  setBuildInfo,
  informerHooks,
  observeReconcile,
  observeCniOperation,
  recordVethPool,
  type VethPoolEvent,
  observeDatapathLoad,
  observeDatapathAttach,
  recordConntrackGc,
  type InformerHooks,
  type InformerEventKind,
} from './registry.js';
export { watchDatapath, readMapStats, verdictOf } from './datapath.js';
export { countEntries, hasFillLevel, BATCH } from './map-count.js';
export { scrape, handleMetrics, startMetricsServer, METRICS_PATH, type MetricsServer } from './server.js';
export { parseSamples, fetchMetrics, headline, type ScrapedSample } from './headline.js';
export { watchPolicyStats, readPolicyVerdicts, observePolicyRun, recordMalformedObject, type PolicyRunStats, type PolicyVerdicts } from './policy.js';
