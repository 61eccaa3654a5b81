// CI's share of the simulator, shared by raft.sim3 and raft.sim5 (separate files so tap runs the two
// group sizes in parallel): seeds under drops, delays, duplicates, reordering, partitions, pauses and
// crashes, each checked for safety on every step and for liveness once the faults stop.

import type { Test } from 'tap';
import { runSimulation } from '../src/sequencer/raft/index.js';

export const SIM_SEEDS = 300;
const TICKS = 2000;

export async function simulateSeeds(t: Test, nodes: 3 | 5): Promise<void> {
  const failures: string[] = [];
  let confChanges = 0;
  let reads = 0;
  for (let seed = 1; seed <= SIM_SEEDS; seed++) {
    const r = runSimulation({ seed, nodes, ticks: TICKS });
    if (!r.ok) failures.push(r.repro);
    confChanges += r.stats.confChangesCommitted;
    reads += r.stats.readsConfirmed;
  }
  for (const f of failures) t.comment(f);
  t.same(failures, [], 'no seed fails');
  t.ok(confChanges >= SIM_SEEDS / 4, 'membership changes were part of the runs');
  t.ok(reads > 0, 'linearizable reads were part of the runs');
}
