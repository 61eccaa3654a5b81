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
import { CatalogLayout, EMPTY_CATALOG, SequenceRow, type Catalog, type CatalogTable, type ColumnDef, type DdlControlEntry, type LogEntry, type SequenceDef, type TxnRequest } from '../sequencer/index.js';
import { decodeTuple, encodeKey, encodeRange, type Value } from '../partitions/index.js';
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
        if ('txnId' in control) {
          // A DDL entry that cannot apply (a duplicate name) is a deterministic no-op with an error
          // outcome for its submitter, never an exception: that would stop the node at this position.
          return [{ txnId: control.txnId, position: entry.position, index: 0, outcome: applyDdl(control, entry.position, entry.timestampMs, writer) }];
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

type DdlControl = DdlControlEntry;

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

function applyDdl(control: DdlControl, position: number, timestampMs: number, writer: EntryWriter): TxnOutcome {
  const catalog = (writer.catalog() as Catalog | undefined) ?? EMPTY_CATALOG;
  const done: TxnOutcome = { status: 'committed', rows: [], writes: [] };
  switch (control.kind) {
    case 'addPrimaryKey':
      return addPrimaryKey(control, catalog, position, writer);
    case 'createSequence':
    case 'dropSequence':
      return applySequenceDdl(control, catalog, position, writer);
    case 'alterTable':
      return alterTable(control, catalog, position, timestampMs, writer);
    default:
      break;
  }
  if (control.kind === 'createTable') {
    const name = control.table.name;
    const sequences = control.sequences ?? [];
    if (relationExists(catalog, name)) {
      if (control.ifNotExists) return done;
      return duplicateRelation(name);
    }
    const clash = sequences.find((q) => relationExists(catalog, q.name));
    if (clash !== undefined) return duplicateRelation(clash.name);
    const table: CatalogTable = { ...control.table, id: catalog.nextTableId, createdAt: position };
    // The guard row lets a program compiled against an older catalog find out, at its own log
    // position, that its table is gone (it reads the guard and aborts with 42P01).
    writer.write([{ key: guardKey(table.id), values: [name] }]);
    for (const q of sequences) writer.write([{ key: sequenceKey(q.name), values: sequenceRow(q) }]);
    writer.putCatalog(
      withSequences(
        { ...catalog, version: catalog.version + 1, nextTableId: catalog.nextTableId + 1, tables: [...catalog.tables, table] },
        sequences.map((q) => q.name),
        [],
        position,
      ),
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
  // The sequences their SERIAL and IDENTITY columns own go with them.
  const owned = dropped.flatMap((t) => ownedSequences(t.columns));
  for (const table of dropped) {
    dropRows(table, writer);
    writer.write([{ key: guardKey(table.id), values: null }]);
  }
  for (const name of owned) writer.write([{ key: sequenceKey(name), values: null }]);
  writer.putCatalog(
    withSequences({ ...catalog, version: catalog.version + 1, tables: catalog.tables.filter((t) => !dropped.includes(t)) }, [], owned, position),
    catalog.version + 1,
  );
  return done;
}

// --- sequences (ADR 0008) ---------------------------------------------------------------------------

function relationExists(catalog: Catalog, name: string): boolean {
  return catalog.tables.some((t) => t.name === name) || (catalog.sequences ?? []).some((q) => q.name === name);
}

function duplicateRelation(name: string): TxnOutcome {
  return { status: 'aborted', code: '42P07', message: `relation "${name}" already exists` };
}

function sequenceKey(name: string): Buffer {
  return encodeKey(CatalogLayout.guardTableId, CatalogLayout.sequenceIndexId, [name]);
}

/** A new sequence's state row: not yet called, so the first nextval returns `start`. */
function sequenceRow(q: SequenceDef): Value[] {
  const row: Value[] = [];
  row[SequenceRow.lastValue] = q.start;
  row[SequenceRow.isCalled] = false;
  row[SequenceRow.increment] = q.increment;
  row[SequenceRow.min] = q.min;
  row[SequenceRow.max] = q.max;
  row[SequenceRow.cycle] = q.cycle;
  row[SequenceRow.lastTxn] = null;
  return row;
}

function ownedSequences(columns: readonly ColumnDef[]): string[] {
  return columns.flatMap((c) => (c.default?.kind === 'nextval' && c.default.owned ? [c.default.sequence] : []));
}

/** The catalog with sequences added and removed (the field stays absent while there are none). */
function withSequences(catalog: Catalog, added: readonly string[], removed: readonly string[], position: number): Catalog {
  const { sequences: before = [], ...rest } = catalog;
  const after = [...before.filter((q) => !removed.includes(q.name)), ...added.map((name) => ({ name, createdAt: position }))];
  return after.length === 0 ? rest : { ...rest, sequences: after };
}

function applySequenceDdl(control: Extract<DdlControl, { kind: 'createSequence' | 'dropSequence' }>, catalog: Catalog, position: number, writer: EntryWriter): TxnOutcome {
  const done: TxnOutcome = { status: 'committed', rows: [], writes: [] };
  if (control.kind === 'createSequence') {
    const q = control.sequence;
    if (relationExists(catalog, q.name)) return control.ifNotExists ? done : duplicateRelation(q.name);
    writer.write([{ key: sequenceKey(q.name), values: sequenceRow(q) }]);
    writer.putCatalog(withSequences({ ...catalog, version: catalog.version + 1 }, [q.name], [], position), catalog.version + 1);
    return done;
  }
  const names: string[] = [];
  for (const name of control.names) {
    if (!(catalog.sequences ?? []).some((q) => q.name === name)) {
      if (control.ifExists) continue;
      return { status: 'aborted', code: '42P01', message: `sequence "${name}" does not exist` };
    }
    // A column default that calls it depends on it (PostgreSQL needs CASCADE, which is not supported).
    const user = catalog.tables.find((t) => t.columns.some((c) => c.default?.kind === 'nextval' && c.default.sequence === name));
    if (user !== undefined) {
      return { status: 'aborted', code: '2BP01', message: `cannot drop sequence ${name} because other objects depend on it: default value for a column of table ${user.name}` };
    }
    if (!names.includes(name)) names.push(name);
  }
  if (names.length === 0) return done;
  for (const name of names) writer.write([{ key: sequenceKey(name), values: null }]);
  writer.putCatalog(withSequences({ ...catalog, version: catalog.version + 1 }, [], names, position), catalog.version + 1);
  return done;
}

// --- ALTER TABLE (ADR 0008) ---------------------------------------------------------------------------

/** The most rows one ALTER TABLE rewrites in its entry (like ADD PRIMARY KEY, they are held in memory). */
const MAX_ALTER_ROWS = 10_000_000;

/**
 * ALTER TABLE as the gateway resolved it: applies only to the very table it was resolved against
 * (same id and alteredAt, else 40001), checks what the existing rows must satisfy, rewrites every row
 * to the new column layout in this entry's LMDB transaction, and moves the table's guard row to this
 * position so that every program compiled before it aborts (40001) instead of using the old shape.
 * Everything that can fail is decided before the first write.
 */
function alterTable(control: Extract<DdlControl, { kind: 'alterTable' }>, catalog: Catalog, position: number, timestampMs: number, writer: EntryWriter): TxnOutcome {
  const table = catalog.tables.find((t) => t.id === control.tableId);
  if (table === undefined) return { status: 'aborted', code: '42P01', message: `relation "${control.table}" does not exist` };
  if (table.name !== control.table || (table.rekeyedAt ?? null) !== control.alteredAt) {
    return { status: 'aborted', code: SqlState.serializationFailure, message: `relation "${control.table}" was altered after this statement was planned; retry it` };
  }
  const result = control.result;
  if (result.name !== table.name && relationExists(catalog, result.name)) return duplicateRelation(result.name);
  const clash = control.createSequences.find((q) => relationExists(catalog, q.name) && !control.dropSequences.includes(q.name));
  if (clash !== undefined) return duplicateRelation(clash.name);
  const oldWidth = table.columns.length;
  const hidden = table.primaryKey.length === 0 ? 2 : 0;
  if ((result.primaryKey.length === 0 ? 2 : 0) !== hidden) {
    return { status: 'aborted', code: SqlState.featureNotSupported, message: 'ALTER TABLE cannot add or drop a primary key here' };
  }
  const sources = control.sources;
  const layoutChanged = sources.length !== oldWidth || sources.some((src, i) => src !== i);
  // Columns whose NULLs must be looked for: new ones (filled with their default) and newly NOT NULL ones.
  const mustBeSet = result.columns.flatMap((c, i) => {
    const src = sources[i] ?? null;
    return c.notNull && (src === null || !(table.columns[src]?.notNull ?? false)) ? [i] : [];
  });
  const rows: { key: Buffer; values: Value[] }[] = [];
  if (layoutChanged || mustBeSet.length > 0 || control.failingCheck !== null) {
    // Sequence state for nextval defaults of new columns: filled in key order, as PostgreSQL fills in heap order.
    const seqState = new Map<string, Value[]>();
    for (const q of control.createSequences) seqState.set(q.name, sequenceRow(q));
    const fill = (c: ColumnDef): Value | { error: TxnOutcome } => {
      const d = c.default;
      if (d === null) return null;
      if (d.kind === 'value') return decodeTuple(Buffer.from(d.tupleHex, 'hex'))[0] ?? null;
      if (d.kind === 'now') return c.type === 'date' ? BigInt(Math.floor(timestampMs / 86_400_000)) : BigInt(Math.trunc(timestampMs)) * 1000n;
      let state = seqState.get(d.sequence);
      if (state === undefined) {
        const stored = writer.get(sequenceKey(d.sequence));
        if (stored === undefined) return { error: { status: 'aborted', code: '42P01', message: `relation "${d.sequence}" does not exist` } };
        state = [...stored.values];
        seqState.set(d.sequence, state);
      }
      return nextSequenceValue(state, d.sequence);
    };
    const range = encodeRange(table.id, 0, [], true, null, false);
    for (const { key, row } of writer.scan(range, false, MAX_ALTER_ROWS + 1)) {
      if (rows.length >= MAX_ALTER_ROWS) return { status: 'aborted', code: '54000', message: `ALTER TABLE rewrites at most ${MAX_ALTER_ROWS} rows in one statement` };
      if (control.failingCheck !== null) {
        return { status: 'aborted', code: SqlState.checkViolation, message: `check constraint "${control.failingCheck}" of relation "${table.name}" is violated by some row` };
      }
      const values: Value[] = [];
      for (let i = 0; i < sources.length; i++) {
        const src = sources[i] ?? null;
        let v: Value;
        if (src !== null) v = row.values[src] ?? null;
        else {
          const filled = fill(result.columns[i] as ColumnDef);
          if (filled !== null && typeof filled === 'object' && 'error' in filled) return filled.error;
          v = filled;
        }
        values.push(v);
      }
      for (const i of mustBeSet) {
        if (values[i] === null) {
          return { status: 'aborted', code: SqlState.notNullViolation, message: `column "${result.columns[i]?.name ?? ''}" of relation "${table.name}" contains null values` };
        }
      }
      // A keyless table's hidden row id stays last.
      for (let h = 0; h < hidden; h++) values.push(row.values[oldWidth + h] ?? null);
      rows.push({ key: Buffer.from(key), values });
    }
    if (layoutChanged) writer.write(rows);
    for (const [name, state] of seqState) writer.write([{ key: sequenceKey(name), values: state }]);
  } else {
    for (const q of control.createSequences) writer.write([{ key: sequenceKey(q.name), values: sequenceRow(q) }]);
  }
  // Unique indexes whose constraint went with a dropped column lose their entries.
  const kept = new Set((result.uniques ?? []).map((u) => u.index));
  for (const u of table.uniques ?? []) {
    if (kept.has(u.index)) continue;
    const deletes = [];
    for (const { key } of writer.scan(encodeRange(table.id, u.index, [], true, null, false), false, Number.POSITIVE_INFINITY)) deletes.push({ key: Buffer.from(key), values: null });
    writer.write(deletes);
  }
  for (const name of control.dropSequences) writer.write([{ key: sequenceKey(name), values: null }]);
  writer.write([{ key: guardKey(table.id), values: [result.name, BigInt(position)] }]);
  const altered: CatalogTable = { ...result, id: table.id, createdAt: table.createdAt, rekeyedAt: position };
  writer.putCatalog(
    withSequences(
      { ...catalog, version: catalog.version + 1, tables: catalog.tables.map((t) => (t === table ? altered : t)) },
      control.createSequences.map((q) => q.name),
      control.dropSequences,
      position,
    ),
    catalog.version + 1,
  );
  return { status: 'committed', rows: [], writes: [] };
}

/** nextval on a sequence's state row held in memory (ADD COLUMN filling existing rows); as the compiled nextval does. */
function nextSequenceValue(state: Value[], name: string): Value | { error: TxnOutcome } {
  const last = state[SequenceRow.lastValue] as bigint;
  const inc = state[SequenceRow.increment] as bigint;
  const min = state[SequenceRow.min] as bigint;
  const max = state[SequenceRow.max] as bigint;
  let v = last;
  if (state[SequenceRow.isCalled] === true) {
    if (inc > 0n ? last > max - inc : last < min - inc) {
      if (state[SequenceRow.cycle] !== true) {
        const which = inc > 0n ? `maximum value of sequence "${name}" (${max})` : `minimum value of sequence "${name}" (${min})`;
        return { error: { status: 'aborted', code: '2200H', message: `nextval: reached ${which}` } };
      }
      v = inc > 0n ? min : max;
    } else v = last + inc;
  }
  state[SequenceRow.lastValue] = v;
  state[SequenceRow.isCalled] = true;
  state[SequenceRow.lastTxn] = null;
  return v;
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
