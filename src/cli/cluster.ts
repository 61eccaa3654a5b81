// `ordo cluster start|status|stop|add-node|remove-node|transfer-leader`: a local cluster of separate
// `ordo start` processes on loopback, for trying OrdoDB out and for the multi-process tests.
// DIR/cluster.json records each node's id, pid, ports and the exact arguments it is restarted with, so
// `cluster start` on an existing DIR restarts the nodes that are not running (same ids, ports and data
// directories). A node's one-time entry flag (--bootstrap for the founders, --join for an added node)
// is passed to its first start only: restarted on a wiped data directory, a node refuses to start.
// Membership changes go to the leader's HTTP admin endpoint (src/node/http.ts); every node's recorded
// --peers is rewritten to the current members, so a restarted node knows every member's address.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AdminPaths, type AdminAnswer } from '../node/index.js';
import { OrdoError, errorMessage } from '../util/index.js';
import { UsageError, optionalInt, parseCommand, requiredString, type CommandSpec } from './args.js';

export const ClusterDefaults = {
  nodes: 3,
  host: '127.0.0.1',
  clusterId: 'local',
  /** How long `cluster start` waits for every node's /health and a leader. */
  startTimeoutMs: 30_000,
  stopTimeoutMs: 15_000,
  healthTimeoutMs: 1_000,
  /** How long an admin request keeps looking for a leader that carries it out. */
  adminTimeoutMs: 20_000,
  /** How long `add-node` waits for the new learner to catch up before promoting it. */
  catchUpTimeoutMs: 60_000,
  adminRetryMs: 100,
  /** Lines of a node's log shown when it exits during `cluster start`. */
  logTailLines: 15,
} as const;

export const CLUSTER_FILE = 'cluster.json';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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
  /** The members. */
  nodes: ClusterNodeRecord[];
  /** Nodes removed from the cluster: their ids are never reused. */
  removed?: ClusterNodeRecord[];
  /** The sequencer epoch every node runs with (the node default when absent). */
  readonly epochMs?: number;
}

/** One node as `cluster status --json` prints it. */
export interface ClusterNodeStatus {
  readonly id: string;
  readonly pid: number;
  readonly alive: boolean;
  readonly role: string;
  /** voter or learner, in the node's own view of the configuration; null when unknown. */
  readonly member: string | null;
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

export const clusterAddNodeSpec: CommandSpec = {
  usage: 'ordo cluster add-node --base-dir DIR [--id ID]',
  summary:
    "Adds a node to a running local cluster: starts a new `ordo start --join` process (free ports, DIR/ID), has the leader record its address in the log and add it as a learner, waits until it has caught up with the log, then promotes it to voter. Every node's recorded --peers now lists it.",
  flags: {
    'base-dir': baseDirFlag,
    id: { type: 'string', valueName: 'ID', help: 'the new node\'s id (default: the next unused nK; a removed id is never reused)' },
  },
};

export const clusterRemoveNodeSpec: CommandSpec = {
  usage: 'ordo cluster remove-node --base-dir DIR --id ID',
  summary:
    'Removes a node from a running local cluster: if it leads, leadership moves to another voter first; the leader removes it from the membership and records in the log that its id is gone (every node refuses its messages from then on); then its process is stopped. Its data directory is kept; the node cannot rejoin with it.',
  flags: {
    'base-dir': baseDirFlag,
    id: { type: 'string', valueName: 'ID', help: 'the node to remove' },
  },
};

export const clusterTransferLeaderSpec: CommandSpec = {
  usage: 'ordo cluster transfer-leader --base-dir DIR --to ID',
  summary: 'Hands leadership of a running local cluster to voter ID (Raft leader transfer) and waits until it leads.',
  flags: {
    'base-dir': baseDirFlag,
    to: { type: 'string', valueName: 'ID', help: 'the voter that is to lead' },
  },
};

export function freePort(host: string): Promise<number> {
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
export function spawnNode(node: ClusterNodeRecord, firstStartArgs: readonly string[] = []): number {
  const main = fileURLToPath(new URL('./main.js', import.meta.url));
  const out = openSync(node.logFile, 'a');
  try {
    const child = spawn(process.execPath, [main, ...node.args, ...firstStartArgs], { detached: true, stdio: ['ignore', out, out] });
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
      const c = h?.cluster as { role?: string; term?: number; leader?: string; commit?: number; voters?: string[]; learners?: string[] } | undefined;
      return {
        id: n.id,
        pid: n.pid,
        alive,
        role: !alive ? 'down' : (c?.role ?? 'starting'),
        member: c?.voters?.includes(n.id) === true ? 'voter' : c?.learners?.includes(n.id) === true ? 'learner' : null,
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
  /** The founders' first start: they bootstrap the cluster. */
  let firstStartArgs: string[] = [];
  if (existsSync(join(baseDir, CLUSTER_FILE))) {
    file = readClusterFile(baseDir);
  } else {
    firstStartArgs = ['--bootstrap'];
    const count = optionalInt(flags, 'nodes', 1) ?? ClusterDefaults.nodes;
    if (count > 9) throw new UsageError('--nodes: at most 9 on one machine');
    const host = ClusterDefaults.host;
    const clusterId = String(flags['cluster-id']);
    const epochMs = optionalInt(flags, 'epoch-ms', 0);
    file = { clusterId, host, nodes: [], ...(epochMs === undefined ? {} : { epochMs }) };
    for (let i = 1; i <= count; i++) file.nodes.push(await newNodeRecord(baseDir, file, `n${i}`));
    setPeers(file);
  }
  for (const n of file.nodes) {
    if (!isNodeRunning(n)) n.pid = spawnNode(n, firstStartArgs);
  }
  writeClusterFile(baseDir, file);
  // Wait until every node answers /health and one of them leads.
  const deadline = Date.now() + ClusterDefaults.startTimeoutMs;
  let status = await clusterNodeStatus(file);
  while (!(status.every((s) => s.role !== 'starting' && s.alive) && status.some((s) => s.role === 'leader'))) {
    const exited = file.nodes.find((n) => !isNodeRunning(n));
    if (exited !== undefined) throw new OrdoError('58000', `node ${exited.id} exited while the cluster was starting; the end of ${exited.logFile}:\n${logTail(exited.logFile)}`);
    if (Date.now() > deadline) {
      throw new OrdoError('58000', `the cluster did not come up within ${ClusterDefaults.startTimeoutMs} ms; see the ordo.log of each node in ${baseDir}: ${JSON.stringify(status)}`);
    }
    await sleep(100);
    status = await clusterNodeStatus(file);
  }
  process.stdout.write(`cluster "${file.clusterId}" is running in ${baseDir}\n${formatStatus(status)}`);
}

/** A new node's record: free ports, DIR/ID/data, and its arguments (peers are set by setPeers). */
async function newNodeRecord(baseDir: string, file: ClusterFile, id: string): Promise<ClusterNodeRecord> {
  const host = file.host;
  const [raftPort, pgPort, httpPort] = [await freePort(host), await freePort(host), await freePort(host)];
  const dir = join(baseDir, id);
  mkdirSync(dir, { recursive: true });
  const dataDir = join(dir, 'data');
  return {
    id,
    pid: 0,
    dataDir,
    raftPort,
    pgPort,
    httpPort,
    logFile: join(dir, 'ordo.log'),
    args: [
      'start',
      '--data-dir', dataDir,
      '--host', host,
      '--pg-port', String(pgPort),
      '--http-port', String(httpPort),
      '--node-id', id,
      '--cluster-id', file.clusterId,
      '--raft-listen', `${host}:${raftPort}`,
      '--peers', '',
      ...(file.epochMs === undefined ? [] : ['--epoch-ms', String(file.epochMs)]),
    ],
  };
}

/** Rewrites every member's recorded --peers to the current members. */
function setPeers(file: ClusterFile): void {
  const peers = file.nodes.map((n) => `${n.id}=${file.host}:${n.raftPort}`).join(',');
  file.nodes = file.nodes.map((n) => {
    const args = [...n.args];
    args[args.indexOf('--peers') + 1] = peers;
    return { ...n, args };
  });
}

function logTail(path: string): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-ClusterDefaults.logTailLines).join('\n');
  } catch (err) {
    return `(cannot read it: ${errorMessage(err)})`;
  }
}

function formatStatus(nodes: readonly ClusterNodeStatus[]): string {
  const rows = [
    ['id', 'pid', 'role', 'member', 'term', 'commit', 'applied', 'pgPort'],
    ...nodes.map((n) => [n.id, String(n.pid), n.role, n.member ?? '-', String(n.term ?? '-'), String(n.commit ?? '-'), String(n.applied ?? '-'), String(n.pgPort)]),
  ];
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

/** Stops the running ones of `nodes` (SIGTERM, SIGKILL after the grace period); returns how many ran. */
async function stopNodes(nodes: readonly ClusterNodeRecord[]): Promise<number> {
  const running = nodes.filter(isNodeRunning);
  for (const n of running) process.kill(n.pid, 'SIGTERM');
  const deadline = Date.now() + ClusterDefaults.stopTimeoutMs;
  while (running.some(isNodeRunning) && Date.now() < deadline) await sleep(50);
  for (const n of running.filter(isNodeRunning)) {
    process.stderr.write(`node ${n.id} (pid ${n.pid}) did not stop in time; killing it\n`);
    process.kill(n.pid, 'SIGKILL');
  }
  return running.length;
}

export async function clusterStop(argv: readonly string[]): Promise<void> {
  const flags = parseCommand(clusterStopSpec, argv);
  if (flags === undefined) return;
  const file = readClusterFile(resolve(requiredString(flags, 'base-dir')));
  // A removed node left running (remove-node interrupted) is stopped too.
  const stopped = await stopNodes([...file.nodes, ...(file.removed ?? [])]);
  process.stdout.write(`stopped ${stopped} node(s)\n`);
}

async function postAdmin(host: string, node: ClusterNodeRecord, path: string, body: unknown): Promise<{ status: number; answer: AdminAnswer } | undefined> {
  try {
    const res = await fetch(`http://${host}:${node.httpPort}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(ClusterDefaults.adminTimeoutMs),
    });
    return { status: res.status, answer: (await res.json()) as AdminAnswer };
  } catch {
    return undefined; // not answering (down, starting): look for the leader again
  }
}

/**
 * Sends an admin request to the leader, following a 421's hint and retrying what may succeed later
 * (503, no leader, no answer) until `timeoutMs`; a request that cannot succeed (400, 409) fails at once.
 */
async function adminRequest(file: ClusterFile, path: string, body: unknown, timeoutMs: number = ClusterDefaults.adminTimeoutMs): Promise<AdminAnswer> {
  const deadline = Date.now() + timeoutMs;
  let target: ClusterNodeRecord | undefined;
  let last = 'no leader yet';
  for (;;) {
    if (target === undefined) {
      const leader = (await clusterNodeStatus(file)).find((s) => s.role === 'leader');
      target = file.nodes.find((n) => n.id === leader?.id);
    }
    if (target !== undefined) {
      const r = await postAdmin(file.host, target, path, body);
      if (r?.status === 200) return r.answer;
      if (r !== undefined && r.status !== 421 && r.status !== 503) throw new OrdoError('F0000', `node ${target.id} refused ${path}: ${r.answer.error ?? `HTTP ${r.status}`}`);
      last = r === undefined ? `node ${target.id} did not answer` : `node ${target.id}: ${r.answer.error ?? `HTTP ${r.status}`}`;
      const hint = r?.status === 421 ? r.answer.leader : undefined;
      target = file.nodes.find((n) => n.id === hint);
    }
    if (Date.now() > deadline) throw new OrdoError('58000', `${path} did not succeed within ${timeoutMs} ms: ${last}`);
    await sleep(ClusterDefaults.adminRetryMs);
  }
}

function nextNodeId(file: ClusterFile): string {
  const used = [...file.nodes, ...(file.removed ?? [])].map((n) => /^n(\d+)$/.exec(n.id)?.[1]).map(Number).filter(Number.isFinite);
  return `n${Math.max(0, ...used) + 1}`;
}

export async function clusterAddNode(argv: readonly string[]): Promise<void> {
  const flags = parseCommand(clusterAddNodeSpec, argv);
  if (flags === undefined) return;
  const baseDir = resolve(requiredString(flags, 'base-dir'));
  const file = readClusterFile(baseDir);
  const id = typeof flags.id === 'string' ? flags.id : nextNodeId(file);
  if ([...file.nodes, ...(file.removed ?? [])].some((n) => n.id === id)) throw new UsageError(`--id: node id "${id}" is or was in use in ${baseDir}`);
  const node = await newNodeRecord(baseDir, file, id);
  file.nodes.push(node);
  setPeers(file);
  const added = file.nodes.find((n) => n.id === id) ?? node;
  added.pid = spawnNode(added, ['--join']);
  // Recorded before the leader hears of it, so `cluster stop` finds the process whatever happens next.
  writeClusterFile(baseDir, file);
  await adminRequest(file, AdminPaths.addLearner, { id, address: `${file.host}:${node.raftPort}` });
  process.stdout.write(`node ${id} (pid ${added.pid}) added as a learner; waiting for it to catch up\n`);
  await adminRequest(file, AdminPaths.promote, { id }, ClusterDefaults.catchUpTimeoutMs);
  process.stdout.write(`node ${id} is a voter\n${formatStatus(await clusterNodeStatus(file))}`);
}

export async function clusterRemoveNode(argv: readonly string[]): Promise<void> {
  const flags = parseCommand(clusterRemoveNodeSpec, argv);
  if (flags === undefined) return;
  const baseDir = resolve(requiredString(flags, 'base-dir'));
  const id = requiredString(flags, 'id');
  const file = readClusterFile(baseDir);
  const status = await clusterNodeStatus(file);
  if (status.find((s) => s.id === id)?.role === 'leader') {
    // The leader does not remove itself: another caught-up voter takes over first.
    const successor = status.find((s) => s.id !== id && s.alive && s.member === 'voter' && s.applied !== null);
    if (successor === undefined) throw new OrdoError('F0000', `node ${id} leads and no other voter is running to take over`);
    await adminRequest(file, AdminPaths.transferLeader, { to: successor.id });
    process.stdout.write(`leadership moved from ${id} to ${successor.id}\n`);
  }
  await adminRequest(file, AdminPaths.remove, { id });
  const node = file.nodes.find((n) => n.id === id);
  if (node !== undefined) {
    await stopNodes([node]);
    file.nodes = file.nodes.filter((n) => n !== node);
    file.removed = [...(file.removed ?? []), node];
    setPeers(file);
    writeClusterFile(baseDir, file);
  }
  process.stdout.write(`node ${id} removed\n${formatStatus(await clusterNodeStatus(file))}`);
}

export async function clusterTransferLeader(argv: readonly string[]): Promise<void> {
  const flags = parseCommand(clusterTransferLeaderSpec, argv);
  if (flags === undefined) return;
  const file = readClusterFile(resolve(requiredString(flags, 'base-dir')));
  const to = requiredString(flags, 'to');
  await adminRequest(file, AdminPaths.transferLeader, { to });
  process.stdout.write(`${to} leads\n${formatStatus(await clusterNodeStatus(file))}`);
}
