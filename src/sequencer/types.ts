// What the input log holds, and the interfaces the single-node sequencer implements today and the
// Raft-replicated one will implement later.

import type { Program } from '../executor/program.js';
import type { Value } from '../partitions/index.js';
import { OrdoError, SqlState } from '../util/index.js';

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
  | { readonly kind: 'setSetting'; readonly name: string; readonly value: string }
  /** CREATE TABLE: the table gets the next table id of the catalog when the entry is applied. */
  | (DdlRequest & {
      readonly kind: 'createTable';
      readonly table: TableDef;
      readonly ifNotExists: boolean;
      /** The sequences its SERIAL and IDENTITY columns own, created with it (log schema v7). */
      readonly sequences?: readonly SequenceDef[];
    })
  /** DROP TABLE of one or more tables, with their rows, atomically. */
  | (DdlRequest & { readonly kind: 'dropTable'; readonly names: readonly string[]; readonly ifExists: boolean })
  /**
   * ALTER TABLE … ADD PRIMARY KEY (columns): re-keys the rows of a table that has hidden row ids by the
   * named columns (names, resolved when applied, so the entry means the same on every replica).
   */
  | (DdlRequest & { readonly kind: 'addPrimaryKey'; readonly table: string; readonly columns: readonly string[] })
  /** CREATE SEQUENCE: its state row is created at the entry's position (log schema v7). */
  | (DdlRequest & { readonly kind: 'createSequence'; readonly sequence: SequenceDef; readonly ifNotExists: boolean })
  /** DROP SEQUENCE of one or more sequences, with their state rows (log schema v7). */
  | (DdlRequest & { readonly kind: 'dropSequence'; readonly names: readonly string[]; readonly ifExists: boolean })
  /** ALTER TABLE … ADD/DROP/RENAME COLUMN, ALTER COLUMN, RENAME TO (log schema v7; ADR 0008). */
  | (DdlRequest & AlterTable & { readonly kind: 'alterTable' });

/** The DDL control entries: each reports an outcome to its submitter under its txnId. */
export type DdlControlEntry = Extract<ControlEntry, DdlRequest>;

/**
 * A sequence's options, as CREATE SEQUENCE (or a SERIAL / IDENTITY column) gives them. Its state —
 * last value and whether it was called — lives in a row (CatalogLayout.sequenceIndexId), written by
 * the transactions that call nextval/setval, so replicas and replays agree on every value.
 */
export interface SequenceDef {
  readonly name: string;
  readonly start: bigint;
  readonly increment: bigint;
  readonly min: bigint;
  readonly max: bigint;
  readonly cycle: boolean;
}

/**
 * ALTER TABLE, resolved by the gateway against the catalog version it saw (ADR 0008). The entry applies
 * only if the table is still that table in that shape — same id, same `alteredAt` — otherwise it fails
 * with 40001 like a stale plan, so everything computed from the gateway's catalog (column positions,
 * rewritten CHECK texts, constraint names) is still true at the entry's position.
 */
export interface AlterTable {
  /** The table's name when the statement was compiled. */
  readonly table: string;
  readonly tableId: number;
  /** The table's `rekeyedAt` when compiled (null: never altered). */
  readonly alteredAt: number | null;
  /** The table after the ALTER. */
  readonly result: TableDef;
  /**
   * For each column of `result`: the index of the old column its values come from, or null for a new
   * column, whose existing rows take its default (a constant, the entry's now(), or nextval in key order).
   */
  readonly sources: readonly (number | null)[];
  /** Sequences created with the new columns (SERIAL, IDENTITY), before any row is filled. */
  readonly createSequences: readonly SequenceDef[];
  /** Sequences dropped with their owning columns. */
  readonly dropSequences: readonly string[];
  /**
   * The name of a new CHECK constraint that the new column's default fails (the gateway evaluated it):
   * the ALTER fails with 23514 when the table has a row. Null when none does.
   */
  readonly failingCheck: string | null;
}

/**
 * What every DDL control entry carries besides its change: who asked and for what, and an id under
 * which the applied outcome (done, or a SQLSTATE error such as 42P07) is reported back to the submitter.
 */
export interface DdlRequest {
  readonly txnId: string;
  readonly user: string;
  readonly sql: string;
}

/**
 * SQL column types as the catalog records them (PostgreSQL's internal names). How values of each type
 * are represented as engine values is fixed by src/sql (and by the wire layer for the wire formats).
 */
export const ColumnTypes = [
  'int2', 'int4', 'int8', 'numeric', 'float4', 'float8', 'text', 'varchar', 'bpchar', 'bool',
  'timestamp', 'timestamptz', 'date', 'bytea', 'uuid',
] as const;
export type ColumnType = (typeof ColumnTypes)[number];

/**
 * A column default: a constant (the canonical tuple encoding of one engine value, as hex, so the
 * catalog stays plain JSON) or the transaction's `now()`.
 */
export type ColumnDefault =
  | { readonly kind: 'value'; readonly tupleHex: string }
  | { readonly kind: 'now' }
  /**
   * nextval of a sequence (SERIAL, IDENTITY, or DEFAULT nextval('s')); `owned`: the sequence belongs to
   * the column and is dropped with it (log schema v7).
   */
  | { readonly kind: 'nextval'; readonly sequence: string; readonly owned: boolean };

/** GENERATED ALWAYS (explicit values refused, 428C9) or BY DEFAULT AS IDENTITY. */
export const IdentityKinds = ['always', 'byDefault'] as const;
export type IdentityKind = (typeof IdentityKinds)[number];

export interface ColumnDef {
  readonly name: string;
  readonly type: ColumnType;
  /** varchar(n) / char(n) length, numeric precision; null when not given. */
  readonly length: number | null;
  /** numeric scale; null when not given. */
  readonly scale: number | null;
  readonly notNull: boolean;
  readonly default: ColumnDefault | null;
  /** An identity column (its default is nextval of its owned sequence); absent when not one. */
  readonly identity?: IdentityKind;
}

/**
 * UNIQUE (columns): a hidden index in the table's key space, `[tableId, index, ...values]` → the row's
 * primary key parts, maintained by every program that writes the table (ADR 0003). Rows with a NULL
 * in any of the columns have no entry: NULLs never conflict.
 */
export interface UniqueConstraint {
  readonly name: string;
  /** Column indexes, in index key order. */
  readonly columns: readonly number[];
  /** The index id of its entries: 1, 2, … (0 is the primary index). */
  readonly index: number;
}

/** CHECK (expression): SQL text over the table's columns, compiled into every program that writes a row. */
export interface CheckConstraint {
  readonly name: string;
  readonly sql: string;
}

export interface TableDef {
  readonly name: string;
  readonly columns: readonly ColumnDef[];
  /** Column indexes of the primary key, in key order; empty: rows are keyed by a hidden row id. */
  readonly primaryKey: readonly number[];
  /** Absent when none (and in tables created before log schema v6). */
  readonly uniques?: readonly UniqueConstraint[];
  /** Absent when none (and in tables created before log schema v6). */
  readonly checks?: readonly CheckConstraint[];
}

/** A table as the catalog holds it once its CREATE TABLE has been applied. */
export interface CatalogTable extends TableDef {
  readonly id: number;
  /** The log position of its CREATE TABLE. */
  readonly createdAt: number;
  /**
   * The log position of the ALTER that last changed how its rows are keyed (ADD PRIMARY KEY); absent
   * when never. Also stored in the table's guard row, which every compiled program checks (ADR 0003).
   */
  readonly rekeyedAt?: number;
}

/** A sequence as the catalog holds it; its options and state are in its row (SequenceDef). */
export interface CatalogSequence {
  readonly name: string;
  /** The log position of its CREATE SEQUENCE (or of the table or column that owns it). */
  readonly createdAt: number;
}

/** The catalog: derived state of the log, kept in the store's metadata. */
export interface Catalog {
  /** Bumped by every applied DDL entry that changed something (plans are cached per version). */
  readonly version: number;
  readonly nextTableId: number;
  readonly tables: readonly CatalogTable[];
  /** Absent when none (and in catalogs derived before log schema v7). */
  readonly sequences?: readonly CatalogSequence[];
}

/**
 * Table id 0 holds one guard row per table ([0, 0, tableId] → [name], or [name, rekeyedAt] once it was
 * re-keyed or altered) and one state row per sequence ([0, 1, name] → SequenceRow); user tables
 * start at firstTableId.
 */
export const CatalogLayout = { guardTableId: 0, guardIndexId: 0, sequenceIndexId: 1, firstTableId: 1 } as const;

/**
 * The values of a sequence's state row, by position: what nextval reads and writes. `lastTxn` is the
 * transaction (the hidden-row-id parameter's transaction part) that last called nextval, so currval
 * can tell whether its own transaction did (ADR 0008).
 */
export const SequenceRow = { lastValue: 0, isCalled: 1, increment: 2, min: 3, max: 4, cycle: 5, lastTxn: 6, width: 7 } as const;

export const EMPTY_CATALOG: Catalog = { version: 0, nextTableId: CatalogLayout.firstTableId, tables: [] };

export type LogEntry =
  | { readonly position: number; readonly kind: 'batch'; readonly batch: Batch }
  | { readonly position: number; readonly kind: 'control'; readonly timestampMs: number; readonly control: ControlEntry };

/** A log entry without its position, as handed to the log for appending. */
export type LogEntryBody =
  | { readonly kind: 'batch'; readonly batch: Batch }
  | { readonly kind: 'control'; readonly timestampMs: number; readonly control: ControlEntry };

/** A LogSink could not record this entry (e.g. it does not encode); the log itself is fine. */
export class EntryRejectedError extends OrdoError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(SqlState.invalidParameterValue, message, options);
    this.name = 'EntryRejectedError';
  }
}
