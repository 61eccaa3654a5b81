// What the input log holds, and the interfaces the single-node sequencer implements today and the
// Raft-replicated one will implement later.

import type { Program } from '../executor/program.js';
import type { Value } from '../partitions/index.js';

export const TxnKind = {
  /** Reads and writes, executed at its log position. */
  readWrite: 'readWrite',
  /** Reads only; sequenced when it must see one consistent multi-partition state. */
  readOnly: 'readOnly',
} as const;
export type TxnKind = (typeof TxnKind)[keyof typeof TxnKind];

/** One transaction as a client submits it and as the log records it. */
export interface TxnRequest {
  /** Unique per transaction; a retry with the same id must not execute twice. */
  readonly txnId: string;
  /** The authenticated user who submitted it (audit). */
  readonly user: string;
  readonly kind: TxnKind;
  readonly program: Program;
  readonly params: readonly Value[];
  /** The statement text, for audit; empty when the program was built directly. */
  readonly sql: string;
}

/** A batch of transactions that were given one log position together. */
export interface Batch {
  /** The epoch counter of the sequencer that closed it. */
  readonly epoch: number;
  /** The deterministic `now()` of every transaction in the batch, in milliseconds since 1970. */
  readonly timestampMs: number;
  readonly txns: readonly TxnRequest[];
}

/** Control entries change the cluster or the engine at a log position rather than the data. */
export type ControlEntry =
  /** Written by a new leader or at startup; changes nothing. */
  | { readonly kind: 'noop'; readonly reason: string }
  /** Sets an engine setting from this position on. */
  | { readonly kind: 'setSetting'; readonly name: string; readonly value: string };

export type LogEntry =
  | { readonly position: number; readonly kind: 'batch'; readonly batch: Batch }
  | { readonly position: number; readonly kind: 'control'; readonly timestampMs: number; readonly control: ControlEntry };

/** A log entry without its position, as handed to the log for appending. */
export type LogEntryBody =
  | { readonly kind: 'batch'; readonly batch: Batch }
  | { readonly kind: 'control'; readonly timestampMs: number; readonly control: ControlEntry };
