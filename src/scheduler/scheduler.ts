// The scheduler driver: takes committed log entries in order, locks each transaction's declared keys
// in log order through the lock manager, runs it when its locks are granted, and applies the result to
// the partition store together with the entry's position.
//
// On one node every read is local and execution is synchronous, so each transaction's locks are
// granted at once and released before the next one asks; the lock manager still sees every request so
// that the multi-partition scheduler (where a transaction may wait for remote reads while holding its
// locks) changes the driver, not the rules.

import {
  evaluateKeySets,
  executeProgram,
  validateProgram,
  type DeclaredKeys,
  type DeclaredKeySets,
  type ExecContext,
  type TxnOutcome,
} from '../executor/index.js';
import type { EntryWriter, PartitionStore } from '../partitions/index.js';
import { CatalogLayout, EMPTY_CATALOG, type Catalog, type CatalogTable, type ControlEntry, type LogEntry, type TxnRequest } from '../sequencer/index.js';
import { encodeKey, encodeRange, type Value } from '../partitions/index.js';
import { OrdoError, SqlState, assert, errorMessage } from '../util/index.js';
import { LockManager, LockMode, type LockRequest } from './lockManager.js';
import { TxnDedupWindow } from './txnDedup.js';

export interface ExecutedTxn {
  readonly txnId: string;
  readonly position: number;
  /** The transaction's index within its batch. */
  readonly index: number;
  readonly outcome: TxnOutcome;
}

export class Scheduler {
  private readonly store: PartitionStore;
  private readonly locks = new LockManager();
  private nextSeq = 1;
  /**
   * Every log is applied with the same duplicate rule (a fixed window, part of the engine's semantics),
   * so live nodes, restarted nodes and `ordo replay` reach the same state.
   */
  private readonly dedup = new TxnDedupWindow();

  constructor(store: PartitionStore) {
    this.store = store;
  }

  get appliedPosition(): number {
    return this.store.appliedPosition;
  }

  /** Applies the next committed entry; returns the outcome of each of its transactions, in order. */
  /** Records an already-applied entry's transaction ids (rebuilding the duplicate window at startup). */
  remember(entry: LogEntry): void {
    this.dedup.remember(entry);
  }

  /**
   * Applies the next committed entry; returns the outcome of each of its transactions. A transaction id
   * seen within the duplicate window is not executed again: it gets an aborted outcome (OD001).
   */
  applyEntry(entry: LogEntry): ExecutedTxn[] {
    const { entry: toApply, skipped } = this.dedup.filter(entry);
    const executed = this.applyFiltered(toApply);
    return skipped.length === 0 ? executed : [...executed, ...skipped];
  }

  private applyFiltered(entry: LogEntry): ExecutedTxn[] {
    return this.store.applyEntry(entry.position, (writer) => {
      if (entry.kind === 'control') {
        const { control } = entry;
        if (control.kind === 'setSetting') writer.setSetting(control.name, control.value);
        if (control.kind === 'createTable' || control.kind === 'dropTable' || control.kind === 'addPrimaryKey') {
          // A DDL entry that cannot apply (a duplicate name) is a deterministic no-op with an error
          // outcome for its submitter, never an exception: that would stop the node at this position.
          return [{ txnId: control.txnId, position: entry.position, index: 0, outcome: applyDdl(control, entry.position, writer) }];
        }
        return [];
      }
      const { batch } = entry;
      const ctx = { position: entry.position, timestampMs: batch.timestampMs, txnIndex: 0 };
      return batch.txns.map((txn, index) => ({
        txnId: txn.txnId,
        position: entry.position,
        index,
        outcome: this.runTxn(txn, { ...ctx, txnIndex: index }, writer),
      }));
    });
  }

  private runTxn(
    txn: TxnRequest,
    ctx: ExecContext,
    writer: EntryWriter,
  ): TxnOutcome {
    let declared: DeclaredKeySets;
    try {
      // The log is input like any other: a program that fails validation aborts, identically everywhere.
      validateProgram(txn.program, txn.params.length);
      declared = evaluateKeySets(txn.program, txn.params);
    } catch (err) {
      return abortedBy(err);
    }
    if (this.locks.activeCount === 0) {
      // Nothing holds or waits for a lock, and this transaction runs to completion before the next one is
      // scheduled: every request would be granted at once and released before anyone else asks, so the
      // lock table is not touched (on one node this is every transaction). The rules are unchanged.
      return this.execute(txn, declared, ctx, writer);
    }
    const seq = this.nextSeq++;
    const ready = this.locks.request(seq, lockRequests(declared));
    assert(ready, 'a transaction that executes at once must be granted its locks at once');
    try {
      return this.execute(txn, declared, ctx, writer);
    } finally {
      const woken = this.locks.release(seq);
      assert(woken.length === 0, 'no transaction waits while another executes synchronously');
    }
  }

  private execute(txn: TxnRequest, declared: DeclaredKeySets, ctx: ExecContext, writer: EntryWriter): TxnOutcome {
    const outcome = executeProgram(txn.program, txn.params, declared, ctx, writer);
    if (outcome.status === 'committed') {
      if (txn.kind === 'readOnly' && outcome.writes.length > 0) {
        return { status: 'aborted', code: SqlState.invalidTransactionState, message: 'a read-only transaction wrote' };
      }
      writer.write(outcome.writes);
    }
    return outcome;
  }
}

function lockRequests(declared: { reads: DeclaredKeys; writes: DeclaredKeys }): LockRequest[] {
  const out: LockRequest[] = [];
  for (const key of declared.writes.points) out.push({ mode: LockMode.exclusive, target: { kind: 'point', key } });
  for (const range of declared.writes.ranges) out.push({ mode: LockMode.exclusive, target: { kind: 'range', range } });
  for (const key of declared.reads.points) out.push({ mode: LockMode.shared, target: { kind: 'point', key } });
  for (const range of declared.reads.ranges) out.push({ mode: LockMode.shared, target: { kind: 'range', range } });
  return out;
}

function abortedBy(err: unknown): TxnOutcome {
  const code = err instanceof OrdoError ? err.code : SqlState.internalError;
  return { status: 'aborted', code, message: errorMessage(err) };
}

// --- DDL control entries: the catalog as derived state of the log --------------------------------------

type DdlControl = Extract<ControlEntry, { kind: 'createTable' | 'dropTable' | 'addPrimaryKey' }>;

/** Deletes of everything in the primary index of a table and in its unique indexes, in key order. */
function dropRows(table: CatalogTable, writer: EntryWriter): void {
  for (const index of [0, ...(table.uniques ?? []).map((u) => u.index)]) {
    const range = encodeRange(table.id, index, [], true, null, false);
    const deletes = [];
    for (const { key } of writer.scan(range, false, Number.POSITIVE_INFINITY)) deletes.push({ key: Buffer.from(key), values: null });
    writer.write(deletes);
  }
}

function guardKey(tableId: number): Buffer {
  return encodeKey(CatalogLayout.guardTableId, CatalogLayout.guardIndexId, [BigInt(tableId)]);
}

function applyDdl(control: DdlControl, position: number, writer: EntryWriter): TxnOutcome {
  const catalog = (writer.catalog() as Catalog | undefined) ?? EMPTY_CATALOG;
  const done: TxnOutcome = { status: 'committed', rows: [], writes: [] };
  if (control.kind === 'addPrimaryKey') return addPrimaryKey(control, catalog, position, writer);
  if (control.kind === 'createTable') {
    const name = control.table.name;
    if (catalog.tables.some((t) => t.name === name)) {
      if (control.ifNotExists) return done;
      return { status: 'aborted', code: '42P07', message: `relation "${name}" already exists` };
    }
    const table: CatalogTable = { ...control.table, id: catalog.nextTableId, createdAt: position };
    // The guard row lets a program compiled against an older catalog find out, at its own log
    // position, that its table is gone (it reads the guard and aborts with 42P01).
    writer.write([{ key: guardKey(table.id), values: [name] }]);
    writer.putCatalog(
      { version: catalog.version + 1, nextTableId: catalog.nextTableId + 1, tables: [...catalog.tables, table] } satisfies Catalog,
      catalog.version + 1,
    );
    return done;
  }
  const dropped: CatalogTable[] = [];
  for (const name of control.names) {
    const table = catalog.tables.find((t) => t.name === name);
    if (table === undefined) {
      if (control.ifExists) continue;
      return { status: 'aborted', code: '42P01', message: `table "${name}" does not exist` };
    }
    if (!dropped.includes(table)) dropped.push(table);
  }
  if (dropped.length === 0) return done;
  for (const table of dropped) {
    dropRows(table, writer);
    writer.write([{ key: guardKey(table.id), values: null }]);
  }
  writer.putCatalog(
    { ...catalog, version: catalog.version + 1, tables: catalog.tables.filter((t) => !dropped.includes(t)) } satisfies Catalog,
    catalog.version + 1,
  );
  return done;
}

/** The most rows ADD PRIMARY KEY re-keys in one entry (they are held in memory to be checked first). */
const MAX_REKEY_ROWS = 10_000_000;

/**
 * ALTER TABLE … ADD PRIMARY KEY: every row moves from its hidden row id key to `[tableId, 0, ...key]`
 * and loses its two hidden trailing columns, in this entry's LMDB transaction. Everything that can
 * fail (missing table or column, an existing key, NULLs, duplicates) is decided before the first
 * write, so a failed ALTER changes nothing and fails identically on every replica.
 */
function addPrimaryKey(control: Extract<DdlControl, { kind: 'addPrimaryKey' }>, catalog: Catalog, position: number, writer: EntryWriter): TxnOutcome {
  const table = catalog.tables.find((t) => t.name === control.table);
  if (table === undefined) return { status: 'aborted', code: '42P01', message: `relation "${control.table}" does not exist` };
  if (table.primaryKey.length > 0) {
    return { status: 'aborted', code: '42P16', message: `multiple primary keys for table "${table.name}" are not allowed` };
  }
  // Unique index entries hold the hidden row ids that re-keying would change.
  if ((table.uniques ?? []).length > 0) {
    return { status: 'aborted', code: SqlState.featureNotSupported, message: 'ADD PRIMARY KEY on a table with UNIQUE constraints is not supported' };
  }
  const key: number[] = [];
  for (const name of control.columns) {
    const i = table.columns.findIndex((c) => c.name === name);
    if (i < 0) return { status: 'aborted', code: SqlState.undefinedColumn, message: `column "${name}" of relation "${table.name}" does not exist` };
    if (key.includes(i)) return { status: 'aborted', code: '42701', message: `column "${name}" appears twice in primary key constraint` };
    key.push(i);
  }
  if (key.length === 0) return { status: 'aborted', code: '42601', message: 'a primary key needs at least one column' };
  const width = table.columns.length;
  const rows: { oldKey: Buffer; values: Value[]; newKey: Buffer }[] = [];
  const seen = new Map<string, readonly Value[]>();
  const range = encodeRange(table.id, 0, [], true, null, false);
  for (const { key: oldKey, row } of writer.scan(range, false, MAX_REKEY_ROWS + 1)) {
    if (rows.length >= MAX_REKEY_ROWS) {
      return { status: 'aborted', code: '54000', message: `ADD PRIMARY KEY re-keys at most ${MAX_REKEY_ROWS} rows in one statement` };
    }
    // Rows written before a column existed are shorter than the table: the missing columns are NULL.
    const values: Value[] = [];
    for (let i = 0; i < width; i++) values.push(row.values[i] ?? null);
    const parts = key.map((i) => values[i] ?? null);
    const nullAt = parts.indexOf(null);
    if (nullAt >= 0) {
      const col = table.columns[key[nullAt] ?? 0]?.name ?? '';
      return { status: 'aborted', code: SqlState.notNullViolation, message: `column "${col}" of relation "${table.name}" contains null values` };
    }
    const newKey = encodeKey(table.id, 0, parts);
    const hex = newKey.toString('hex');
    const previous = seen.get(hex);
    if (previous !== undefined) {
      const names = key.map((i) => table.columns[i]?.name ?? '').join(', ');
      return {
        status: 'aborted',
        code: SqlState.uniqueViolation,
        message: `could not create unique index "${table.name}_pkey": Key (${names})=(${parts.map(keyText).join(', ')}) is duplicated.`,
      };
    }
    seen.set(hex, parts);
    rows.push({ oldKey: Buffer.from(oldKey), values, newKey });
  }
  // Deletes first: an old hidden-id key never equals a new key (its parts are the txn id and row
  // number, the new ones the key columns), but the order keeps that from mattering.
  writer.write(rows.map((r) => ({ key: r.oldKey, values: null })));
  writer.write(rows.map((r) => ({ key: r.newKey, values: r.values })));
  // The guard row now names the re-keying position: programs compiled against the old layout check
  // it and abort instead of writing rows under hidden-id keys (ADR 0003).
  writer.write([{ key: guardKey(table.id), values: [table.name, BigInt(position)] }]);
  const altered: CatalogTable = {
    ...table,
    columns: table.columns.map((c, i) => (key.includes(i) ? { ...c, notNull: true } : c)),
    primaryKey: key,
    rekeyedAt: position,
  };
  writer.putCatalog(
    { ...catalog, version: catalog.version + 1, tables: catalog.tables.map((t) => (t === table ? altered : t)) } satisfies Catalog,
    catalog.version + 1,
  );
  return { status: 'committed', rows: [], writes: [] };
}

/** A key value as PostgreSQL's DETAIL lines show it. */
function keyText(v: Value): string {
  if (v instanceof Uint8Array) return `\\x${Buffer.from(v).toString('hex')}`;
  return String(v);
}
