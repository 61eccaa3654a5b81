// `ordo cluster start|status|stop`: a local cluster of separate `ordo start` processes on loopback, for
// trying OrdoDB out and for the multi-process tests. DIR/cluster.json records each node's id, pid,
// ports and the exact arguments it was started with, so `cluster start` on an existing DIR restarts
// the nodes that are not running (same ids, ports and data directories).

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OrdoError } from '../util/index.js';
import { UsageError, optionalInt, parseCommand, requiredString, type CommandSpec } from './args.js';

export const ClusterDefaults = {
  nodes: 3,
  host: '127.0.0.1',
  clusterId: 'local',
  /** How long `cluster start` waits for every node's /health and a leader. */
  startTimeoutMs: 30_000,
  stopTimeoutMs: 15_000,
  healthTimeoutMs: 1_000,
} as const;

export const CLUSTER_FILE = 'cluster.json';

export interface ClusterNodeRecord {
  readonly id: string;
  pid: number;
  readonly dataDir: string;
  readonly raftPort: number;
  readonly pgPort: number;
  readonly httpPort: number;
  readonly logFile: string;
  /** `ordo` arguments (after the script path) that start this node. */
  readonly args: readonly string[];
}

export interface ClusterFile {
  readonly clusterId: string;
  readonly host: string;
  readonly nodes: ClusterNodeRecord[];
}

/** One node as `cluster status --json` prints it. */
export interface ClusterNodeStatus {
  readonly id: string;
  readonly pid: number;
  readonly alive: boolean;
  readonly role: string;
  readonly term: number | null;
  readonly leader: string | null;
  readonly commit: number | null;
  readonly applied: number | null;
  readonly checksum: string | null;
  readonly pgPort: number;
  readonly httpPort: number;
  readonly raftPort: number;
}

const baseDirFlag = { type: 'string', valueName: 'DIR', help: 'the directory holding cluster.json and the nodes\' data' } as const;

export const clusterStartSpec: CommandSpec = {
  usage: 'ordo cluster start --base-dir DIR [--nodes N] [--cluster-id C] [--epoch-ms MS]',
  summary:
    'Starts a local cluster of N separate `ordo start` processes on loopback (free ports), detached, and writes DIR/cluster.json. On an existing DIR, restarts the nodes that are not running.',
  flags: {
    'base-dir': baseDirFlag,
    nodes: { type: 'string', valueName: 'N', help: 'how many nodes', default: String(ClusterDefaults.nodes) },
    'cluster-id': { type: 'string', valueName: 'C', help: 'the cluster id', default: ClusterDefaults.clusterId },
    'epoch-ms': { type: 'string', valueName: 'MS', help: 'the sequencer epoch of every node' },
  },
};

export const clusterStatusSpec: CommandSpec = {
  usage: 'ordo cluster status --base-dir DIR [--json]',
  summary: "Shows each node's id, process id, role, term, commit and applied positions and Postgres port (from its /health).",
  flags: {
    'base-dir': baseDirFlag,
    json: { type: 'boolean', help: 'print {"nodes": [...]} as JSON' },
  },
};

export const clusterStopSpec: CommandSpec = {
  usage: 'ordo cluster stop --base-dir DIR',
  summary: 'Stops the nodes of a local cluster (SIGTERM, then SIGKILL after a grace period).',
  flags: { 'base-dir': baseDirFlag },
};

function freePort(host: string): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export function readClusterFile(baseDir: string): ClusterFile {
  const path = join(baseDir, CLUSTER_FILE);
  if (!existsSync(path)) throw new OrdoError('F0000', `${path} does not exist: no cluster was started in ${baseDir}`);
  return JSON.parse(readFileSync(path, 'utf8')) as ClusterFile;
}

function writeClusterFile(baseDir: string, file: ClusterFile): void {
  const path = join(baseDir, CLUSTER_FILE);
  writeFileSync(`${path}.tmp`, `${JSON.stringify(file, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
}

/** Whether `pid` is a running process that is this node (not a reused pid). */
export function isNodeRunning(node: ClusterNodeRecord): boolean {
  if (node.pid <= 0) return false;
  try {
    process.kill(node.pid, 0);
  } catch {
    return false;
  }
  try {
    // A killed node not yet reaped by its (adoptive) parent is a zombie: not running.
    if (/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${node.pid}/stat`, 'utf8'))) return false;
    return readFileSync(`/proc/${node.pid}/cmdline`, 'utf8').includes(node.dataDir);
  } catch {
    return true; // no /proc: trust the pid
  }
}

/** Starts one node detached, its output appended to its log file; returns its pid. */
export function spawnNode(node: ClusterNodeRecord): number {
  const main = fileURLToPath(new URL('./main.js', import.meta.url));
  const out = openSync(node.logFile, 'a');
  try {
    const child = spawn(process.execPath, [main, ...node.args], { detached: true, stdio: ['ignore', out, out] });
    child.unref();
    if (child.pid === undefined) throw new OrdoError('58000', `could not start node ${node.id}`);
    return child.pid;
  } finally {
    closeSync(out);
  }
}

export async function fetchHealth(host: string, httpPort: number): Promise<Record<string, unknown> | undefined> {
  try {
    const res = await fetch(`http://${host}:${httpPort}/health`, { signal: AbortSignal.timeout(ClusterDefaults.healthTimeoutMs) });
    return (await res.json()) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export async function clusterNodeStatus(file: ClusterFile): Promise<ClusterNodeStatus[]> {
  return Promise.all(
    file.nodes.map(async (n) => {
      const alive = isNodeRunning(n);
      const h = alive ? await fetchHealth(file.host, n.httpPort) : undefined;
      const c = h?.cluster as { role?: string; term?: number; leader?: string; commit?: number } | undefined;
      return {
        id: n.id,
        pid: n.pid,
        alive,
        role: !alive ? 'down' : (c?.role ?? 'starting'),
        term: c?.term ?? null,
        leader: c?.leader ?? null,
        commit: c?.commit ?? null,
        applied: typeof h?.appliedPosition === 'number' ? h.appliedPosition : null,
        checksum: typeof h?.checksum === 'string' ? h.checksum : null,
        pgPort: n.pgPort,
        httpPort: n.httpPort,
        raftPort: n.raftPort,
      };
    }),
  );
}

export async function clusterStart(argv: readonly string[]): Promise<void> {
  const flags = parseCommand(clusterStartSpec, argv);
  if (flags === undefined) return;
  const baseDir = resolve(requiredString(flags, 'base-dir'));
  mkdirSync(baseDir, { recursive: true });
  let file: ClusterFile;
  if (existsSync(join(baseDir, CLUSTER_FILE))) {
    file = readClusterFile(baseDir);
  } else {
    const count = optionalInt(flags, 'nodes', 1) ?? ClusterDefaults.nodes;
    if (count > 9) throw new UsageError('--nodes: at most 9 on one machine');
    const host = ClusterDefaults.host;
    const clusterId = String(flags['cluster-id']);
    const epochMs = optionalInt(flags, 'epoch-ms', 1);
    const ids = Array.from({ length: count }, (_, i) => `n${i + 1}`);
    const ports = await Promise.all(ids.map(async () => ({ raft: await freePort(host), pg: await freePort(host), http: await freePort(host) })));
    const peers = ids.map((id, i) => `${id}=${host}:${ports[i]?.raft ?? 0}`).join(',');
    const nodes = ids.map((id, i): ClusterNodeRecord => {
      const p = ports[i] ?? { raft: 0, pg: 0, http: 0 };
      const dir = join(baseDir, id);
      mkdirSync(dir, { recursive: true });
      const dataDir = join(dir, 'data');
      return {
        id,
        pid: 0,
        dataDir,
        raftPort: p.raft,
        pgPort: p.pg,
        httpPort: p.http,
        logFile: join(dir, 'ordo.log'),
        args: [
          'start',
          '--data-dir', dataDir,
          '--host', host,
          '--pg-port', String(p.pg),
          '--http-port', String(p.http),
          '--node-id', id,
          '--cluster-id', clusterId,
          '--raft-listen', `${host}:${p.raft}`,
          '--peers', peers,
          ...(epochMs === undefined ? [] : ['--epoch-ms', String(epochMs)]),
        ],
      };
    });
    file = { clusterId, host, nodes };
  }
  for (const n of file.nodes) {
    if (!isNodeRunning(n)) n.pid = spawnNode(n);
  }
  writeClusterFile(baseDir, file);
  // Wait until every node answers /health and one of them leads.
  const deadline = Date.now() + ClusterDefaults.startTimeoutMs;
  let status = await clusterNodeStatus(file);
  while (!(status.every((s) => s.role !== 'starting' && s.alive) && status.some((s) => s.role === 'leader'))) {
    if (Date.now() > deadline) {
      throw new OrdoError('58000', `the cluster did not come up within ${ClusterDefaults.startTimeoutMs} ms; see the ordo.log of each node in ${baseDir}: ${JSON.stringify(status)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
    status = await clusterNodeStatus(file);
  }
  process.stdout.write(`cluster "${file.clusterId}" is running in ${baseDir}\n${formatStatus(status)}`);
}

function formatStatus(nodes: readonly ClusterNodeStatus[]): string {
  const rows = [['id', 'pid', 'role', 'term', 'commit', 'applied', 'pgPort'], ...nodes.map((n) => [n.id, String(n.pid), n.role, String(n.term ?? '-'), String(n.commit ?? '-'), String(n.applied ?? '-'), String(n.pgPort)])];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => r[i]?.length ?? 0))) ?? [];
  return rows.map((r) => `${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')}\n`).join('');
}

export async function clusterStatus(argv: readonly string[]): Promise<void> {
  const flags = parseCommand(clusterStatusSpec, argv);
  if (flags === undefined) return;
  const file = readClusterFile(resolve(requiredString(flags, 'base-dir')));
  const nodes = await clusterNodeStatus(file);
  process.stdout.write(flags.json === true ? `${JSON.stringify({ clusterId: file.clusterId, nodes })}\n` : formatStatus(nodes));
}

export async function clusterStop(argv: readonly string[]): Promise<void> {
  const flags = parseCommand(clusterStopSpec, argv);
  if (flags === undefined) return;
  const file = readClusterFile(resolve(requiredString(flags, 'base-dir')));
  const running = file.nodes.filter(isNodeRunning);
  for (const n of running) process.kill(n.pid, 'SIGTERM');
  const deadline = Date.now() + ClusterDefaults.stopTimeoutMs;
  while (running.some(isNodeRunning) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const n of running.filter(isNodeRunning)) {
    process.stderr.write(`node ${n.id} (pid ${n.pid}) did not stop in time; killing it\n`);
    process.kill(n.pid, 'SIGKILL');
  }
  process.stdout.write(`stopped ${running.length} node(s)\n`);
}
