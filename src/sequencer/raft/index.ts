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
