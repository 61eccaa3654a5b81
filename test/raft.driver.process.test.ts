// Three Raft nodes as separate processes with real gRPC and real LMDB (test/fixtures/raftNode.ts):
// they elect a leader and commit; the leader is SIGKILLed; a new leader must commit within 2 s and the
// survivors keep every committed entry; the killed node restarts from its directory and catches up.

import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { scratchDir } from './helpers.js';

const fixture = join(import.meta.dirname, 'fixtures', 'raftNode.js');
const IDS = ['n1', 'n2', 'n3'] as const;
const CLUSTER = 'proc-cluster';
/** What the issue demands with the default timing (tick 50 ms, election 10 ticks). */
const FAILOVER_LIMIT_MS = 2000;
const WAIT_MS = 20_000;

interface Event {
  event: string;
  rid?: number;
  [k: string]: unknown;
}

class NodeProc {
  readonly committed: { index: number; term: number; data: string }[] = [];
  stderr = '';
  exited = false;
  private readonly child: ChildProcess;
  private readonly waiters = new Map<number, (e: Event) => void>();
  private rid = 0;
  private readyResolve: (() => void) | undefined;
  readonly ready: Promise<void>;

  constructor(
    readonly id: string,
    args: string[],
  ) {
    this.ready = new Promise((r) => (this.readyResolve = r));
    this.child = spawn(process.execPath, [fixture, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    this.child.on('exit', () => {
      this.exited = true;
    });
    createInterface({ input: this.child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const e = JSON.parse(line) as Event;
      if (e.event === 'ready') this.readyResolve?.();
      else if (e.event === 'committed') this.committed.push({ index: e.index as number, term: e.term as number, data: e.data as string });
      if (e.rid !== undefined) {
        const w = this.waiters.get(e.rid);
        this.waiters.delete(e.rid);
        w?.(e);
      }
    });
  }

  request(op: string, extra: Record<string, unknown> = {}, timeoutMs = WAIT_MS): Promise<Event> {
    const rid = ++this.rid;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(rid);
        reject(new Error(`${this.id}: no answer to ${op} within ${timeoutMs} ms; stderr: ${this.stderr}`));
      }, timeoutMs);
      this.waiters.set(rid, (e) => {
        clearTimeout(timer);
        resolve(e);
      });
      this.child.stdin?.write(`${JSON.stringify({ op, rid, ...extra })}\n`);
    });
  }

  status(): Promise<Event> {
    return this.request('status', {}, 5000);
  }

  kill(signal: NodeJS.Signals): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.kill(signal);
    });
  }
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, async () => {
      const srv = createServer();
      await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
      return srv;
    }),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, f: () => Promise<T | undefined> | T | undefined, timeoutMs = WAIT_MS, pollMs = 50): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(pollMs);
  }
}

/** The leader every live node agrees on, or undefined. */
async function agreedLeader(nodes: readonly NodeProc[]): Promise<{ node: NodeProc; term: number } | undefined> {
  const statuses = await Promise.all(nodes.map((n) => n.status()));
  const leaderStatus = statuses.find((s) => s.role === 'leader');
  if (leaderStatus === undefined || !statuses.every((s) => s.leader === leaderStatus.id)) return undefined;
  const node = nodes.find((n) => n.id === leaderStatus.id);
  return node === undefined ? undefined : { node, term: leaderStatus.term as number };
}

t.test('SIGKILL the leader of a 3-process cluster: a new leader commits within 2 s, nothing committed is lost, the node rejoins', async (t) => {
  const ports = await freePorts(IDS.length);
  const dirs = IDS.map(() => scratchDir('ordo-raft-proc-'));
  const argsOf = (i: number): string[] => {
    const args = ['--id', IDS[i] as string, '--dir', dirs[i] as string, '--cluster', CLUSTER, '--listen', `127.0.0.1:${ports[i]}`];
    IDS.forEach((peer, j) => {
      if (j !== i) args.push('--peer', `${peer}=127.0.0.1:${ports[j]}`);
    });
    return args;
  };
  let nodes = IDS.map((id, i) => new NodeProc(id, argsOf(i)));
  t.teardown(async () => {
    await Promise.all(nodes.map((n) => n.kill('SIGKILL')));
  });
  await Promise.all(nodes.map((n) => n.ready));

  const first = await until('a leader all three agree on', () => agreedLeader(nodes));
  const proposals = Array.from({ length: 20 }, (_, i) => `a${i}`);
  const answers = await Promise.all(proposals.map((data) => first.node.request('propose', { data })));
  for (const a of answers) if (a.event !== 'proposed') throw new Error(`proposal failed: ${JSON.stringify(a)}`);
  await until('all three applied the 20 entries', () => (nodes.every((n) => n.committed.length >= 20) ? true : undefined));
  t.same(
    nodes.map((n) => n.committed.map((e) => e.data)),
    nodes.map(() => proposals),
    'every node committed the 20 entries in order',
  );

  // Crash the leader and time how long until a new one commits a proposal of its own.
  await first.node.kill('SIGKILL');
  const killedAtMs = Date.now();
  const killedIndex = nodes.indexOf(first.node);
  const survivors = nodes.filter((n) => n !== first.node);
  const failover = await until(
    'a new leader that commits',
    async () => {
      const statuses = await Promise.all(survivors.map((n) => n.status()));
      const s = statuses.find((x) => x.role === 'leader' && (x.term as number) > first.term);
      const leader = survivors.find((n) => n.id === s?.id);
      if (leader === undefined) return undefined;
      const r = await leader.request('propose', { data: 'after-kill' });
      if (r.event !== 'proposed') return undefined;
      return { leader, elapsedMs: Date.now() - killedAtMs };
    },
    WAIT_MS,
    20,
  );
  t.comment(`failover after SIGKILL: ${failover.leader.id} committed a proposal ${failover.elapsedMs} ms after the kill`);
  t.ok(failover.elapsedMs < FAILOVER_LIMIT_MS, `a new leader committed within ${FAILOVER_LIMIT_MS} ms (took ${failover.elapsedMs} ms)`);

  await until('survivors applied the post-kill entry', () => (survivors.every((n) => n.committed.some((e) => e.data === 'after-kill')) ? true : undefined));
  for (const n of survivors) {
    t.same(
      n.committed.slice(0, 20).map((e) => e.data),
      proposals,
      `${n.id} kept every entry committed before the kill`,
    );
  }
  t.same(survivors[0]?.committed, survivors[1]?.committed, 'the survivors agree entry by entry');

  // The killed node restarts from its LMDB directory and catches up.
  const restarted = new NodeProc(first.node.id, argsOf(killedIndex));
  nodes = [...survivors, restarted];
  await restarted.ready;
  await until('the restarted node caught up', () => (restarted.committed.some((e) => e.data === 'after-kill') ? true : undefined));
  const leaderNow = await until('a leader after the restart', () => agreedLeader(nodes));
  const last = await leaderNow.node.request('propose', { data: 'after-restart' });
  t.equal(last.event, 'proposed', 'the cluster commits with the restarted node back');
  await until('all three applied the last entry', () => (nodes.every((n) => n.committed.some((e) => e.data === 'after-restart')) ? true : undefined));
  t.same(restarted.committed, failover.leader.committed, 'the restarted node has exactly the committed entries of the leader');

  await Promise.all(nodes.map((n) => n.kill('SIGTERM')));
  t.ok(nodes.every((n) => n.exited), 'all nodes stopped on SIGTERM');
});
