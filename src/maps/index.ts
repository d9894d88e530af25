// Typed access to the datapath's pinned maps. Kept light: the CNI ADD path imports it.
export { type Endpoint, encodeEndpointKey, encodeEndpoint, decodeEndpoint, decodeEndpointKey, macBytes, ipv4Bytes, formatMac } from './codec.js';
export { type EndpointsMap, openEndpoints } from './endpoints.js';
export { type CounterRow, type CountersMap, openCounters, reasonNames, directionNames } from './counters.js';
export { type Route, type RouteKind, type RoutesMap, openRoutes, encodeRouteKey, decodeRouteKey, encodeRoute, decodeRoute } from './routes.js';
export { type NodeConfig, type NodeConfigMap, type DatapathMode, type VxlanDatapathKind, openNodeConfig, encodeNodeConfig, decodeNodeConfig } from './node-config.js';
export { openPinnedMap, possibleCpus, type MapName } from './open.js';
export * as layouts from './generated/layouts.js';
export {
  type CtKey,
  type CtEntry,
  type CtKind,
  type CtOrigin,
  type ConntrackMap,
  type CtTimeouts,
  DEFAULT_CT_TIMEOUTS,
  openConntrack,
  encodeCtKey,
  decodeCtKey,
  encodeCtEntry,
  CT_F_REPLY,
  decodeCtEntry,
  monotonicNs,
  protoName,
} from './conntrack.js';
export {
  type Failsafe,
  type PrefilterMap,
  type FailsafeMap,
  openPrefilter,
  openFailsafe,
  canonicalCidr,
  encodePrefilterKey,
  decodePrefilterKey,
  encodeFailsafeKey,
  decodeFailsafeKey,
  formatFailsafe,
} from './prefilter.js';
