// The sequencer's public surface.

export { TxnKind, ColumnTypes, CatalogLayout, EMPTY_CATALOG, EntryRejectedError, IdentityKinds, SequenceRow } from './types.js';
export type {
  Batch,
  ControlEntry,
  LogEntry,
  LogEntryBody,
  TxnRequest,
  DdlRequest,
  ColumnType,
  ColumnDefault,
  ColumnDef,
  TableDef,
  CatalogTable,
  Catalog,
  CatalogSequence,
  SequenceDef,
  AlterTable,
  DdlControlEntry,
  IdentityKind,
} from './types.js';
export {
  LogCorruptionError,
  LogEnvelope,
  decodeLogEntry,
  encodeForAppend,
  encodeLogEntry,
  encodeLogEntryWithSchema,
  logSchemaVersions,
  relocateRecord,
} from './logCodec.js';
export type { LogSchemaVersion } from './logCodec.js';
export { InputLog, LOG_DB_NAME, logPositionKey } from './inputLog.js';
export { LocalSequencer, VolatileLogSink, SequencerDefaults } from './localSequencer.js';
export type { LogSink, Sequencer, LocalSequencerOptions } from './localSequencer.js';
export { RaftSequencer, RaftSequencerDefaults, SequencerCodes, NotCommittedError } from './raftSequencer.js';
export type { RaftSequencerOptions, ForwardResult } from './raftSequencer.js';
