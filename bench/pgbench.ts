// pgbench workloads of issue 3 against OrdoDB (a spawned `ordo start`) and a PostgreSQL measured in the
// same run (a throwaway local cluster, or a running server); prints one JSON object with tps per
// workload and the ratio OrdoDB / PostgreSQL. `node dist/bench/pgbench.js --help` lists the flags.
//
// Scale 1. Workloads and clients as the targets: the one-shot tpcb-like (`\;` compound
// statement) at 32 clients, the built-in interactive tpcb-like at 32 clients with --max-tries=10,
// a single-statement UPDATE at 8 clients, select-only at 32 clients.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { errorMessage } from '../src/util/index.js';
import { LocalPostgres, LocalPostgresDefaults, missingBinaries } from './localPostgres.js';

const run = promisify(execFile);

const USAGE = `usage: node dist/bench/pgbench.js [flags]

Runs pgbench's workloads (one-shot tpcb-like \`\\;\` script at 32 clients, built-in interactive tpcb-like
at 32 clients with --max-tries=10, single-statement update at 8 clients, select-only at 32 clients;
scale 1, -j 2) with the same pgbench flags against a fresh OrdoDB (ordo start) and a PostgreSQL, the two
alternating run by run, and prints JSON with tps, retried %, and the ratio OrdoDB / PostgreSQL of the
median runs per workload. Progress goes to stderr.

Which PostgreSQL, first match:
  --no-postgres            none: ratios against the figures in /work/shared/REFERENCES.md
  --pg-host/--pg-port      that running server (the references if it does not answer)
  initdb, pg_ctl in --pg-bin, unless --no-start-postgres:
                           a throwaway cluster for this run: initdb into a temporary directory, trust
                           authentication, 127.0.0.1 on a free port, shared_buffers ${LocalPostgresDefaults.sharedBuffers}, fsync and
                           everything else at PostgreSQL's defaults; as root it runs as the postgres OS
                           user. Stopped and deleted at the end, on an error and on SIGINT/SIGTERM
  otherwise                a server at $PGHOST:$PGPORT (default 127.0.0.1:5432) if one answers, else
                           the references
The JSON's "reference" says which was used: "local-postgres" (measured in this run) or "references.md";
"postgres" names the server and its settings (durability, memory, and all set in postgresql.conf or on
its command line), or says why no server was measured.

flags:
  --seconds N              seconds per pgbench run (default 10)
  --only a,b               run only these workloads: tpcb-one-shot, tpcb-interactive, update-only, select-only
  --repeat N               run each workload N times per system, each on a fresh scale-1 database, and
                           report the median (default 1)
  --ordo-args "…"          extra flags for ordo start (e.g. --ordo-args="--epoch-ms 1")
  --extra-row W:ARGS       also run workload W against an OrdoDB started with ARGS instead of --ordo-args,
                           as a row of its own with its own PostgreSQL runs; repeatable. E.g. ADR 0006's
                           --extra-row=update-only:--epoch-ms=0
  --cpu-prof DIR           run ordo start under node --cpu-prof, one profile per row into DIR
  --pg-bin DIR             where initdb and pg_ctl are (default ${LocalPostgresDefaults.binDir})
  --no-start-postgres      do not start a throwaway PostgreSQL
  --no-postgres            measure no PostgreSQL
  --pg-host H              a running PostgreSQL server to use (default $PGHOST or 127.0.0.1)
  --pg-port P              its port (default $PGPORT or 5432)
  --pg-user U              its user (default $PGUSER or postgres)
  --help                   print this help and exit`;
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

/** PostgreSQL's figures on this 2-core machine (REFERENCES.md): what ratios fall back to when no server is measured. */
const REFERENCE_TPS: Readonly<Record<string, readonly { readonly clients: number; readonly tps: number }[]>> = {
  'tpcb-one-shot': [
    { clients: 8, tps: 3_600 },
    { clients: 32, tps: 3_100 },
  ],
  'tpcb-interactive': [
    { clients: 8, tps: 2_900 },
    { clients: 32, tps: 2_000 },
  ],
  'update-only': [{ clients: 8, tps: 16_000 }],
  'select-only': [{ clients: 8, tps: 72_000 }],
};

/** The reference at `w`'s client count, else the nearest one REFERENCES.md has (its clients say which). */
function referenceFor(w: Workload): { readonly clients: number; readonly tps: number } | null {
  const figures = REFERENCE_TPS[w.name] ?? [];
  return [...figures].sort((a, b) => Math.abs(a.clients - w.clients) - Math.abs(b.clients - w.clients))[0] ?? null;
}

/** Settings reported with the results whatever their source: the ones that decide durability and caching. */
const REPORTED_SETTINGS = [
  'server_version',
  'fsync',
  'synchronous_commit',
  'full_page_writes',
  'wal_sync_method',
  'wal_level',
  'shared_buffers',
  'max_wal_size',
  'checkpoint_timeout',
  'max_connections',
  'autovacuum',
  'default_transaction_isolation',
];

/** The server's REPORTED_SETTINGS and whatever is set in its postgresql.conf or command line; null when it does not answer. */
async function settingsOf(t: Target): Promise<Record<string, string> | null> {
  const c = new pg.Client({ host: t.host, port: t.port, user: t.user, database: t.database, connectionTimeoutMillis: 2_000 });
  c.on('error', () => {});
  try {
    await c.connect();
  } catch {
    return null;
  }
  try {
    const { rows } = await c.query<{ name: string; value: string }>(
      "SELECT name, current_setting(name) AS value FROM pg_settings WHERE name = ANY($1) OR source IN ('configuration file', 'command line') ORDER BY name",
      [REPORTED_SETTINGS],
    );
    return Object.fromEntries(rows.map((r) => [r.name, r.value]));
  } finally {
    await c.end();
  }
}

/** What main started, undone newest first: at the end, on an error, and on SIGINT/SIGTERM. */
class UndoStack {
  private readonly steps: (() => Promise<void>)[] = [];
  private draining: Promise<void> = Promise.resolve();

  /** Registers `step`; the function returned runs it now, and the stack later finds it done. */
  push(step: () => Promise<void> | void): () => Promise<void> {
    let done: Promise<void> | undefined;
    const once = (): Promise<void> => (done ??= Promise.resolve().then(step));
    this.steps.push(once);
    return once;
  }

  /** Runs every step; a second call (main's finally after a signal's) waits for the first, then runs what is left. */
  runAll(): Promise<void> {
    this.draining = this.draining.then(() => this.drain());
    return this.draining;
  }

  private async drain(): Promise<void> {
    for (let step = this.steps.pop(); step !== undefined; step = this.steps.pop()) {
      try {
        await step();
      } catch (err) {
        progress(`cleanup failed: ${errorMessage(err)}`);
      }
    }
  }
}

const startedAtMs = performance.now();

function progress(line: string): void {
  process.stderr.write(`[pgbench +${((performance.now() - startedAtMs) / 1000).toFixed(1)}s] ${line}\n`);
}

const load1m = (): number => Number((loadavg()[0] ?? 0).toFixed(2));

/** The run with the median tps (runs are noisy on a shared machine); every run's tps and retries for the record. */
function median(runs: readonly RunResult[]): RunResult & { readonly runsTps: readonly number[]; readonly runsRetriedPercent: readonly number[] } {
  const sorted = [...runs].sort((a, b) => a.tps - b.tps);
  const mid = sorted[Math.floor((sorted.length - 1) / 2)] as RunResult;
  return { ...mid, runsTps: runs.map((r) => r.tps), runsRetriedPercent: runs.map((r) => r.retriedPercent) };
}

type PostgresChoice =
  | { readonly reference: 'local-postgres'; readonly target: Target; readonly started: boolean; readonly settings: Readonly<Record<string, string>> }
  | { readonly reference: 'references.md'; readonly notMeasured: string };

interface PostgresOptions {
  readonly noPostgres: boolean;
  readonly noStart: boolean;
  readonly binDir: string;
  /** --pg-host or --pg-port was given: a running server chosen by the user. */
  readonly explicit: boolean;
  readonly target: Target;
}

/** The running server at `t`, or the references when it does not answer. */
async function runningPostgres(t: Target, why: string): Promise<PostgresChoice> {
  const settings = await settingsOf(t);
  if (settings === null) return { reference: 'references.md', notMeasured: `${why}no PostgreSQL answers at ${t.host}:${t.port}` };
  return { reference: 'local-postgres', target: t, started: false, settings };
}

async function choosePostgres(o: PostgresOptions, undo: UndoStack): Promise<PostgresChoice> {
  if (o.noPostgres) return { reference: 'references.md', notMeasured: '--no-postgres' };
  if (o.explicit) return runningPostgres(o.target, '');
  const noStart = o.noStart ? '--no-start-postgres' : missingBinaries(o.binDir);
  if (noStart !== null) return runningPostgres(o.target, `${noStart}, and `);
  const local = new LocalPostgres(o.binDir);
  undo.push(() => local.stop());
  progress(`starting a throwaway PostgreSQL in ${local.dir}`);
  const target: Target = { host: local.host, port: await local.start(), user: local.user, database: 'postgres' };
  const settings = await settingsOf(target);
  if (settings === null) throw new Error(`the PostgreSQL started in ${local.dir} does not accept connections on ${target.host}:${target.port}`);
  return { reference: 'local-postgres', target, started: true, settings };
}

/** One row of the report: a workload against an OrdoDB started with `ordoArgs`. */
interface Row {
  readonly workload: Workload;
  readonly ordoArgs: readonly string[];
}

interface RunOptions {
  readonly dir: string;
  readonly seconds: number;
  readonly repeat: number;
  readonly cpuProfDir: string | undefined;
}

async function runRow(row: Row, index: number, o: RunOptions, pgTarget: Target | null, undo: UndoStack): Promise<{ ordo: RunResult[]; postgres: RunResult[] }> {
  const w = row.workload;
  const dataDir = join(o.dir, `ordo-data-${index}`);
  const ordo = await startOrdo(dataDir, o.cpuProfDir, row.ordoArgs);
  const stop = undo.push(async () => {
    await stopOrdo(ordo.child);
    rmSync(dataDir, { recursive: true, force: true });
  });
  const ordoTarget: Target = { host: '127.0.0.1', port: ordo.port, user: 'postgres', database: 'postgres' };
  const runs = { ordo: [] as RunResult[], postgres: [] as RunResult[] };
  try {
    for (let i = 0; i < o.repeat; i++) {
      // A fresh scale-1 database per run, so earlier runs' history does not skew later ones; the two
      // systems alternate so that whatever else loads this shared machine falls on both alike.
      await initOrdo(ordoTarget);
      const r = await runWorkload(ordoTarget, w, o.dir, o.seconds);
      runs.ordo.push(r);
      progress(`${w.name} run ${i + 1}/${o.repeat}: OrdoDB ${r.tps.toFixed(0)} tps, ${r.retriedPercent}% retried (load ${load1m()})`);
      if (pgTarget === null) continue;
      await pgbench(pgTarget, ['-i', '-s', '1', '-q']);
      const p = await runWorkload(pgTarget, w, o.dir, o.seconds);
      runs.postgres.push(p);
      progress(`${w.name} run ${i + 1}/${o.repeat}: PostgreSQL ${p.tps.toFixed(0)} tps, ${p.retriedPercent}% retried (load ${load1m()})`);
    }
  } finally {
    await stop();
  }
  return runs;
}

function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} must be a positive integer`);
  return n;
}

const splitArgs = (args: string): string[] => args.split(' ').filter((a) => a !== '');

/** An --extra-row value, WORKLOAD:ORDO-ARGS. */
function extraRow(value: string): Row {
  const colon = value.indexOf(':');
  const name = colon < 0 ? value : value.slice(0, colon);
  const workload = WORKLOADS.find((w) => w.name === name);
  if (workload === undefined) throw new Error(`--extra-row ${value}: no workload '${name}' (${WORKLOADS.map((w) => w.name).join(', ')})`);
  return { workload, ordoArgs: colon < 0 ? [] : splitArgs(value.slice(colon + 1)) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '10' },
      only: { type: 'string' },
      repeat: { type: 'string', default: '1' },
      'cpu-prof': { type: 'string' },
      'ordo-args': { type: 'string', default: '' },
      'extra-row': { type: 'string', multiple: true, default: [] },
      'pg-bin': { type: 'string', default: LocalPostgresDefaults.binDir },
      'no-start-postgres': { type: 'boolean', default: false },
      'no-postgres': { type: 'boolean', default: false },
      // No defaults here, so that giving either flag can be told from the environment's defaults.
      'pg-host': { type: 'string' },
      'pg-port': { type: 'string' },
      'pg-user': { type: 'string', default: process.env.PGUSER ?? 'postgres' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const seconds = positiveInt(values.seconds, '--seconds');
  const repeat = positiveInt(values.repeat, '--repeat');
  const only = values.only?.split(',') ?? null;
  const ordoArgs = splitArgs(values['ordo-args']);
  const rows: Row[] = [
    ...(only === null ? WORKLOADS : WORKLOADS.filter((w) => only.includes(w.name))).map((workload) => ({ workload, ordoArgs })),
    ...values['extra-row'].map(extraRow),
  ];
  if (rows.length === 0) throw new Error(`--only names none of ${WORKLOADS.map((w) => w.name).join(', ')}`);

  const undo = new UndoStack();
  const onSignal = (signal: NodeJS.Signals): void => {
    progress(`${signal}: stopping what this benchmark started`);
    void undo.runAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const loadAtStart = load1m();
    const dir = mkdtempSync(join(tmpdir(), 'ordo-pgbench-'));
    undo.push(() => rmSync(dir, { recursive: true, force: true }));
    writeScripts(dir);
    const postgres = await choosePostgres(
      {
        noPostgres: values['no-postgres'],
        noStart: values['no-start-postgres'],
        binDir: values['pg-bin'],
        explicit: values['pg-host'] !== undefined || values['pg-port'] !== undefined,
        target: { host: values['pg-host'] ?? process.env.PGHOST ?? '127.0.0.1', port: Number(values['pg-port'] ?? process.env.PGPORT ?? '5432'), user: values['pg-user'], database: 'postgres' },
      },
      undo,
    );
    const pgTarget = postgres.reference === 'local-postgres' ? postgres.target : null;
    progress(postgres.reference === 'local-postgres' ? `PostgreSQL at ${postgres.target.host}:${postgres.target.port}` : `no PostgreSQL (${postgres.notMeasured}): ratios against REFERENCES.md`);

    const runOptions: RunOptions = { dir, seconds, repeat, cpuProfDir: values['cpu-prof'] };
    const results = [];
    for (const [index, row] of rows.entries()) {
      const runs = await runRow(row, index, runOptions, pgTarget, undo);
      const o = median(runs.ordo);
      const p = runs.postgres.length === 0 ? null : median(runs.postgres);
      const reference = p === null ? referenceFor(row.workload) : null;
      const baseTps = p?.tps ?? reference?.tps ?? 0;
      results.push({
        name: row.workload.name,
        clients: row.workload.clients,
        ordoArgs: row.ordoArgs.join(' '),
        ordo: o,
        postgres: p,
        referenceTps: reference,
        ratio: baseTps > 0 ? Number((o.tps / baseTps).toFixed(3)) : null,
        loadAvg1mAtEnd: load1m(),
      });
    }

    const report = {
      seconds,
      scale: 1,
      repeat,
      reference: postgres.reference,
      postgres:
        postgres.reference === 'local-postgres'
          ? { server: `${postgres.target.host}:${postgres.target.port}`, started: postgres.started, settings: postgres.settings }
          : { notMeasured: postgres.notMeasured, references: '/work/shared/REFERENCES.md (PostgreSQL 15, this 2-core machine, fsync on)' },
      cpus: cpus().length,
      loadAvg1mAtStart: loadAtStart,
      loadAvg1mAtEnd: load1m(),
      workloads: results,
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } finally {
    await undo.runAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

// Run as a script, not when another benchmark imports the pieces above.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  try {
    await main();
  } catch (err) {
    process.stderr.write(`bench pgbench failed: ${errorMessage(err)}\n`);
    process.exitCode = 1;
  }
}
