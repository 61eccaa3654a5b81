// `ordo bench engine`: in-process engine workloads, run twice — with the durable input log and with the
// log disabled (executor only) — so the ratio shows what the log costs. Prints one JSON object per run.

import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { optionalInt, optionalNumber, parseCommand, UsageError, type CommandSpec, type ParsedFlags } from '../src/cli/args.js';
import { NodeDefaults, openNode, type OrdoNode } from '../src/node/index.js';
import { TxnKind, type TxnRequest } from '../src/sequencer/index.js';
import { loaderProgram, makeWorkload, microRow, WorkloadNames, type WorkloadName } from './workloads.js';

export const EngineBenchDefaults = {
  clients: 200,
  /** The most repeats one invocation runs (each is two runs of --seconds). */
  maxRepeat: 20,
} as const;

export const benchEngineSpec: CommandSpec = {
  usage: 'ordo bench engine --workload NAME --seconds N [--contention X] [--clients N] [--repeat N] [--data-dir DIR]',
  summary:
    `Runs an in-process engine workload (${WorkloadNames.join(', ')}) first with the log disabled (executor only), then with the durable input log, and prints one JSON object per run; the durable run carries ratio = durable txnsPerSec / executor-only txnsPerSec. With --data-dir the durable run's data is kept there for ordo replay and ordo checksum.`,
  flags: {
    workload: { type: 'string', valueName: 'NAME', help: WorkloadNames.join(' | '), default: 'calvin-micro' },
    seconds: { type: 'string', valueName: 'N', help: 'measured seconds per run', default: '5' },
    contention: {
      type: 'string',
      valueName: 'X',
      help: "calvin-micro's contention index: the inverse of the number of hot records",
      default: '0.01',
    },
    records: { type: 'string', valueName: 'N', help: 'rows in the table', default: '100000' },
    clients: {
      type: 'string',
      valueName: 'N',
      help: 'transactions kept in flight (on 2 cores calvin-micro is within a few % of its peak throughput at 200; more clients mostly queue longer)',
      default: String(EngineBenchDefaults.clients),
    },
    'epoch-ms': { type: 'string', valueName: 'MS', help: 'sequencer epoch; 0: none, batches close when the node is free (ADR 0006)', default: String(NodeDefaults.epochMs) },
    'data-dir': { type: 'string', valueName: 'DIR', help: 'keep the durable run in DIR (must be new or empty)' },
    'executor-only': { type: 'boolean', help: 'skip the durable run' },
    repeat: {
      type: 'string',
      valueName: 'N',
      help: 'run the pair N times on fresh directories and end with a summary line of medians (the machine is noisy)',
      default: '1',
    },
    seed: { type: 'string', valueName: 'N', help: 'seed of the key choices', default: '42' },
  },
};

export interface RunConfig {
  readonly workload: WorkloadName;
  readonly seconds: number;
  readonly contention: number;
  readonly records: number;
  readonly clients: number;
  readonly epochMs: number;
  readonly seed: number;
}

export interface RunResult {
  readonly run: 'durable' | 'executor-only';
  readonly workload: WorkloadName;
  readonly txnsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** p99 in epochs; null with a 0 ms epoch, where it has no meaning. */
  readonly p99Epochs: number | null;
  readonly committed: number;
  readonly aborted: number;
  readonly batchesPerSec: number;
  /** fsyncs of the log (one covers every append committed before it started). */
  readonly logSyncsPerSec: number;
  readonly cpuUsPerTxn: number;
  readonly avgBatchTxns: number;
  readonly seconds: number;
  readonly clients: number;
  readonly epochMs: number;
  readonly contention: number | null;
  readonly records: number;
}

/** Fills the micro table with `records` rows through `node`, 1,000 rows per transaction. */
export async function load(node: OrdoNode, records: number): Promise<void> {
  const rowsPerTxn = 1000;
  const program = loaderProgram(rowsPerTxn);
  const inflight: Promise<unknown>[] = [];
  for (let start = 0; start < records; start += rowsPerTxn) {
    const params = [];
    for (let i = 0; i < rowsPerTxn; i++) params.push(...microRow(Math.min(start + i, records - 1)));
    inflight.push(
      node.submit({ txnId: `load-${start}`, user: 'bench', kind: TxnKind.readWrite, program, params, sql: '' }).then((r) => {
        if (r.status !== 'committed') throw new Error(`load failed: ${r.message}`);
      }),
    );
    if (inflight.length >= 16) await Promise.all(inflight.splice(0));
  }
  await Promise.all(inflight);
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

/** What `measure` reports: a run's result but for its name. */
export type Measurement = Omit<RunResult, 'run'>;

/**
 * Runs the workload through `node` (loaded already) with `config.clients` transactions in flight: a
 * warm-up, then `config.seconds` measured. `durable` says whether `node` syncs an input log.
 */
export async function measure(node: OrdoNode, config: RunConfig, durable: boolean): Promise<Measurement> {
  const workload = makeWorkload(config.workload, config.records, config.contention, config.seed);
  const latencies: number[] = [];
  let committed = 0;
  let aborted = 0;
  let txnCounter = 0;
  const warmupMs = Math.min(1000, config.seconds * 100);
  const startMs = performance.now();
  const measureFromMs = startMs + warmupMs;
  const endMs = measureFromMs + config.seconds * 1000;
  let positionAtMeasureStart = -1;
  let syncsAtStart = 0;
  let cpuAtStart: NodeJS.CpuUsage | undefined;
  const client = async (): Promise<void> => {
    for (;;) {
      const t0 = performance.now();
      if (t0 >= endMs) return;
      if (t0 >= measureFromMs && positionAtMeasureStart < 0) {
        positionAtMeasureStart = node.appliedPosition;
        syncsAtStart = node.inputLog.syncCount;
        cpuAtStart = process.cpuUsage();
      }
      const txn: TxnRequest = {
        txnId: `b-${txnCounter++}`,
        user: 'bench',
        kind: TxnKind.readWrite,
        program: workload.program,
        params: workload.next(),
        sql: '',
      };
      const result = await node.submit(txn);
      if (t0 < measureFromMs) continue;
      latencies.push(performance.now() - t0);
      if (result.status === 'committed') committed++;
      else aborted++;
    }
  };
  await Promise.all(Array.from({ length: config.clients }, client));
  const elapsedSec = (performance.now() - measureFromMs) / 1000;
  const cpu = process.cpuUsage(cpuAtStart);
  const batches = node.appliedPosition - Math.max(0, positionAtMeasureStart);
  const sorted = Float64Array.from(latencies).sort();
  const p99Ms = percentile(sorted, 0.99);
  return {
    workload: config.workload,
    txnsPerSec: Math.round((committed + aborted) / elapsedSec),
    p50Ms: round2(percentile(sorted, 0.5)),
    p99Ms: round2(p99Ms),
    p99Epochs: config.epochMs > 0 ? round2(p99Ms / config.epochMs) : null,
    committed,
    aborted,
    batchesPerSec: Math.round(batches / elapsedSec),
    logSyncsPerSec: durable ? Math.round((node.inputLog.syncCount - syncsAtStart) / elapsedSec) : 0,
    // CPU of this process (all its threads) per transaction: steadier than throughput on a busy machine.
    cpuUsPerTxn: committed + aborted > 0 ? round2((cpu.user + cpu.system) / (committed + aborted)) : 0,
    avgBatchTxns: batches > 0 ? Math.round((committed + aborted) / batches) : 0,
    seconds: round2(elapsedSec),
    clients: config.clients,
    epochMs: config.epochMs,
    contention: config.workload === 'calvin-micro' ? config.contention : null,
    records: config.records,
  };
}

/** Opens a node on `dataDir`, loads the table, measures the workload and closes the node. */
export async function runOnce(config: RunConfig, dataDir: string, durable: boolean): Promise<RunResult> {
  const node = openNode({ dataDir, epochMs: config.epochMs, logEnabled: durable });
  try {
    await load(node, config.records);
    return { run: durable ? 'durable' : 'executor-only', ...(await measure(node, config, durable)) };
  } finally {
    await node.close();
  }
}

export function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

/** The run configuration of the flags benchEngineSpec shares with other benchmarks (workload … seed). */
export function runConfigOf(flags: ParsedFlags): RunConfig {
  const workload = String(flags.workload);
  if (!(WorkloadNames as readonly string[]).includes(workload)) {
    throw new UsageError(`--workload must be one of ${WorkloadNames.join(', ')}, got '${workload}'`);
  }
  return {
    workload: workload as WorkloadName,
    seconds: optionalNumber(flags, 'seconds', 0.1, 3600) ?? 5,
    contention: optionalNumber(flags, 'contention', 1e-6, 1) ?? 0.01,
    records: optionalInt(flags, 'records', 100) ?? 100_000,
    clients: optionalInt(flags, 'clients', 1) ?? EngineBenchDefaults.clients,
    epochMs: optionalInt(flags, 'epoch-ms', 0) ?? NodeDefaults.epochMs,
    seed: optionalInt(flags, 'seed', 0) ?? 42,
  };
}

function ratioOf(durable: RunResult, executorOnly: RunResult): number {
  return executorOnly.txnsPerSec > 0 ? round2(durable.txnsPerSec / executorOnly.txnsPerSec) : 0;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? 0;
}

/** Medians over the repeats, each run's figures taken as they were (not re-pooled). */
function summaryOf(config: RunConfig, pairs: readonly { executorOnly: RunResult; durable: RunResult | null }[]): Record<string, unknown> {
  const durable = pairs.flatMap((p) => (p.durable === null ? [] : [{ ...p.durable, ratio: ratioOf(p.durable, p.executorOnly) }]));
  const med = (pick: (r: RunResult & { ratio: number }) => number | null): number | null =>
    durable.length === 0 ? null : median(durable.map((r) => pick(r) ?? Number.NaN));
  return {
    run: 'summary',
    workload: config.workload,
    clients: config.clients,
    epochMs: config.epochMs,
    repeats: pairs.length,
    executorOnlyTxnsPerSecMedian: median(pairs.map((p) => p.executorOnly.txnsPerSec)),
    durableTxnsPerSecMedian: med((r) => r.txnsPerSec),
    p50MsMedian: med((r) => r.p50Ms),
    p99MsMedian: med((r) => r.p99Ms),
    p99EpochsMedian: config.epochMs > 0 ? med((r) => r.p99Epochs) : null,
    ratioMedian: med((r) => r.ratio),
  };
}

export async function benchEngine(argv: readonly string[]): Promise<void> {
  const flags = parseCommand(benchEngineSpec, argv);
  if (flags === undefined) return;
  const config = runConfigOf(flags);
  const keep = flags['data-dir'];
  if (typeof keep === 'string' && existsSync(keep) && readdirSync(keep).length > 0) {
    throw new UsageError(`--data-dir ${keep} must not exist or be empty`);
  }
  const repeat = optionalInt(flags, 'repeat', 1) ?? 1;
  if (repeat > EngineBenchDefaults.maxRepeat) throw new UsageError(`--repeat must be at most ${EngineBenchDefaults.maxRepeat}, got ${repeat}`);
  if (repeat > 1 && typeof keep === 'string') throw new UsageError('--data-dir keeps one run: it cannot be combined with --repeat');
  const scratch = mkdtempSync(join(tmpdir(), 'ordo-bench-'));
  const pairs: { executorOnly: RunResult; durable: RunResult | null }[] = [];
  try {
    for (let i = 0; i < repeat; i++) {
      const executorOnly = await runOnce(config, join(scratch, `executor-only-${i}`), false);
      process.stdout.write(`${JSON.stringify({ ...executorOnly, ratio: 1 })}\n`);
      if (flags['executor-only'] === true) {
        pairs.push({ executorOnly, durable: null });
        continue;
      }
      const durableDir = typeof keep === 'string' ? resolve(keep) : join(scratch, `durable-${i}`);
      const durable = await runOnce(config, durableDir, true);
      pairs.push({ executorOnly, durable });
      process.stdout.write(
        `${JSON.stringify({ ...durable, ratio: ratioOf(durable, executorOnly), executorOnlyTxnsPerSec: executorOnly.txnsPerSec, dataDir: typeof keep === 'string' ? durableDir : null })}\n`,
      );
      if (typeof keep !== 'string') rmSync(join(scratch, `durable-${i}`), { recursive: true, force: true });
      rmSync(join(scratch, `executor-only-${i}`), { recursive: true, force: true });
    }
    if (repeat > 1) process.stdout.write(`${JSON.stringify(summaryOf(config, pairs))}\n`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
