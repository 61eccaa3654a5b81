// Public surface of a node: the embedded API and the data directory helpers the tools use.
export { OrdoNode, openNode, openClusterNode, NodeDefaults } from './node.js';
export type { NodeOptions, TxnResult, ClusterOptions, ClusterStatus } from './node.js';
export { lockDataDir, openEnvironment, lmdbPath, DataDirLayout } from './dataDir.js';
