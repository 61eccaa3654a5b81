// Issue 4's cluster benchmark: a 3-process cluster on this machine against one embedded node in the same
// session. Prints one JSON object per measurement on stdout (progress on stderr):
//
// - engine: the workload of `ordo bench engine` (calvin-micro by default) through node.submit, measured
//   by bench/engine.ts, on an embedded node and then on a cluster member opened in this process and made
//   leader, whose two peers are `ordo start` processes; ratio = cluster / embedded.
// - pgbench: the one-shot tpcb-like of bench/pgbench.ts against an `ordo start` node and against the
//   leader of an `ordo cluster start` cluster; p50/p99 come from pgbench's per-transaction log.
// - failover: under the cluster tests' write load, SIGKILL the leader and time until a survivor leads
//   and commits in a new term (as test/cluster.failover.test.ts does), and until a write sent to a
//   survivor at the kill is acknowledged; restart the killed node and wait until every node converges.
//
//   node dist/bench/cluster.js [--only engine,pgbench,failover] [--seconds N] [--pgbench-seconds N] [--kills N] …

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { optionalInt, parseCommand, UsageError, type CommandSpec, type FlagSpec } from '../src/cli/args.js';
import { CLUSTER_FILE, freePort, readClusterFile, type ClusterFile, type ClusterNodeRecord } from '../src/cli/cluster.js';
import { AdminPaths, ClusterInitialState, openClusterNode, type OrdoNode } from '../src/node/index.js';
import { errorMessage } from '../src/util/index.js';
import { ackedCount, client, converged, health, leaderOf, missingKeys, newLeaderCommitted, ORDO, ordo, sleep, startWriters, stopWriters, waitFor } from '../test/fixtures/clusterSupport.js';
import { benchEngineSpec, load, measure, percentile, round2, runConfigOf, runOnce, type RunConfig } from './engine.js';
import { initOrdo, runWorkload, startOrdo, stopOrdo, WORKLOADS, writeScripts, type Target, type Workload } from './pgbench.js';

const BenchDefaults = {
  host: '127.0.0.1',
  clusterId: 'bench',
  /** The engine cluster's members; the first runs in this process. */
  memberIds: ['n1', 'n2', 'n3'],
  leaderTimeoutMs: 30_000,
  adminCallTimeoutMs: 5_000,
  adminRetryMs: 100,
  /** How long a new leader may take before a failover sample counts as a failure. */
  failoverTimeoutMs: 10_000,
  failoverPollMs: 20,
  resumeTimeoutMs: 10_000,
  catchUpTimeoutMs: 60_000,
  /** Keys of one kill's writes: writer i of kill k writes from k · keysPerKill + (i + 1) · 1,000,000. */
  keysPerKill: 10_000_000,
  probeKeyOffset: 9_000_000,
  /** The targets. */
  minRatio: 0.5,
  failoverMedianTargetMs: 1_500,
  failoverMaxTargetMs: 2_000,
  logTailLines: 10,
} as const;

const PHASES = ['engine', 'pgbench', 'failover'] as const;
type Phase = (typeof PHASES)[number];

const oneShot = WORKLOADS.find((w) => w.name === 'tpcb-one-shot');

/** The flags shared with `ordo bench engine`, with the same meaning. */
const engineFlags: Record<string, FlagSpec> = {};
for (const name of ['workload', 'contention', 'records', 'clients', 'seed'] as const) {
  const flag = benchEngineSpec.flags[name];
  if (flag !== undefined) engineFlags[name] = flag;
}

export const clusterBenchSpec: CommandSpec = {
  usage: 'node dist/bench/cluster.js [--only LIST] [--seconds N] [--pgbench-seconds N] [--kills N] [--load-ms MS] [engine flags]',
  summary:
    "Issue 4's benchmark: a 3-process cluster on loopback against one embedded node, in the same session. engine: the `ordo bench engine` workload through node.submit, on an embedded node, then on a cluster member in this process made leader (its two peers are `ordo start` processes). pgbench: the one-shot tpcb-like at scale 1 against an `ordo start` node, then against the leader of an `ordo cluster start` cluster. failover: --kills times, under a write load, SIGKILL the leader, time until a survivor leads and commits in a new term and until a write sent at the kill is acknowledged, restart the killed node and wait until every node has caught up. Prints one JSON object per measurement (cluster runs carry ratio = cluster / embedded), then a summary; progress goes to stderr. Every process and directory it creates is removed at the end, on an error and on SIGINT/SIGTERM.",
  flags: {
    only: { type: 'string', valueName: 'LIST', help: `the measurements to run, comma-separated: ${PHASES.join(', ')}`, default: PHASES.join(',') },
    seconds: { type: 'string', valueName: 'N', help: 'engine: measured seconds per run (after a warm-up of up to 1 s)', default: '8' },
    ...engineFlags,
    'epoch-ms': { type: 'string', valueName: 'MS', help: 'the sequencer epoch of every node, embedded and cluster, in all measurements', default: '5' },
    'pgbench-seconds': { type: 'string', valueName: 'N', help: 'pgbench: seconds per run', default: '10' },
    'pgbench-clients': { type: 'string', valueName: 'N', help: 'pgbench: clients (pgbench -c)', default: String(oneShot?.clients ?? 32) },
    kills: { type: 'string', valueName: 'N', help: 'failover: how many times the leader is killed', default: '10' },
    'load-ms': { type: 'string', valueName: 'MS', help: 'failover: how long the write load runs before each kill', default: '1000' },
  },
};

const startedAtMs = performance.now();

function progress(line: string): void {
  process.stderr.write(`[bench cluster +${((performance.now() - startedAtMs) / 1000).toFixed(1)}s] ${line}\n`);
}

/** One measurement as a JSON line, with the machine's 1-minute load average when it ended. */
function emit(measurement: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ ...measurement, loadAvg1m: round2(loadavg()[0] ?? 0) })}\n`);
}

/** Steps that undo what the benchmark started, each run once, newest first, whether it ends well or not. */
class Cleanup {
  private readonly steps = new Map<number, () => Promise<void>>();
  private nextId = 0;
  /** Set by SIGINT/SIGTERM: what fails from then on fails because its processes were stopped. */
  interrupted = false;

  /** Registers `undo`; the function returned runs it now (once) and forgets it. */
  defer(what: string, undo: () => Promise<void> | void): () => Promise<void> {
    const id = this.nextId++;
    let done: Promise<void> | undefined;
    const run = (): Promise<void> => {
      this.steps.delete(id);
      done ??= (async () => {
        try {
          await undo();
        } catch (err) {
          progress(`could not undo ${what}: ${errorMessage(err)}`);
        }
      })();
      return done;
    };
    this.steps.set(id, run);
    // Whatever is started after an interrupt is undone at once, and the run stops here.
    if (this.interrupted) {
      void run();
      throw new Error('interrupted');
    }
    return run;
  }

  /** Where the steps registered from now on begin, for undoSince. */
  mark(): number {
    return this.nextId;
  }

  /** Runs the steps registered since `mark`, newest first. */
  async undoSince(mark: number): Promise<void> {
    for (const [id, run] of [...this.steps].reverse()) if (id >= mark) await run();
  }

  runAll(interrupted = false): Promise<void> {
    this.interrupted ||= interrupted;
    return this.undoSince(0);
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

function ratioOf(cluster: number, embedded: number): number {
  return embedded > 0 ? Math.round((cluster / embedded) * 1000) / 1000 : 0;
}

function logTail(path: string): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-BenchDefaults.logTailLines).join('\n');
  } catch (err) {
    return `(cannot read ${path}: ${errorMessage(err)})`;
  }
}

// ---- engine ----

interface EngineCluster {
  readonly node: OrdoNode;
  /** The HTTP (admin) port of each member running as a process. */
  readonly httpPorts: ReadonlyMap<string, number>;
  /** The process id of each member running as a process. */
  readonly pids: ReadonlyMap<string, number>;
}

/** CPU time (user and system, ms) process `pid` has used, from /proc; undefined where there is none. */
function processCpuMs(pid: number): number | undefined {
  try {
    // utime and stime are fields 14 and 15 of /proc/PID/stat, in clock ticks of 10 ms.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks * 10 : undefined;
  } catch {
    return undefined;
  }
}

const [SELF, ...OTHERS] = BenchDefaults.memberIds;
const memberLog = (dir: string, id: string): string => join(dir, `${id}.log`);

/**
 * Founds a 3-member cluster: the first member opened in this process, the others `ordo start`
 * processes whose output goes to DIR/ID.log; every part is registered with `cleanup`.
 */
async function openEngineCluster(dir: string, epochMs: number, cleanup: Cleanup): Promise<EngineCluster> {
  const { host, clusterId, memberIds } = BenchDefaults;
  mkdirSync(dir, { recursive: true });
  const peers: Record<string, string> = {};
  for (const id of memberIds) peers[id] = `${host}:${await freePort(host)}`;
  const peerList = Object.entries(peers)
    .map(([id, address]) => `${id}=${address}`)
    .join(',');
  const httpPorts = new Map<string, number>();
  const pids = new Map<string, number>();
  for (const id of OTHERS) {
    const httpPort = await freePort(host);
    httpPorts.set(id, httpPort);
    const logFile = memberLog(dir, id);
    const args = [
      ...['start', '--data-dir', join(dir, id), '--host', host, '--pg-port', '0', '--http-port', String(httpPort), '--epoch-ms', String(epochMs)],
      ...['--node-id', id, '--cluster-id', clusterId, '--raft-listen', peers[id] ?? '', '--peers', peerList, '--bootstrap'],
    ];
    const out = openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [ORDO, ...args], { stdio: ['ignore', out, out] });
    } finally {
      closeSync(out);
    }
    cleanup.defer(`ordo start ${id} (pid ${child.pid})`, () => stopOrdo(child));
    if (child.pid !== undefined) pids.set(id, child.pid);
  }
  const node = await openClusterNode({
    dataDir: join(dir, SELF),
    epochMs,
    cluster: { nodeId: SELF, clusterId, peers, listen: peers[SELF] ?? '', initialState: ClusterInitialState.bootstrap },
  });
  cleanup.defer(`the in-process member ${SELF}`, () => node.close());
  return { node, httpPorts, pids };
}

/**
 * Makes the in-process member lead, so that submissions are sequenced where they are made rather
 * than forwarded: asks the leader (over its admin endpoint) to hand leadership over until it has.
 * Returns the member first elected.
 */
async function leadHere(cluster: EngineCluster): Promise<string> {
  const { node } = cluster;
  const elected = await waitFor('a leader', async () => node.clusterStatus()?.leader || undefined, BenchDefaults.leaderTimeoutMs);
  const deadline = performance.now() + BenchDefaults.leaderTimeoutMs;
  while (node.clusterStatus()?.role !== 'leader') {
    if (performance.now() > deadline) throw new Error(`${SELF} did not become leader within ${BenchDefaults.leaderTimeoutMs} ms`);
    const port = cluster.httpPorts.get(node.clusterStatus()?.leader ?? '');
    if (port !== undefined) {
      // A refusal (503: a leader just elected, a transfer in progress) or no answer: ask again.
      await fetch(`http://${BenchDefaults.host}:${port}${AdminPaths.transferLeader}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ to: SELF }),
        signal: AbortSignal.timeout(BenchDefaults.adminCallTimeoutMs),
      }).catch(() => undefined);
    }
    await sleep(BenchDefaults.adminRetryMs);
  }
  return elected;
}

async function benchEngine(config: RunConfig, dir: string, cleanup: Cleanup): Promise<number> {
  progress(`engine: ${config.workload} on an embedded node (${config.records} rows, ${config.clients} clients, ${config.seconds} s)`);
  const embedded = await runOnce(config, join(dir, 'embedded'), true);
  emit({ measurement: 'engine', ...embedded, run: 'embedded' });

  progress(`engine: starting a 3-member cluster (${SELF} in this process, ${OTHERS.join(' and ')} as ordo start processes)`);
  const clusterDir = join(dir, 'engine-cluster');
  const mark = cleanup.mark();
  try {
    const cluster = await openEngineCluster(clusterDir, config.epochMs, cleanup);
    const firstLeader = await leadHere(cluster);
    const { node } = cluster;
    progress(`engine: ${firstLeader} was elected; ${node.clusterStatus()?.nodeId} leads now; loading and measuring`);
    await load(node, config.records);
    const atStart = node.clusterStatus();
    const cpuAtStart = new Map([...cluster.pids].map(([id, pid]) => [id, processCpuMs(pid)]));
    const measureStartMs = performance.now();
    const result = await measure(node, config, true);
    const measuredMs = performance.now() - measureStartMs;
    const atEnd = node.clusterStatus();
    // How busy the other members were (warm-up included): with every member executing every
    // transaction on a shared machine, their CPU bounds the cluster's throughput.
    const memberCpuPercent = Object.fromEntries(
      [...cluster.pids].map(([id, pid]) => {
        const before = cpuAtStart.get(id);
        const after = processCpuMs(pid);
        return [id, before === undefined || after === undefined ? null : Math.round(((after - before) / measuredMs) * 100)];
      }),
    );
    const ratio = ratioOf(result.txnsPerSec, embedded.txnsPerSec);
    emit({
      measurement: 'engine',
      run: 'cluster',
      ...result,
      leader: atStart?.nodeId,
      leaderInProcess: true,
      firstElected: firstLeader,
      // Whether the measured member led for the whole run (a new term means an election happened).
      ledThroughout: atEnd?.role === 'leader' && atEnd.term === atStart?.term,
      memberCpuPercent,
      embeddedTxnsPerSec: embedded.txnsPerSec,
      embeddedP50Ms: embedded.p50Ms,
      embeddedP99Ms: embedded.p99Ms,
      ratio,
      targetRatio: BenchDefaults.minRatio,
    });
    return ratio;
  } catch (err) {
    if (!cleanup.interrupted) for (const id of OTHERS) progress(`the end of ${id}'s output:\n${logTail(memberLog(clusterDir, id))}`);
    throw err;
  } finally {
    await cleanup.undoSince(mark);
  }
}

// ---- pgbench ----

/** p50 and p99 latency of the transactions pgbench logged (-l) under `prefix` in `dir`. */
function loggedLatencies(dir: string, prefix: string): { p50Ms: number; p99Ms: number } {
  const micros: number[] = [];
  for (const name of readdirSync(dir).filter((f) => f.startsWith(`${prefix}.`))) {
    // client_id transaction_no time_us script_no time_epoch time_us_frac; time is "failed" for a failure.
    for (const line of readFileSync(join(dir, name), 'utf8').split('\n')) {
      const us = Number(line.split(' ')[2]);
      if (line !== '' && Number.isFinite(us)) micros.push(us);
    }
  }
  const sorted = Float64Array.from(micros).sort();
  return { p50Ms: round2(percentile(sorted, 0.5) / 1000), p99Ms: round2(percentile(sorted, 0.99) / 1000) };
}

/**
 * A fresh scale-1 database through `target`, then one run of `workload`. `settled` waits until every
 * replica has applied the initial data, so that the run does not pay for a follower still catching up.
 */
async function runPgbench(target: Target, workload: Workload, dir: string, seconds: number, run: string, settled: () => Promise<unknown>): Promise<Record<string, unknown> & { tps: number }> {
  const initStartMs = performance.now();
  await initOrdo(target);
  await settled();
  const initSec = round2((performance.now() - initStartMs) / 1000);
  const prefix = `${run}-txn-log`;
  const result = await runWorkload(target, workload, dir, seconds, ['-l', `--log-prefix=${join(dir, prefix)}`]);
  return { measurement: 'pgbench', run, workload: workload.name, clients: workload.clients, seconds, ...result, ...loggedLatencies(dir, prefix), initSec };
}

/** `ordo cluster start` of 3 nodes in `baseDir`, stopped by `cleanup`. */
async function startLocalCluster(baseDir: string, epochMs: number, cleanup: Cleanup): Promise<ClusterFile> {
  // Registered first: a start that fails half-way leaves processes that cluster.json names.
  cleanup.defer(`the cluster in ${baseDir}`, async () => {
    if (existsSync(join(baseDir, CLUSTER_FILE))) await ordo(['cluster', 'stop', '--base-dir', baseDir]);
  });
  const r = await ordo(['cluster', 'start', '--nodes', '3', '--base-dir', baseDir, '--epoch-ms', String(epochMs)]);
  if (r.code !== 0) throw new Error(`ordo cluster start failed (${r.code}): ${r.stderr}${r.stdout}`);
  return readClusterFile(baseDir);
}

async function benchPgbench(workload: Workload, seconds: number, epochMs: number, dir: string, cleanup: Cleanup): Promise<number> {
  writeScripts(dir);
  progress(`pgbench: ${workload.name}, ${workload.clients} clients, ${seconds} s, against an embedded node (ordo start)`);
  const ordoNode = await startOrdo(join(dir, 'embedded'), undefined, ['--epoch-ms', String(epochMs)]);
  const stopNode = cleanup.defer(`ordo start (pid ${ordoNode.child.pid})`, () => stopOrdo(ordoNode.child));
  let embedded: Awaited<ReturnType<typeof runPgbench>>;
  try {
    const target: Target = { host: BenchDefaults.host, port: ordoNode.port, user: 'postgres', database: 'postgres' };
    embedded = await runPgbench(target, workload, dir, seconds, 'embedded', () => Promise.resolve());
  } finally {
    await stopNode();
  }
  emit(embedded);

  progress('pgbench: the same against the leader of a 3-process cluster (ordo cluster start)');
  const mark = cleanup.mark();
  try {
    const file = await startLocalCluster(join(dir, 'pgbench-cluster'), epochMs, cleanup);
    const leader = await waitFor('a leader', () => leaderOf(file), BenchDefaults.leaderTimeoutMs);
    const target: Target = { host: file.host, port: leader.pgPort, user: 'postgres', database: 'postgres' };
    const result = await runPgbench(target, workload, dir, seconds, 'cluster', () => converged(file, BenchDefaults.catchUpTimeoutMs));
    const ratio = ratioOf(result.tps, embedded.tps);
    emit({ ...result, node: leader.id, role: 'leader', embeddedTps: embedded.tps, ratio, targetRatio: BenchDefaults.minRatio });
    return ratio;
  } finally {
    await cleanup.undoSince(mark);
  }
}

// ---- failover ----

interface KillSample {
  readonly kill: number;
  readonly killed: string;
  readonly newLeader: string;
  readonly term: number;
  /** From the SIGKILL until a survivor leads and has committed in a new term (test/cluster.failover.test.ts). */
  readonly failoverMs: number;
  /** From the SIGKILL until the first of the writes sent to each survivor at that moment is acknowledged. */
  readonly firstWriteMs: number | null;
  /** From the restart of the killed node until every node is at the same position and checksum. */
  readonly catchUpMs: number;
  readonly clientErrors: number;
}

/** One kill: write load, SIGKILL of the leader, failover, restart, catch-up. Acknowledged keys go to `acked`. */
async function killLeader(baseDir: string, kill: number, loadMs: number, acked: number[]): Promise<KillSample> {
  const file = readClusterFile(baseDir);
  const leader = await waitFor('a leader', () => leaderOf(file), BenchDefaults.leaderTimeoutMs);
  const survivors = file.nodes.filter((n) => n.id !== leader.id);
  const writerClients = await Promise.all(file.nodes.map((n) => client(file, n)));
  const probeClients = await Promise.all(survivors.map((n) => client(file, n)));
  const base = kill * BenchDefaults.keysPerKill;
  let newLeader: ClusterNodeRecord;
  let failoverMs: number;
  let firstWriteMs: number | null;
  let clientErrors = 0;
  try {
    const writers = startWriters(file.nodes, writerClients, base);
    await sleep(loadMs);
    const before = await Promise.all(survivors.map((n) => health(file, n)));
    const oldTerm = Math.max(...before.map((h) => h?.cluster.term ?? 0));
    const commitAtKill = Math.max(...before.map((h) => h?.cluster.commit ?? 0));
    const killedAt = performance.now();
    process.kill(leader.pid, 'SIGKILL');
    const probes = probeClients.map((c, i) => {
      const key = base + BenchDefaults.probeKeyOffset + i;
      return c.query('INSERT INTO kv VALUES ($1, $2)', [key, 'probe']).then(
        () => {
          acked.push(key);
          return performance.now() - killedAt;
        },
        () => undefined,
      );
    });
    newLeader = await newLeaderCommitted(file, survivors, oldTerm, commitAtKill, BenchDefaults.failoverTimeoutMs, BenchDefaults.failoverPollMs);
    failoverMs = performance.now() - killedAt;
    const probeMs = (await Promise.all(probes)).filter((ms) => ms !== undefined);
    firstWriteMs = probeMs.length > 0 ? Math.min(...probeMs) : null;
    const surviving = writers.filter((w) => w.node !== leader);
    const ackedAtFailover = ackedCount(surviving);
    await waitFor('writes to resume', async () => (ackedCount(surviving) > ackedAtFailover + 10 ? true : undefined), BenchDefaults.resumeTimeoutMs);
    await stopWriters(writers);
    for (const w of writers) {
      acked.push(...w.acked);
      clientErrors += w.errors;
    }
  } finally {
    await Promise.all([...writerClients, ...probeClients].map((c) => c.end().catch(() => undefined)));
  }
  const term = (await health(file, newLeader))?.cluster.term ?? 0;
  const restartedAt = performance.now();
  const r = await ordo(['cluster', 'start', '--base-dir', baseDir]);
  if (r.code !== 0) throw new Error(`restarting ${leader.id} failed (${r.code}): ${r.stderr}${r.stdout}`);
  await converged(readClusterFile(baseDir), BenchDefaults.catchUpTimeoutMs);
  const catchUpMs = performance.now() - restartedAt;
  return {
    kill,
    killed: leader.id,
    newLeader: newLeader.id,
    term,
    failoverMs: Math.round(failoverMs),
    firstWriteMs: firstWriteMs === null ? null : Math.round(firstWriteMs),
    catchUpMs: Math.round(catchUpMs),
    clientErrors,
  };
}

function spread(values: readonly number[]): { median: number; max: number } {
  return { median: Math.round(median(values)), max: Math.round(Math.max(...values)) };
}

async function benchFailover(kills: number, loadMs: number, epochMs: number, dir: string, cleanup: Cleanup): Promise<{ median: number; max: number }> {
  progress(`failover: ${kills} leader kills on a 3-process cluster (ordo cluster start), ${loadMs} ms of write load before each`);
  const baseDir = join(dir, 'failover-cluster');
  const mark = cleanup.mark();
  try {
    const file = await startLocalCluster(baseDir, epochMs, cleanup);
    const first = file.nodes[0];
    if (first === undefined) throw new Error('the cluster has no node');
    const c = await client(file, first);
    await c.query('CREATE TABLE kv (k int PRIMARY KEY, v text)');
    await c.end();
    const acked: number[] = [];
    const samples: KillSample[] = [];
    for (let kill = 1; kill <= kills; kill++) {
      const sample = await killLeader(baseDir, kill, loadMs, acked);
      samples.push(sample);
      progress(
        `failover ${kill}/${kills}: killed ${sample.killed}; ${sample.newLeader} committed in term ${sample.term} after ${sample.failoverMs} ms, ` +
          `first write acknowledged after ${sample.firstWriteMs ?? '-'} ms; ${sample.killed} caught up ${sample.catchUpMs} ms after its restart`,
      );
    }
    // No acknowledged write may be lost on any node, whichever nodes were killed.
    const after = readClusterFile(baseDir);
    await converged(after, BenchDefaults.catchUpTimeoutMs);
    const lost = await Promise.all(after.nodes.map(async (n) => (await missingKeys(after, n, acked)).missing.length));
    const failover = spread(samples.map((s) => s.failoverMs));
    const firstWrites = samples.flatMap((s) => (s.firstWriteMs === null ? [] : [s.firstWriteMs]));
    emit({
      measurement: 'failover',
      kills,
      loadMs,
      samples,
      failoverMs: failover,
      firstWriteMs: firstWrites.length > 0 ? spread(firstWrites) : null,
      catchUpMs: spread(samples.map((s) => s.catchUpMs)),
      ackedWrites: acked.length,
      lostWrites: Math.max(...lost),
      targetMedianMs: BenchDefaults.failoverMedianTargetMs,
      targetMaxMs: BenchDefaults.failoverMaxTargetMs,
    });
    return failover;
  } finally {
    await cleanup.undoSince(mark);
  }
}

// ---- main ----

async function main(argv: readonly string[]): Promise<void> {
  const flags = parseCommand(clusterBenchSpec, argv);
  if (flags === undefined) return;
  const config = runConfigOf(flags);
  const only = String(flags.only).split(',').filter((p) => p !== '');
  const unknown = only.filter((p) => !(PHASES as readonly string[]).includes(p));
  if (unknown.length > 0 || only.length === 0) throw new UsageError(`--only takes a list of ${PHASES.join(', ')}, got '${String(flags.only)}'`);
  const phases = new Set(only as Phase[]);
  if (oneShot === undefined) throw new Error("bench/pgbench.ts has no 'tpcb-one-shot' workload");
  const pgbenchWorkload: Workload = { ...oneShot, clients: optionalInt(flags, 'pgbench-clients', 1) ?? oneShot.clients };
  const pgbenchSeconds = optionalInt(flags, 'pgbench-seconds', 1) ?? 10;
  const kills = optionalInt(flags, 'kills', 1) ?? 10;
  const loadMs = optionalInt(flags, 'load-ms', 0) ?? 1000;

  const cleanup = new Cleanup();
  const dir = mkdtempSync(join(tmpdir(), 'ordo-bench-cluster-'));
  cleanup.defer(`the scratch directory ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  const onSignal = (signal: NodeJS.Signals): void => {
    progress(`${signal}: stopping every process this benchmark started`);
    void cleanup.runAll(true).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const loadAtStart = round2(loadavg()[0] ?? 0);
  try {
    const engineRatio = phases.has('engine') ? await benchEngine(config, dir, cleanup) : null;
    const pgbenchRatio = phases.has('pgbench') ? await benchPgbench(pgbenchWorkload, pgbenchSeconds, config.epochMs, dir, cleanup) : null;
    const failover = phases.has('failover') ? await benchFailover(kills, loadMs, config.epochMs, dir, cleanup) : null;
    emit({
      measurement: 'summary',
      engineRatio,
      pgbenchRatio,
      failoverMedianMs: failover?.median ?? null,
      failoverMaxMs: failover?.max ?? null,
      targetsMet: {
        engine: engineRatio === null ? null : engineRatio >= BenchDefaults.minRatio,
        pgbench: pgbenchRatio === null ? null : pgbenchRatio >= BenchDefaults.minRatio,
        failover: failover === null ? null : failover.median < BenchDefaults.failoverMedianTargetMs && failover.max < BenchDefaults.failoverMaxTargetMs,
      },
      cpus: cpus().length,
      loadAvg1mAtStart: loadAtStart,
      elapsedSec: Math.round((performance.now() - startedAtMs) / 1000),
    });
  } finally {
    await cleanup.runAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

try {
  await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`${err instanceof UsageError ? '' : 'bench cluster failed: '}${errorMessage(err)}\n`);
  process.exitCode = 1;
}
