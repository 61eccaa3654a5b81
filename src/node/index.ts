// Public surface of a node: the embedded API and the data directory helpers the tools use.
export { OrdoNode, openNode, openClusterNode, NodeDefaults, ClusterInitialState, AdminError, AdminRefusal, AdminDefaults } from './node.js';
export type { NodeOptions, TxnResult, ClusterOptions, ClusterStatus } from './node.js';
export { lockDataDir, openEnvironment, lmdbPath, DataDirLayout } from './dataDir.js';
export { nodeHttpServer, AdminPaths } from './http.js';
export type { AdminAnswer } from './http.js';
