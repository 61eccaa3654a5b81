// The `ordo` command as a user runs it: a real process on a real data directory.

import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openNode } from '../src/node/index.js';
import { putProgram, scratchDir, txn } from './helpers.js';

const run = promisify(execFile);
const ordo = join(import.meta.dirname, '..', 'src', 'cli', 'main.js');

async function ordoCmd(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [ordo, ...args]);
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

/** A data directory with `batches` committed batches of two row writes each, checksums every 2 positions. */
async function populated(batches: number): Promise<{ dataDir: string; checksums: Map<number, string> }> {
  const dataDir = scratchDir();
  const node = openNode({ dataDir, epochMs: 1, checksumEveryPositions: 2 });
  const checksums = new Map<number, string>();
  for (let i = 0; i < batches; i++) {
    const r = await node.submit({ ...txn(putProgram(2), [BigInt(i), `v${i}`, BigInt(1000 + i), 'w']), sql: `insert ${i}` });
    checksums.set(r.position, node.checksum);
  }
  await node.close();
  return { dataDir, checksums };
}

t.test('every command answers --help with its flags', async (t) => {
  for (const [cmd, flag] of [
    [['start'], '--data-dir'],
    [['log', 'dump'], '--from'],
    [['replay'], '--into'],
    [['checksum'], '--recompute'],
    [['bench', 'engine'], '--workload'],
    [['sim', 'raft'], '--seeds'],
  ] as const) {
    const { stdout, code } = await ordoCmd(...cmd, '--help');
    t.equal(code, 0, `${cmd.join(' ')} --help exits 0`);
    t.match(stdout, flag, `${cmd.join(' ')} --help lists ${flag}`);
  }
});

t.test('an unknown flag is a usage error with exit code 2', async (t) => {
  const { code, stderr } = await ordoCmd('checksum', '--nope');
  t.equal(code, 2);
  t.match(stderr, /nope/);
});

t.test('log dump prints one JSON line per transaction with what it touched', async (t) => {
  const { dataDir } = await populated(3);
  const { stdout, code } = await ordoCmd('log', 'dump', '--data-dir', dataDir);
  t.equal(code, 0);
  const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.equal(lines.length, 3);
  t.match(lines[0], {
    position: 1,
    txnId: String,
    kind: 'readWrite',
    user: 'tester',
    sql: 'insert 0',
    timestampMs: Number,
    writes: { points: [[7, 0, 0], [7, 0, 1000]] },
  });
});

t.test('log dump --from and --to select positions', async (t) => {
  const { dataDir } = await populated(4);
  const { stdout } = await ordoCmd('log', 'dump', '--data-dir', dataDir, '--from', '2', '--to', '3');
  t.same(stdout.trim().split('\n').map((l) => (JSON.parse(l) as { position: number }).position), [2, 3]);
});

t.test('checksum prints the applied position and the state checksum', async (t) => {
  const { dataDir, checksums } = await populated(3);
  const { stdout, code } = await ordoCmd('checksum', '--data-dir', dataDir, '--recompute');
  t.equal(code, 0);
  const out = JSON.parse(stdout) as { appliedPosition: number; checksum: string; recomputed: string };
  t.equal(out.appliedPosition, 3);
  t.equal(out.checksum, checksums.get(3));
  t.equal(out.recomputed, out.checksum);
});

t.test('replay rebuilds the same state from the log alone, verifying every recorded checksum', async (t) => {
  const { dataDir, checksums } = await populated(5);
  const into = join(scratchDir(), 'replayed');
  const { stdout, code } = await ordoCmd('replay', '--data-dir', dataDir, '--into', into);
  t.equal(code, 0);
  const out = JSON.parse(stdout) as { appliedPosition: number; checksum: string; verifiedCheckpoints: number };
  t.equal(out.appliedPosition, 5);
  t.equal(out.checksum, checksums.get(5));
  t.equal(out.verifiedCheckpoints, 2, 'positions 2 and 4 were recorded and matched');
  const again = await ordoCmd('checksum', '--data-dir', into);
  t.equal((JSON.parse(again.stdout) as { checksum: string }).checksum, checksums.get(5), 'the new directory is a data directory');
});

t.test('replay --to rebuilds the state as of that position', async (t) => {
  const { dataDir, checksums } = await populated(5);
  const into = join(scratchDir(), 'pitr');
  const { stdout } = await ordoCmd('replay', '--data-dir', dataDir, '--into', into, '--to', '3');
  const out = JSON.parse(stdout) as { appliedPosition: number; checksum: string };
  t.equal(out.appliedPosition, 3);
  t.equal(out.checksum, checksums.get(3));
});

t.test('replay refuses a target directory that is not empty', async (t) => {
  const { dataDir } = await populated(1);
  const { code, stderr } = await ordoCmd('replay', '--data-dir', dataDir, '--into', dataDir);
  t.equal(code, 2);
  t.match(stderr, /must not exist or be empty/);
});

t.test('start serves health, says where its data lives, and stops cleanly on SIGTERM', async (t) => {
  const dataDir = scratchDir();
  const child = spawn(process.execPath, [ordo, 'start', '--data-dir', dataDir, '--http-port', '0', '--pg-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /health:\s+(http:\/\/\S+)/.exec(out);
      if (m?.[1] !== undefined) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`exited early with ${code}: ${out}`)));
  });
  t.match(out, dataDir);
  const health = (await (await fetch(url)).json()) as { status: string; appliedPosition: number };
  t.equal(health.status, 'ok');
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  t.equal(await exited, 0);
  t.notOk(existsSync(join(dataDir, 'ordo.pid')), 'the lock is released');
});

t.test('sim raft replays a seed from its repro line and exits 1 when the checker finds a violation', async (t) => {
  const ok = await ordoCmd('sim', 'raft', '--seed', '3', '--nodes', '3', '--ticks', '500');
  t.equal(ok.code, 0);
  t.match(JSON.parse(ok.stdout.trim().split('\n').pop() ?? '{}'), { runs: 1, failures: 0 });
  const broken = await ordoCmd('sim', 'raft', '--seed', '2', '--nodes', '5', '--ticks', '2000', '--byzantine-votes');
  t.equal(broken.code, 1);
  t.match(broken.stdout, /"repro":"ordo sim raft --seed 2 --nodes 5 --ticks 2000 --byzantine-votes"/);
});

t.test('a transaction id repeated in the log runs once, live and in a replay, with the same checksum', async (t) => {
  const dataDir = scratchDir();
  const node = openNode({ dataDir, epochMs: 1 });
  const first = await node.submit({ ...txn(putProgram(1), [1n, 'first']), txnId: 'retried' });
  const again = await node.submit({ ...txn(putProgram(1), [1n, 'second']), txnId: 'retried' });
  const checksum = node.checksum;
  await node.close();
  t.equal(first.status, 'committed');
  t.match(again, { status: 'aborted', code: 'OD001', message: /already sequenced at log position/ });
  const into = join(scratchDir(), 'replayed');
  const { stdout, code } = await ordoCmd('replay', '--data-dir', dataDir, '--into', into);
  t.equal(code, 0);
  t.equal((JSON.parse(stdout) as { checksum: string }).checksum, checksum);
});
