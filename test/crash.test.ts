// A writer process is killed with SIGKILL at random moments; after each kill the data directory must
// hold every acknowledged transaction, no half-applied one, and the checksum a replay of its log gives.

import t from 'tap';
import { spawn, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { openNode } from '../src/node/index.js';
import { encodeKey, encodeRange } from '../src/partitions/index.js';
import { seededRandom } from '../src/util/index.js';
import { CRASH_TABLE } from './fixtures/crashProgram.js';
import { scratchDir } from './helpers.js';

const KILLS = 20;
const root = join(import.meta.dirname, '..');
const writer = join(root, 'test', 'fixtures', 'crashWriter.js');
const ordo = join(root, 'src', 'cli', 'main.js');

/** Runs the writer until SIGKILL after `runMs`; returns the ids it acknowledged. */
function runAndKill(dataDir: string, firstId: number, runMs: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [writer, dataDir, String(firstId)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      if (out === '' && d.toString().startsWith('ready')) setTimeout(() => child.kill('SIGKILL'), runMs);
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') return reject(new Error(`writer exited with ${code}: ${err}`));
      const acked = out
        .split('\n')
        .filter((l) => /^ack \d+$/.test(l))
        .map((l) => Number(l.slice(4)));
      resolve(acked);
    });
  });
}

t.test(`after ${KILLS} SIGKILLs every acknowledged transaction is present, none is half-applied, and replay agrees`, async (t) => {
  const dataDir = scratchDir('ordo-crash-');
  const random = seededRandom(Number(process.env.ORDO_CRASH_SEED ?? 7));
  const acknowledged = new Set<number>();
  let nextId = 0;
  for (let kill = 0; kill < KILLS; kill++) {
    const acked = await runAndKill(dataDir, nextId, 50 + Math.floor(random() * 400));
    for (const id of acked) acknowledged.add(id);
    nextId += 1_000_000; // ids of the next run never collide with unacknowledged ones of this run

    const node = openNode({ dataDir });
    try {
      const store = node.partitionStore;
      const counter = store.get(encodeKey(CRASH_TABLE, 0, [0n, 0n]))?.values[0] ?? 0n;
      const a = [...store.scan(encodeRange(CRASH_TABLE, 0, [1n], true, [1n], true), false, Number.MAX_SAFE_INTEGER)];
      const b = [...store.scan(encodeRange(CRASH_TABLE, 0, [2n], true, [2n], true), false, Number.MAX_SAFE_INTEGER)];
      const aIds = a.map((r) => r.row.values[0]);
      const bIds = b.map((r) => r.row.values[0]);
      const missing = [...acknowledged].filter((id) => store.get(encodeKey(CRASH_TABLE, 0, [1n, BigInt(id)])) === undefined);
      if (missing.length > 0) t.fail(`kill ${kill}: acknowledged transactions lost: ${missing.slice(0, 5).join(', ')}`);
      if (JSON.stringify(aIds.map(String)) !== JSON.stringify(bIds.map(String)) || BigInt(aIds.length) !== counter) {
        t.fail(`kill ${kill}: half-applied state: ${aIds.length} A rows, ${bIds.length} B rows, counter ${counter}`);
      }
      if (store.recomputeChecksum() !== node.checksum) t.fail(`kill ${kill}: incremental checksum differs from the rows`);
    } finally {
      await node.close();
    }
    const replayDir = join(scratchDir('ordo-crash-replay-'), 'replayed');
    const replayed = JSON.parse(execFileSync(process.execPath, [ordo, 'replay', '--data-dir', dataDir, '--into', replayDir]).toString()) as { checksum: string };
    const live = JSON.parse(execFileSync(process.execPath, [ordo, 'checksum', '--data-dir', dataDir]).toString()) as { checksum: string; appliedPosition: number };
    if (replayed.checksum !== live.checksum) t.fail(`kill ${kill}: replay checksum ${replayed.checksum} != node ${live.checksum}`);
  }
  t.ok(acknowledged.size > KILLS, `acknowledged ${acknowledged.size} transactions across ${KILLS} kills`);
  t.pass('no acknowledged transaction lost, nothing half-applied, replay agrees after every kill');
});
