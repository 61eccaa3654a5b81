// pgbench workloads of issue 3 against OrdoDB (a spawned `ordo start`) and, when one is reachable, a
// local PostgreSQL; prints one JSON object with tps per workload and the OrdoDB/PostgreSQL ratio.
//
//   node dist/bench/pgbench.js [--seconds N] [--only a,b] [--repeat N] [--cpu-prof DIR] [--no-postgres]
//                              [--ordo-args="--epoch-ms 1 …"] [--pg-host H] [--pg-port P] [--pg-user U]
//
// --repeat runs each workload N times (a fresh database each time) and reports the median tps, since
// this machine is shared; --cpu-prof starts `ordo start` under `node --cpu-prof` writing into DIR.
//
// Scale 1. Workloads and clients as the targets: the one-shot tpcb-like (`\;` compound
// statement) at 32 clients, the built-in interactive tpcb-like at 32 clients with --max-tries=10,
// a single-statement UPDATE at 8 clients, select-only at 32 clients.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

const USAGE = `usage: node dist/bench/pgbench.js [flags]

Runs pgbench's workloads (one-shot tpcb-like, interactive tpcb-like, single-statement update,
select-only; scale 1) against a fresh OrdoDB (ordo start) and, when one is reachable, a local
PostgreSQL, and prints JSON with tps and the ratio OrdoDB / PostgreSQL.

flags:
  --seconds N          seconds per run (default 10)
  --only a,b           run only these workloads
  --repeat N           run each workload N times on a fresh database and report the median (default 1)
  --cpu-prof DIR       profile ordo start with node --cpu-prof into DIR
  --no-postgres        do not look for a local PostgreSQL
  --ordo-args "…"      extra flags for ordo start (e.g. "--epoch-ms 1")
  --pg-host H          PostgreSQL host (default $PGHOST or 127.0.0.1)
  --pg-port P          PostgreSQL port (default $PGPORT or 5432)
  --pg-user U          PostgreSQL user (default $PGUSER or postgres)
  --help               print this help and exit`;
const PGBENCH = '/usr/bin/pgbench';
const PSQL = '/usr/bin/psql';

export interface Target {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
}

export interface Workload {
  readonly name: string;
  readonly clients: number;
  /** pgbench arguments selecting the script. */
  readonly args: (dir: string) => string[];
}

const ONE_SHOT = [
  '\\set aid random(1, 100000 * :scale)',
  '\\set bid random(1, 1 * :scale)',
  '\\set tid random(1, 10 * :scale)',
  '\\set delta random(-5000, 5000)',
  'BEGIN \\; UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid \\; SELECT abalance FROM pgbench_accounts WHERE aid = :aid \\; UPDATE pgbench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid \\; UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = :bid \\; INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP) \\; END;',
  '',
].join('\n');

const UPDATE_ONLY = ['\\set aid random(1, 100000 * :scale)', '\\set delta random(-5000, 5000)', 'UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;', ''].join('\n');

export const WORKLOADS: readonly Workload[] = [
  { name: 'tpcb-one-shot', clients: 32, args: (dir) => ['-f', join(dir, 'oneshot.sql')] },
  { name: 'tpcb-interactive', clients: 32, args: () => ['--max-tries=10'] },
  { name: 'update-only', clients: 8, args: (dir) => ['-f', join(dir, 'update.sql')] },
  { name: 'select-only', clients: 32, args: () => ['-S'] },
];

/** PostgreSQL's pgbench schema, but with the primary keys in CREATE TABLE (OrdoDB has no ADD PRIMARY KEY yet). */
const ORDO_SCHEMA = [
  'DROP TABLE IF EXISTS pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers',
  'CREATE TABLE pgbench_history (tid int, bid int, aid int, delta int, mtime timestamp, filler char(22))',
  'CREATE TABLE pgbench_tellers (tid int PRIMARY KEY, bid int, tbalance int, filler char(84)) WITH (fillfactor=100)',
  'CREATE TABLE pgbench_accounts (aid int PRIMARY KEY, bid int, abalance int, filler char(84)) WITH (fillfactor=100)',
  'CREATE TABLE pgbench_branches (bid int PRIMARY KEY, bbalance int, filler char(88)) WITH (fillfactor=100)',
];

function conn(t: Target): string[] {
  return ['-h', t.host, '-p', String(t.port), '-U', t.user];
}

export async function pgbench(t: Target, args: readonly string[]): Promise<string> {
  const { stdout } = await run(PGBENCH, [...conn(t), ...args, t.database], { maxBuffer: 16 << 20 });
  return stdout;
}

export interface RunResult {
  readonly tps: number;
  readonly transactions: number;
  readonly failed: number;
  readonly retriedPercent: number;
}

function parse(out: string): RunResult {
  const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? 'NaN');
  return {
    tps: num(/tps = ([0-9.]+) \(without initial connection time\)/),
    transactions: num(/number of transactions actually processed: (\d+)/),
    failed: num(/number of failed transactions: (\d+)/),
    retriedPercent: /number of transactions retried/.test(out) ? num(/number of transactions retried: \d+ \(([0-9.]+)%\)/) : 0,
  };
}

/** Writes the workloads' script files into `dir` (WORKLOADS' args name them there). */
export function writeScripts(dir: string): void {
  writeFileSync(join(dir, 'oneshot.sql'), ONE_SHOT);
  writeFileSync(join(dir, 'update.sql'), UPDATE_ONLY);
}

/** A fresh scale-1 pgbench database on an OrdoDB node. */
export async function initOrdo(target: Target): Promise<void> {
  await run(PSQL, ['-X', '-q', ...conn(target), target.database, ...ORDO_SCHEMA.flatMap((s) => ['-c', s])]);
  await pgbench(target, ['-i', '-s', '1', '-I', 'gv']);
}

/** One pgbench run of `w` for `seconds` (`extraArgs` e.g. to log each transaction). */
export async function runWorkload(t: Target, w: Workload, dir: string, seconds: number, extraArgs: readonly string[] = []): Promise<RunResult> {
  return parse(await pgbench(t, [...w.args(dir), '-c', String(w.clients), '-j', '2', '-T', String(seconds), '-n', ...extraArgs]));
}

export async function startOrdo(dataDir: string, cpuProfDir: string | undefined, extraArgs: readonly string[]): Promise<{ child: ChildProcess; port: number }> {
  const main = join(import.meta.dirname, '..', 'src', 'cli', 'main.js');
  const prof = cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', cpuProfDir];
  const child = spawn(process.execPath, [...prof, main, 'start', '--data-dir', dataDir, '--pg-port', '0', '--http-port', '0', ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ordo start printed no postgres port:\n${out}`)), 30_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /postgres:\s+postgresql:\/\/\S+:(\d+)\//.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  return { child, port };
}

/** Stops an `ordo start` child and waits for it to exit, killing it if it has not after `timeoutMs`. */
export async function stopOrdo(child: ChildProcess, timeoutMs = 30_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  // SIGINT lets `ordo start` exit normally, which is when node writes a --cpu-prof profile.
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}

async function reachable(t: Target): Promise<boolean> {
  const c = new pg.Client({ host: t.host, port: t.port, user: t.user, database: t.database, connectionTimeoutMillis: 2_000 });
  c.on('error', () => {});
  try {
    await c.connect();
    await c.end();
    return true;
  } catch {
    return false;
  }
}

interface RunOptions {
  readonly dir: string;
  readonly seconds: number;
  readonly repeat: number;
  readonly workloads: readonly Workload[];
}

/** The run with the median tps (runs are noisy on a shared machine); its tps list for the record. */
function median(runs: readonly RunResult[]): RunResult & { readonly runsTps: readonly number[] } {
  const sorted = [...runs].sort((a, b) => a.tps - b.tps);
  const mid = sorted[Math.floor((sorted.length - 1) / 2)] as RunResult;
  return { ...mid, runsTps: runs.map((r) => r.tps) };
}

async function runAll(t: Target, o: RunOptions, init: () => Promise<void>): Promise<Map<string, RunResult>> {
  const results = new Map<string, RunResult>();
  for (const w of o.workloads) {
    const runs: RunResult[] = [];
    for (let i = 0; i < o.repeat; i++) {
      // A fresh scale-1 database per run, so earlier runs' history does not skew later ones.
      await init();
      runs.push(await runWorkload(t, w, o.dir, o.seconds));
    }
    results.set(w.name, median(runs));
  }
  return results;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '10' },
      only: { type: 'string' },
      repeat: { type: 'string', default: '1' },
      'cpu-prof': { type: 'string' },
      'no-postgres': { type: 'boolean', default: false },
      'ordo-args': { type: 'string', default: '' },
      'pg-host': { type: 'string', default: process.env.PGHOST ?? '127.0.0.1' },
      'pg-port': { type: 'string', default: process.env.PGPORT ?? '5432' },
      'pg-user': { type: 'string', default: process.env.PGUSER ?? 'postgres' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const seconds = Number(values.seconds);
  if (!Number.isInteger(seconds) || seconds <= 0) throw new Error('--seconds must be a positive integer');
  const repeat = Number(values.repeat);
  if (!Number.isInteger(repeat) || repeat <= 0) throw new Error('--repeat must be a positive integer');
  const only = values.only?.split(',') ?? null;
  const workloads = only === null ? WORKLOADS : WORKLOADS.filter((w) => only.includes(w.name));
  if (workloads.length === 0) throw new Error(`--only names none of ${WORKLOADS.map((w) => w.name).join(', ')}`);
  const dir = mkdtempSync(join(tmpdir(), 'ordo-pgbench-'));
  writeScripts(dir);

  const runOptions: RunOptions = { dir, seconds, repeat, workloads };
  const ordo = await startOrdo(join(dir, 'data'), values['cpu-prof'], values['ordo-args'].split(' ').filter((a) => a !== ''));
  let ordoResults: Map<string, RunResult>;
  try {
    const target: Target = { host: '127.0.0.1', port: ordo.port, user: 'postgres', database: 'postgres' };
    ordoResults = await runAll(target, runOptions, () => initOrdo(target));
  } finally {
    await stopOrdo(ordo.child);
  }

  const pgTarget: Target = { host: values['pg-host'], port: Number(values['pg-port']), user: values['pg-user'], database: 'postgres' };
  const pgResults = !values['no-postgres'] && (await reachable(pgTarget)) ? await runAll(pgTarget, runOptions, async () => void (await pgbench(pgTarget, ['-i', '-s', '1', '-q']))) : null;
  rmSync(dir, { recursive: true, force: true });

  const report = {
    seconds,
    scale: 1,
    postgres: pgResults === null ? 'not reachable' : `${pgTarget.host}:${pgTarget.port}`,
    workloads: workloads.map((w) => {
      const o = ordoResults.get(w.name);
      const p = pgResults?.get(w.name) ?? null;
      return { name: w.name, clients: w.clients, ordo: o, postgres: p, ratio: o !== undefined && p !== null && p.tps > 0 ? Number((o.tps / p.tps).toFixed(3)) : null };
    }),
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

// Run as a script, not when another benchmark imports the pieces above.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) await main();
