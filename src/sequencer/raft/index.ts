// The Raft core's public surface: the pure state machine, its plain-data vocabulary, an in-memory
// storage view, and the deterministic simulator that checks it.

export { RaftNode, RaftDefaults, RefusalReason } from './raft.js';
export type { RaftNodeOptions, ProposeResult, ActionResult, Refusal, RaftStatus, ProgressStatus } from './raft.js';
export { ProgressState } from './progress.js';
export { MemoryStorage } from './memoryStorage.js';
export { applyConfChange, encodeConfChange, decodeConfChange } from './confChange.js';
export { CAMPAIGN_TRANSFER, ConfChangeType, EntryType, MessageType, NO_NODE, Role } from './types.js';
export type {
  ConfChange,
  ConfChangeRecord,
  ConfState,
  Entry,
  HardState,
  Message,
  NodeId,
  RaftStorage,
  ReadState,
  Ready,
  SnapshotMeta,
  SoftState,
} from './types.js';
export { runSimulation, reproLine, SimDefaults } from './sim.js';
export type { SimOptions, SimResult, SimStats } from './sim.js';
export { LmdbRaftStorage, LmdbRaftStorageDefaults, RaftStorageCorruptionError, RaftIdentityMismatchError, RAFT_LOG_DB_NAME, RAFT_STATE_DB_NAME, raftIndexKey } from './lmdbStorage.js';
export type { LmdbRaftStorageOptions } from './lmdbStorage.js';
export { RaftDriver, RaftDriverDefaults, RaftDriverError, RaftDriverErrorReason } from './driver.js';
export type { DurableRaftStorage, RaftDriverOptions, RaftDriverStatus } from './driver.js';
export type { RaftTransport, TransportStats, RefusalCounts } from './transport.js';
export { RefusalKind, checkBatch, emptyStats } from './transport.js';
export {
  approxMessageBytes,
  decodeAck,
  decodeBatch,
  encodeAck,
  encodeBatch,
  raftSchemaFingerprints,
  sealEntry,
  sealHardState,
  unsealEntry,
  unsealHardState,
} from './codec.js';
export type { RaftBatch, RaftBatchAck, RaftIdentity, Unsealed } from './codec.js';
