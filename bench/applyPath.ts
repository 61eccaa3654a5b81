// The apply path alone: a scheduler applying calvin-micro batches straight to an LMDB store, with no
// sequencer, log, promises or clients. What `ordo bench engine` measures minus everything around
// execution — the number to push down for the engine's throughput target (ADR 0001, "Performance").
//
//   node dist/bench/applyPath.js [--records N] [--batch N] [--rounds N] [--contention X]
//
// Prints one JSON object. For instruction counts that do not depend on machine load:
//   valgrind --tool=callgrind node --single-threaded dist/bench/applyPath.js --rounds R
// and compare two values of R (the difference is the marginal cost of the extra rounds).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openEnvironment } from '../src/node/index.js';
import { PartitionStore } from '../src/partitions/index.js';
import { Scheduler } from '../src/scheduler/index.js';
import { TxnKind, type TxnRequest } from '../src/sequencer/index.js';
import { loaderProgram, makeWorkload, microRow } from './workloads.js';

const USAGE = `usage: node dist/bench/applyPath.js [--records N] [--batch N] [--rounds N] [--contention X]

Applies calvin-micro batches directly through the scheduler to a fresh LMDB store and prints the cost
per transaction as JSON (median over the measured rounds; the first two rounds warm up).

flags:
  --records N      rows in the table (default 100000)
  --batch N        transactions per log entry (default 1000)
  --rounds N       batches to apply (default 12)
  --contention X   calvin-micro contention index (default 0.01)
  --help           print this help and exit`;

function positiveNumber(raw: string | undefined, name: string, fallback: number): number {
  const n = raw === undefined ? fallback : Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got '${String(raw)}'`);
  return n;
}

const { values } = parseArgs({
  options: {
    records: { type: 'string' },
    batch: { type: 'string' },
    rounds: { type: 'string' },
    contention: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const records = Math.floor(positiveNumber(values.records, 'records', 100_000));
const batch = Math.floor(positiveNumber(values.batch, 'batch', 1000));
const rounds = Math.floor(positiveNumber(values.rounds, 'rounds', 12));
const contention = positiveNumber(values.contention, 'contention', 0.01);

const dir = mkdtempSync(join(tmpdir(), 'ordo-apply-'));
const env = openEnvironment(dir);
try {
  const store = PartitionStore.open(env, { checksumEveryPositions: 100 });
  const scheduler = new Scheduler(store);
  let position = 0;
  const txn = (txnId: string, program: TxnRequest['program'], params: TxnRequest['params']): TxnRequest => ({
    txnId,
    user: 'bench',
    kind: TxnKind.readWrite,
    program,
    params,
    sql: '',
  });
  const loader = loaderProgram(1000);
  for (let start = 0; start < records; start += 1000) {
    const params = [];
    for (let i = 0; i < 1000; i++) params.push(...microRow(Math.min(start + i, records - 1)));
    position++;
    scheduler.applyEntry({ position, kind: 'batch', batch: { epoch: position, timestampMs: 1, txns: [txn(`load-${start}`, loader, params)] } });
  }
  const workload = makeWorkload('calvin-micro', records, contention, 42);
  const perTxnUs: number[] = [];
  let counter = 0;
  for (let round = 0; round < rounds; round++) {
    const txns = Array.from({ length: batch }, () => txn(`t-${counter++}`, workload.program, workload.next()));
    position++;
    const startMs = performance.now();
    scheduler.applyEntry({ position, kind: 'batch', batch: { epoch: position, timestampMs: 1, txns } });
    if (round >= 2) perTxnUs.push(((performance.now() - startMs) * 1000) / batch);
  }
  perTxnUs.sort((a, b) => a - b);
  const median = perTxnUs[Math.floor(perTxnUs.length / 2)] ?? 0;
  process.stdout.write(
    `${JSON.stringify({ bench: 'apply-path', workload: 'calvin-micro', records, batch, rounds, contention, usPerTxnMedian: Math.round(median * 100) / 100, txnsPerSecAtMedian: median > 0 ? Math.round(1e6 / median) : 0 })}\n`,
  );
} finally {
  await env.close();
  rmSync(dir, { recursive: true, force: true });
}
