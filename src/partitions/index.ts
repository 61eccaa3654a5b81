// Public surface of partitions: key and row encoding, the state checksum, the LMDB partition store.
export type { Value, Row } from './value.js';
export { INT64_MAX, INT64_MIN, isInt } from './value.js';
export {
  Tag,
  encodeTuple,
  decodeTuple,
  encodeKey,
  encodeRange,
  encodeRow,
  decodeRow,
  prefixEnd,
  compareKeys,
  rangeContains,
  rangesOverlap,
  TupleDecodeError,
} from './tuple.js';
export type { KeyRange, StoredRow } from './tuple.js';
export { StateChecksum, formatChecksum, murmur3x86x128, parseChecksum, pairDigest } from './checksum.js';
export { PartitionStore } from './store.js';
export type { RowReader, RowWrite, EntryWriter, StoreOptions, RecordedChecksum } from './store.js';
