// The audit and recovery tools: `ordo log dump`, `ordo replay` and `ordo checksum`. They read a data
// directory's log without taking the node lock (LMDB readers do not disturb a running node).

import { existsSync, readdirSync } from 'node:fs';
import { evaluateKeySets } from '../executor/index.js';
import { openEnvironment, lockDataDir } from '../node/index.js';
import { PartitionStore } from '../partitions/index.js';
import { Scheduler } from '../scheduler/index.js';
import { InputLog, type LogEntry } from '../sequencer/index.js';
import { OrdoError, SqlState } from '../util/index.js';
import { optionalInt, parseCommand, requiredString, UsageError, type CommandSpec } from './args.js';
import { keyToJson, rangeToJson, valueToJson, type Json } from './json.js';

export const logDumpSpec: CommandSpec = {
  usage: 'ordo log dump --data-dir DIR [--from POS] [--to POS]',
  summary:
    'Prints one JSON line per transaction in the input log (position, batch timestamp, transaction id, kind, user, statement, parameters and the keys it declared it reads and writes), and one per control entry.',
  flags: {
    'data-dir': { type: 'string', valueName: 'DIR', help: 'the node data directory to read' },
    from: { type: 'string', valueName: 'POS', help: 'first log position to print', default: '1' },
    to: { type: 'string', valueName: 'POS', help: 'last log position to print (default: the last one)' },
  },
};

export const replaySpec: CommandSpec = {
  usage: 'ordo replay --data-dir DIR --into NEWDIR [--to POS]',
  summary:
    'Builds a fresh data directory from the input log of DIR alone, up to POS (point-in-time recovery), checking the state checksum against every checksum DIR recorded on the way. NEWDIR must not exist or be empty; it becomes a data directory a node can start on.',
  flags: {
    'data-dir': { type: 'string', valueName: 'DIR', help: 'the data directory whose log is replayed' },
    into: { type: 'string', valueName: 'NEWDIR', help: 'where to build the new data directory' },
    to: { type: 'string', valueName: 'POS', help: 'the last log position to apply (default: the whole log)' },
  },
};

export const checksumSpec: CommandSpec = {
  usage: 'ordo checksum --data-dir DIR [--recompute]',
  summary: 'Prints the applied log position and the state checksum of a data directory as one JSON line.',
  flags: {
    'data-dir': { type: 'string', valueName: 'DIR', help: 'the node data directory to read' },
    recompute: {
      type: 'boolean',
      help: 'also recompute the checksum from every stored row and fail if it differs from the incremental one',
    },
  },
};

function txnLines(entry: LogEntry): Json[] {
  if (entry.kind === 'control') {
    return [{ position: entry.position, timestampMs: entry.timestampMs, kind: 'control', control: JSON.parse(JSON.stringify(entry.control)) as Json }];
  }
  const { batch } = entry;
  return batch.txns.map((txn, index) => {
    let touched: Json;
    try {
      const declared = evaluateKeySets(txn.program, txn.params);
      touched = {
        reads: { points: declared.reads.points.map(keyToJson), ranges: declared.reads.ranges.map(rangeToJson) },
        writes: { points: declared.writes.points.map(keyToJson), ranges: declared.writes.ranges.map(rangeToJson) },
      };
    } catch (err) {
      touched = { error: err instanceof Error ? err.message : String(err) };
    }
    return {
      position: entry.position,
      index,
      timestampMs: batch.timestampMs,
      timestamp: new Date(batch.timestampMs).toISOString(),
      txnId: txn.txnId,
      kind: txn.kind,
      user: txn.user,
      sql: txn.sql,
      params: txn.params.map(valueToJson),
      ...(touched as Record<string, Json>),
    };
  });
}

export async function logDump(argv: readonly string[]): Promise<void> {
  const flags = parseCommand(logDumpSpec, argv);
  if (flags === undefined) return;
  const dataDir = requiredString(flags, 'data-dir');
  const env = openEnvironment(dataDir, { readOnly: true });
  try {
    const log = InputLog.open(env);
    const from = optionalInt(flags, 'from', 1) ?? 1;
    const to = Math.min(optionalInt(flags, 'to', 1) ?? log.lastPosition, log.lastPosition);
    for (const entry of log.readRange(from, to)) {
      let out = '';
      for (const line of txnLines(entry)) out += `${JSON.stringify(line)}\n`;
      if (!process.stdout.write(out)) await new Promise((r) => process.stdout.once('drain', r));
    }
  } finally {
    await env.close();
  }
}

export async function checksum(argv: readonly string[]): Promise<void> {
  const flags = parseCommand(checksumSpec, argv);
  if (flags === undefined) return;
  const dataDir = requiredString(flags, 'data-dir');
  const env = openEnvironment(dataDir, { readOnly: true });
  try {
    const store = PartitionStore.open(env, { checksumEveryPositions: 1 });
    const out: Record<string, Json> = {
      appliedPosition: store.appliedPosition,
      checksum: store.checksum,
      rows: store.rowCount(),
    };
    if (flags.recompute === true) {
      const recomputed = store.recomputeChecksum();
      out.recomputed = recomputed;
      if (recomputed !== store.checksum) {
        process.stdout.write(`${JSON.stringify(out)}\n`);
        throw new OrdoError(
          SqlState.dataCorrupted,
          `the stored rows hash to ${recomputed} but the incremental checksum is ${store.checksum}`,
        );
      }
    }
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    await env.close();
  }
}

class ProgressBar {
  private lastDrawMs = 0;
  constructor(private readonly total: number) {}
  update(done: number): void {
    if (!process.stderr.isTTY) return;
    const now = Date.now();
    if (done < this.total && now - this.lastDrawMs < 100) return;
    this.lastDrawMs = now;
    const width = 30;
    const fraction = this.total === 0 ? 1 : done / this.total;
    const filled = Math.round(fraction * width);
    process.stderr.write(
      `\rreplaying [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${done}/${this.total}`,
    );
    if (done >= this.total) process.stderr.write('\n');
  }
}

export async function replay(argv: readonly string[]): Promise<void> {
  const flags = parseCommand(replaySpec, argv);
  if (flags === undefined) return;
  const dataDir = requiredString(flags, 'data-dir');
  const into = requiredString(flags, 'into');
  if (existsSync(into) && readdirSync(into).length > 0) {
    throw new UsageError(`--into ${into} must not exist or be empty`);
  }
  const sourceEnv = openEnvironment(dataDir, { readOnly: true });
  const lock = lockDataDir(into);
  const targetEnv = openEnvironment(into);
  try {
    const sourceLog = InputLog.open(sourceEnv);
    const source = PartitionStore.open(sourceEnv, { checksumEveryPositions: 1 });
    const last = Math.min(optionalInt(flags, 'to', 0) ?? sourceLog.lastPosition, sourceLog.lastPosition);
    const targetLog = InputLog.open(targetEnv);
    const target = PartitionStore.open(targetEnv, { checksumEveryPositions: source.checksumEveryPositions });
    const scheduler = new Scheduler(target);
    const progress = new ProgressBar(last);
    let verified = 0;
    const appends: Promise<number>[] = [];
    for (const entry of sourceLog.readRange(1, last)) {
      appends.push(
        targetLog.append(
          entry.kind === 'batch'
            ? { kind: 'batch', batch: entry.batch }
            : { kind: 'control', timestampMs: entry.timestampMs, control: entry.control },
        ),
      );
      scheduler.applyEntry(entry);
      const recorded = source.recordedChecksum(entry.position);
      if (recorded !== undefined) {
        if (recorded !== target.checksum) {
          throw new OrdoError(
            SqlState.dataCorrupted,
            `replay diverged at log position ${entry.position}: the node recorded checksum ${recorded}, the replay computed ${target.checksum}`,
          );
        }
        verified++;
      }
      progress.update(entry.position);
      // Bound the appends in flight so a long log does not queue unboundedly.
      if (appends.length >= 1024) await Promise.all(appends.splice(0));
    }
    await Promise.all(appends);
    progress.update(last);
    process.stdout.write(
      `${JSON.stringify({ appliedPosition: target.appliedPosition, checksum: target.checksum, verifiedCheckpoints: verified, into })}\n`,
    );
  } finally {
    await targetEnv.close();
    lock.release();
    await sourceEnv.close();
  }
}
