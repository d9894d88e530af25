// The lab kube-proxy: kube-proxy's own rule layout (iptables or nftables mode) programmed from
// Services and EndpointSlices, so the lab exercises podwire against the NAT a real node has.
export { runKubeProxy, type KubeProxyOptions } from './proxy.js';
export { readKubeProxyConfig, parseDurationMs, type KubeProxyConfig, type KubeProxyFlags, DEFAULT_CLUSTER_CIDR } from './config.js';
export { buildServicePorts, servicePortName, type ServicePort, type Endpoint, type Protocol } from './model.js';
export { renderIptables, JUMP_RULES, MASQ_MARK, probability, type IptablesRender } from './iptables.js';
export { renderNftables, NFT_TABLE, type NftablesRender } from './nftables.js';
export { applyRules, staleUdpFlows, type ProxyMode, type ApplyResult } from './apply.js';
export { portProtoHash, iptSvcChain, iptSepChain, iptExtChain, nftSvcChain, nftEpChain, nftExtChain, nftAffinitySet } from './names.js';
